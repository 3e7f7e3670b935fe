"""Serving benchmark (``make bench-serving``): edgetrain's scoring server against every peer, and the floor.

Servers (``servers.py``, each from its own environment under ``bench/.work/peers/``): edgetrain,
azureml-inference-server-http, MLServer + mlserver-xgboost (one process, and its defaults), plus a trivial
server for the load client's own ceiling. Floors (``floor.py``): ``Booster.inplace_predict`` in-process and
the model compiled with tl2cgen, on the same batches. Before any timing, every server must return the
same predictions as the project's xgboost on each batch (a server that does not is not timed).

Load: ``loadgen.py`` in its own process, closed loop, ``--seconds`` window per point after a warm-up, at
each of ``--rows`` x ``--connections``; ``--rounds`` rounds interleaved (A B C, C B A). Writes the
``## Serving`` section of bench/results.md.

    python bench/serving/run.py                       # 10 s windows, 2 rounds, 1/100 rows, 8/32 connections
    python bench/serving/run.py --seconds 0.3 --rounds 2 --no-install --results /tmp/r.md   # smoke
"""

from __future__ import annotations

import argparse
import functools
import json
import shlex
import shutil
import subprocess
import sys
import threading
from datetime import date
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import servers as sv

import harness
import report
from harness import PeerUnavailableError

HERE = Path(__file__).resolve().parent
TITLE = "## Serving"
WORK = harness.WORK / "serving"
PEER_NAMES = ("edgetrain", "azureml", "mlserver", "mlserver-default")
TOLERANCE = 1e-5


def codes_model(model: Path, out: Path) -> Path:
    """The model without XGBoost's category encoder: it takes category codes (what the V2 tensor and
    tl2cgen carry); predictions are checked equal to the original's before any timing."""
    import xgboost as xgb

    doc = json.loads(xgb.Booster(model_file=str(model)).save_raw("json"))
    doc["learner"]["gradient_booster"]["model"]["cats"] = {
        "enc": [],
        "feature_segments": [],
        "sorted_idx": [],
    }
    out.write_text(json.dumps(doc))
    return out


def batches(metadata: dict[str, Any], test: Path, sizes: list[int]) -> dict[int, dict[str, Any]]:
    """Per size: the rows (complete rows of the test split: JSON cannot carry NaN in a V2 FP32 tensor),
    the Azure ML body, the V2 body, the float32 code matrix, and the project's xgboost predictions."""
    import numpy as np
    import pandas as pd

    features = metadata["features"]
    columns = [f["name"] for f in features]
    frame = pd.read_parquet(test, columns=columns).dropna()
    if len(frame) < max(sizes):
        raise SystemExit(f"{test}: {len(frame)} complete rows, the bench needs {max(sizes)}")
    out: dict[int, dict[str, Any]] = {}
    for size in sizes:
        part = frame.head(size)
        rows = part.astype(object).to_numpy().tolist()
        codes = np.empty((size, len(columns)), dtype=np.float32)
        for j, f in enumerate(features):
            if f["dtype"] == "category":
                index = {c: float(i) for i, c in enumerate(f["categories"])}
                codes[:, j] = [index[v] for v in part[f["name"]].astype(object)]
            else:
                codes[:, j] = part[f["name"]].to_numpy(dtype=np.float32)
        rows = [[v.item() if hasattr(v, "item") else v for v in row] for row in rows]
        v2 = {
            "inputs": [
                {
                    "name": "input-0",
                    "shape": list(codes.shape),
                    "datatype": "FP32",
                    "data": codes.ravel().tolist(),
                }
            ]
        }
        out[size] = {
            "azureml": json.dumps({"input_data": {"columns": columns, "data": rows}}).encode(),
            "v2": json.dumps(v2).encode(),
            "codes": codes,
        }
    return out


def expected(model: Path, data: dict[int, dict[str, Any]]) -> None:
    import xgboost as xgb

    booster = xgb.Booster(model_file=str(model))
    for item in data.values():
        item["expected"] = [float(v) for v in booster.inplace_predict(item["codes"]).ravel()]


def same(got: list[float], want: list[float]) -> bool:
    return len(got) == len(want) and all(abs(a - b) <= TOLERANCE for a, b in zip(got, want, strict=True))


def body_for(server: sv.Server, item: dict[str, Any]) -> bytes:
    return item["v2"] if server.form == "v2" else item["azureml"]


def check(server: sv.Server, data: dict[int, dict[str, Any]]) -> None:
    for size, item in data.items():
        status, payload = sv.post(server.url, body_for(server, item))
        if server.form == "any":
            continue
        if status != 200:
            raise PeerUnavailableError(
                f"{server.name}: answered {status} to the {size}-row batch: {payload[:200]!r}"
            )
        got = sv.predictions(server.form, payload)
        if not same(got, item["expected"]):
            raise PeerUnavailableError(
                f"{server.name}: predictions differ from xgboost's on the {size}-row batch"
            )


