"""The ``## Serving`` section: one table of servers, the client's ceiling and the two floors; ratios only
between figures that were measured in this run (a missing row says why and carries no ratio)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import harness

MIB = 1024 * 1024
ORDER = ("edgetrain", "azureml", "mlserver", "mlserver-default")
LABEL = {
    "edgetrain": "edgetrain",
    "azureml": "azureml-inference-server-http",
    "mlserver": "MLServer + xgboost, one process, one thread",
    "mlserver-default": "MLServer + xgboost, defaults (worker process, all cores)",
    "trivial": "load client ceiling (trivial server)",
}


def _med(runs: list[dict[str, Any]], key: str) -> float:
    return harness.median([float(r[key]) for r in runs])


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.1f}x" if a > 0 and b > 0 else "n/a"


def _server_rows(
    size: int,
    conns: int,
    res: dict[str, list[dict[str, Any]]],
    floors: dict[str, float],
    missing: dict[str, str],
) -> list[str]:
    lines = []
    ours = _med(res["edgetrain"], "rps") if "edgetrain" in res else 0.0
    for name in (*ORDER, "trivial"):
        if name not in res:
            if name in missing:
                lines.append(f"| {LABEL[name]} | {size} | {conns} | missing: {missing[name]} | | | | | | | |")
            continue
        runs = res[name]
        rps, p50 = [r["rps"] for r in runs], [r["p50_ms"] for r in runs]
        p99 = [r["p99_ms"] for r in runs]
        vs = "1.0x" if name == "edgetrain" else (_ratio(ours, harness.median(rps)) if ours else "n/a")
        vs = "" if name == "trivial" else vs
        far = [
            _ratio(harness.median(p50) * 1000, floors[f]) if f in floors else "missing"
            for f in ("inplace_predict", "tl2cgen")
        ]
        far = ["", ""] if name == "trivial" else far
        connects = f"{_med(runs, 'connects'):.0f}"
        errors = sum(int(r["errors"]) for r in runs)
        rss = f"{max(r['rss'] for r in runs) / MIB:.0f}"
        lines.append(
            f"| {LABEL[name]} | {size} | {conns} | {harness.spread(rps, '.0f')} | {harness.spread(p50)} | "
            f"{harness.spread(p99)} | {vs} | {far[0]} | {far[1]} | {connects} | {errors} | {rss} |"
        )
    return lines


def render(
    title: str,
    prov: harness.Provenance,
    args: argparse.Namespace,
    *,
    results: dict[tuple[int, int], dict[str, list[dict[str, Any]]]],
    floor_runs: dict[str, list[dict[str, Any]]],
    running: list[Any],
    missing: dict[str, str],
    env_bytes: dict[str, int],
    metadata: dict[str, Any],
    model: Path,
) -> str:
    import xgboost as xgb

    trees = xgb.Booster(model_file=str(model)).num_boosted_rounds()
    extra = [
        f"Model: `{model.name}` {model.stat().st_size / 1e6:.2f} MB, {trees} trees, "
        f"{len(metadata['features'])} features ({metadata.get('task', '?')}); batches: the first complete "
        f"rows of the test split ({', '.join(map(str, args.rows))} rows per request).",
        f"Load: `bench/serving/loadgen.py` in its own process, closed loop, keep-alive connections "
        f"({', '.join(map(str, args.connections))}), {args.seconds:g} s timed window per point after a "
        f"warm-up, {args.rounds} rounds interleaved (A B C, then C B A); figures are `median (min-max)` "
        "over rounds. Every server returned the same predictions as xgboost (to 1e-5) on every batch "
        "before any timing; one worker process each and one xgboost thread, except MLServer's defaults row.",
    ]
    lines = [title, "", *prov.header(extra), ""]
    floors_by_size: dict[int, dict[str, float]] = {}
    for size in args.rows:
        floors_by_size[size] = {
            name: harness.median([r[size]["median_us"] for r in runs]) for name, runs in floor_runs.items()
        }
    lines += [
        "| server | rows/request | connections | req/s | p50 ms | p99 ms | edgetrain req/s vs this | "
        "p50 / `inplace_predict` | p50 / tl2cgen | TCP connects | non-200 | peak RSS MiB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for size in args.rows:
        for conns in args.connections:
            lines += _server_rows(size, conns, results.get((size, conns), {}), floors_by_size[size], missing)
        for name, label in (
            ("inplace_predict", "floor: `Booster.inplace_predict` in-process"),
            ("tl2cgen", "floor: tl2cgen-compiled (gcc -O3) in-process"),
        ):
            if name not in floor_runs:
                lines.append(
                    f"| {label} | {size} | - | missing: {missing.get(name, 'not run')} | | | | | | | |"
                )
                continue
            us = [r[size]["median_us"] for r in floor_runs[name]]
            p99 = [r[size]["p99_us"] / 1000 for r in floor_runs[name]]
            per_s = [1e6 / u for u in us]
            lines.append(
                f"| {label} | {size} | - | {harness.spread(per_s, '.0f')} calls/s | "
                f"{harness.spread([u / 1000 for u in us], '.3f')} | {harness.spread(p99, '.3f')} "
                "| | | | | | |"
            )
    lines += [
        "",
        "| server | start-up to first 200 (s) | environment (MiB of site-packages) |",
        "|---|---:|---:|",
    ]
    env_of = {
        "edgetrain": "edgetrain",
        "azureml": "azureml",
        "mlserver": "mlserver",
        "mlserver-default": "mlserver",
    }
    for server in running:
        if server.name == "trivial":
            continue
        size = env_bytes.get(env_of[server.name], 0) / MIB
        lines.append(f"| {LABEL[server.name]} | {server.startup_s:.1f} | {size:.0f} |")
    client_cores = [
        r["client_cores"]
        for res in results.values()
        for name, runs in res.items()
        if name != "trivial"
        for r in runs
    ]
    lines += [""]
    if client_cores:
        lines.append(
            f"- The load client used {min(client_cores):.2f}-{max(client_cores):.2f} cores against "
            "the servers; its ceiling is the trivial-server row (any server near it is measuring "
            "the client)."
        )
    lines += [
        "- `TCP connects`: connections the client opened in the window; a server that honours keep-alive "
        "needs one per connection, one that closes after each response needs one per request (reconnects "
        "are inside the timed latency).",
        "- Peak RSS: the server process and its children, sampled every 0.2 s under load.",
    ]
    lines += [f"- Missing: {line}" for line in missing.values()]
    return "\n".join(lines) + "\n"