def load(client: Path, server: sv.Server, body: Path, seconds: float, connections: int) -> dict[str, Any]:
    peak = [0]
    done = threading.Event()

    def sample() -> None:
        assert server.process is not None
        while not done.wait(0.2):
            peak[0] = max(peak[0], sv.tree_rss_bytes(server.process.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        argv = [
            str(client),
            str(HERE / "loadgen.py"),
            "--url",
            server.url,
            "--body",
            str(body),
            "--seconds",
            str(seconds),
            "--connections",
            str(connections),
            "--warmup",
            str(min(1.0, seconds)),
        ]
        out = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=seconds * 3 + 120)
    finally:
        done.set()
        sampler.join()
    result: dict[str, Any] = json.loads(out.stdout)
    result["rss"] = peak[0]
    harness.log(
        f"  {server.name:17} {body.name:14} c={connections:<3} {result['rps']:>8.0f} req/s "
        f"p50 {result['p50_ms']:.2f} ms  load {harness.loadavg():.1f}"
    )
    return result


def demo_project(rows: int) -> Path:
    """A project like ``make demo`` leaves (the template's params and config, ``rows`` generated rows in
    daily drops, prepare/train/evaluate run by the CLI), without the storage stand-in."""
    from edgetrain.data.sample import generate, to_csv_bytes

    root = WORK / "project"
    shutil.rmtree(root, ignore_errors=True)
    (root / "data").mkdir(parents=True)
    shutil.copy(harness.REPO / "params.yaml", root / "params.yaml")
    shutil.copytree(harness.REPO / "config", root / "config")
    for day, frame in generate(rows=rows, seed=42, start_day=date(2026, 11, 1), days=10).items():
        (root / "data" / f"{day}.csv").write_bytes(to_csv_bytes(frame))
    cli = [sys.executable, "-m", "edgetrain"]
    for stage in ("prepare", "train", "evaluate"):
        subprocess.run([*cli, stage], cwd=root, check=True, capture_output=True, timeout=1800)
    return root


def last_json(stdout: str) -> Any:
    """The result line (the compiler may print its own lines before it)."""
    return json.loads([line for line in stdout.splitlines() if line.startswith("{")][-1])


def floors(
    args: argparse.Namespace,
    pythons: dict[str, Path],
    model: Path,
    codes: Path,
    data: dict[int, dict[str, Any]],
) -> tuple[dict[str, list[dict[str, Any]]], dict[str, str]]:
    import numpy as np

    paths = []
    for size, item in data.items():
        paths.append(WORK / f"batch-{size}.npy")
        np.save(paths[-1], item["codes"])
    specs = {"inplace_predict": (pythons.get("edgetrain"), ["inplace", "--model", str(model)])}
    specs["tl2cgen"] = (
        pythons.get("tl2cgen"),
        ["tl2cgen", "--model", str(codes), "--lib", str(WORK / "model.so")],
    )
    (WORK / "model.so").unlink(missing_ok=True)
    missing: dict[str, str] = {}
    variants = {}
    for name, (python, argv) in specs.items():
        if python is None:
            missing[name] = f"{name}: its environment is not installed"
            continue
        cmd = [
            str(python),
            str(HERE / "floor.py"),
            *argv,
            "--seconds",
            str(args.floor_seconds),
            "--batch",
            *map(str, paths),
        ]
        variants[name] = lambda cmd=cmd: last_json(
            subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=900).stdout
        )
    try:
        runs = harness.interleave(variants, args.rounds)
    except subprocess.CalledProcessError as exc:
        raise SystemExit(f"floor failed: {exc.stderr[-500:]}") from exc
    out: dict[str, list[dict[str, Any]]] = {}
    for name, rounds in runs.items():
        out[name] = [{size: r[str(path)] for size, path in zip(data, paths, strict=True)} for r in rounds]
        for size, item in data.items():
            if not same(out[name][0][size]["predictions"], item["expected"]):
                missing[name] = f"{name}: predictions differ from xgboost's on the {size}-row batch"
    return {k: v for k, v in out.items() if k not in missing}, missing


def environments(args: argparse.Namespace, missing: dict[str, str]) -> dict[str, Path]:
    from edgetrain.serving.package import REQUIREMENTS_LOCK

    pythons: dict[str, Path] = {}
    envs = {"edgetrain": REQUIREMENTS_LOCK, "azureml": None, "mlserver": None, "tl2cgen": None}
    for name, lock in envs.items():
        try:
            pythons[name] = harness.peer_env(name, install=not args.no_install, requirements=lock)
        except PeerUnavailableError as exc:
            missing[name] = str(exc)
            harness.log(str(exc))
    if "edgetrain" not in pythons:
        raise SystemExit(missing["edgetrain"])
    return pythons


def candidates_for(
    args: argparse.Namespace, pythons: dict[str, Path], ctx: Path, codes: Path, missing: dict[str, str]
) -> list[sv.Server]:
    out = [sv.trivial(pythons["edgetrain"])]
    for name in args.servers:
        env_name = "mlserver" if name.startswith("mlserver") else name
        if env_name not in pythons:
            missing[name] = missing.get(env_name, f"{name}: not installed")
        elif name == "edgetrain":
            out.append(sv.edgetrain(pythons[name], ctx))
        elif name == "azureml":
            out.append(sv.azureml(pythons[name], ctx / "model", WORK))
        else:
            out.append(sv.mlserver(pythons[env_name], codes, WORK, one_process=name == "mlserver"))
    return out


def measure_servers(
    args: argparse.Namespace,
    client: Path,
    candidates: list[sv.Server],
    data: dict[int, dict[str, Any]],
    missing: dict[str, str],
) -> tuple[dict[tuple[int, int], dict[str, list[dict[str, Any]]]], list[sv.Server]]:
    """Start every server, check its predictions, then the interleaved rounds at every point."""
    running: list[sv.Server] = []
    results: dict[tuple[int, int], dict[str, list[dict[str, Any]]]] = {}
    try:
        for server in candidates:
            try:
                sv.start(server, body_for(server, data[min(data)]), WORK / f"{server.name}.log")
                running.append(server)
                check(server, data)
                harness.log(f"{server.name}: up in {server.startup_s:.1f} s, predictions match")
            except PeerUnavailableError as exc:
                missing[server.name] = str(exc)
                harness.log(str(exc))
                sv.stop(server)
                running = [s for s in running if s is not server]
        bodies: dict[tuple[int, str], Path] = {}
        for size, item in data.items():
            for form in ("azureml", "v2"):
                bodies[size, form] = WORK / f"body-{size}-{form}.json"
                bodies[size, form].write_bytes(item[form])
        for size in args.rows:
            for conns in args.connections:

                def one(s: sv.Server, size: int = size, conns: int = conns) -> dict[str, Any]:
                    body = bodies[size, "v2" if s.form == "v2" else "azureml"]
                    return load(client, s, body, args.seconds, conns)

                variants = {s.name: functools.partial(one, s) for s in running}
                results[size, conns] = harness.interleave(variants, args.rounds)
    finally:
        for server in running:
            sv.stop(server)
    return results, running


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=harness.REPO, help="project with artifacts/model")
    parser.add_argument("--train-rows", type=int, help="first build a demo-like project of this many rows")
    parser.add_argument(
        "--test-data", type=Path, help="parquet of rows (default: artifacts/prepared/test.parquet)"
    )
    parser.add_argument("--servers", nargs="+", default=list(PEER_NAMES), choices=PEER_NAMES)
    parser.add_argument("--rows", type=int, nargs="+", default=[1, 100])
    parser.add_argument("--connections", type=int, nargs="+", default=[8, 32])
    parser.add_argument("--seconds", type=float, default=10.0, help="timed window per point")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--floor-seconds", type=float, default=2.0)
    parser.add_argument(
        "--no-install", action="store_true", help="a peer whose environment is absent is missing"
    )
    parser.add_argument("--require-all", action="store_true", help="exit 1 when any peer or floor is missing")
    parser.add_argument("--results", type=Path, default=harness.RESULTS)
    args = parser.parse_args(argv)
    prov = harness.Provenance(shlex.join(["python", "bench/serving/run.py", *argv]), ("xgboost", "numpy"))
    from edgetrain.serving.package import PackageOptions, build_context

    WORK.mkdir(parents=True, exist_ok=True)
    root = demo_project(args.train_rows) if args.train_rows else args.root.resolve()
    if not (root / "artifacts" / "model" / "metadata.json").is_file():
        raise SystemExit(f"{root}: no artifacts/model (run `make demo` first, or pass --train-rows N)")
    ctx = build_context(
        PackageOptions(
            model_dir=root / "artifacts" / "model",
            metrics=root / "artifacts" / "metrics.json",
            params=root / "params.yaml",
            config=root / "config" / "edge.yaml",
            output=WORK / "scoring",
            model_version="bench",
            root=root,
        )
    )
    metadata = json.loads((ctx / "model" / "metadata.json").read_text())
    model = ctx / "model" / metadata["model_file"]
    codes = codes_model(model, WORK / "codes.json")
    data = batches(metadata, args.test_data or root / "artifacts" / "prepared" / "test.parquet", args.rows)
    expected(model, data)
    missing: dict[str, str] = {}
    pythons = environments(args, missing)
    candidates = candidates_for(args, pythons, ctx, codes, missing)
    results, running = measure_servers(args, pythons["edgetrain"], candidates, data, missing)
    floor_runs, floor_missing = floors(args, pythons, model, codes, data)
    missing.update(floor_missing)
    prov.finish()
    env_bytes = {name: harness.site_packages_bytes(p) for name, p in pythons.items()}
    section = report.render(
        TITLE,
        prov,
        args,
        results=results,
        floor_runs=floor_runs,
        running=running,
        missing=missing,
        env_bytes=env_bytes,
        metadata=metadata,
        model=model,
    )
    harness.write_section(section, TITLE, args.results)
    harness.log(f"wrote the Serving section of {args.results}")
    for line in missing.values():
        harness.log(f"missing: {line}")
    return 1 if args.require_all and missing else 0


if __name__ == "__main__":
    sys.exit(main())
