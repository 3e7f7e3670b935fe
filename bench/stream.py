"""Streamed stages (``make bench-stream``): writes ``## Streamed prepare and evaluate`` in bench/results.md.

In one run, on ``--rows`` generated rows in ``--days`` daily CSV drops (``partition_rows`` = ``--partition``):
peak RSS and wall time of ``edgetrain prepare`` and ``edgetrain evaluate`` (both stream) against their
in-memory baselines (this file's ``--baseline prepare|evaluate``: every drop in one frame and the pure
core, as the stages did before they streamed; the whole test split in one frame), each a subprocess,
``--repeats`` runs alternating, medians. The outputs of each pair are checked byte-identical.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
from datetime import UTC, datetime
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
import train_and_pull as tp
from scale import write_section

WORK = tp.WORK / "stream"
SECTION = "## Streamed prepare and evaluate"
ROUNDS = 20
log = logging.getLogger("bench.stream")


def baseline(stage: str, params_path: str, source: str, out: str) -> None:
    """The in-memory path: ``prepare`` from all drops in one frame, or ``evaluate`` on the whole split."""
    from edgetrain.config.params import load_params

    params = load_params(params_path)
    if stage == "prepare":  # imports only what the stage imports, so RSS compares like with like
        from edgetrain.data.drops import read_drops

        reference = tp.prepare_reference()

        names, frame = read_drops(source, params.data, params.task)
        prepared = reference.prepare(frame, params, drops=names, data_version=None)
        reference.write_prepared(prepared, out, params.partition_rows)
        return
    import xgboost as xgb

    from edgetrain.contract.atomic import read_json, write_json_atomic
    from edgetrain.pipeline import evaluate
    from edgetrain.pipeline.dataset import load_split

    model, test = Path(source).parent / "model", Path(source)
    metadata = read_json(model / "metadata.json")
    booster = xgb.Booster()
    booster.load_model(model / metadata["model_file"])
    x, labels = load_split(test / "test.parquet", metadata["features"], metadata["target"])
    scores, plots = evaluate.evaluate(params, metadata, booster, x, labels)
    for name, rows in plots.items():
        write_json_atomic(Path(out) / "plots" / f"{name}.json", {name: rows})
    write_json_atomic(Path(out) / "metrics.json", scores)


def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def run(rows: int, days: int, partition: int, repeats: int) -> dict:
    work = tp.fresh(WORK)
    csv_bytes = tp.write_drops(work / "data", rows, days)
    params = yaml.safe_load((tp.REPO / "params.yaml").read_text())
    params["partition_rows"] = partition
    params["train"].update(num_boost_round=ROUNDS, early_stopping_rounds=ROUNDS)
    params_path = work / "params.yaml"
    params_path.write_text(yaml.safe_dump(params, sort_keys=False))
    edge_config = tp.REPO / "config" / "edge.yaml"
    me, common = (sys.executable, __file__, "--baseline"), ("--params", params_path, "--config", edge_config)
    prepare = [*common, "--data", work / "data", "--data-dvc", work / "none.dvc", "--out", work / "prepared"]
    evaluate = [*common, "--model", work / "model", "--test", work / "prepared" / "test.parquet"]
    evaluate += ["--metrics", work / "eval" / "metrics.json", "--plots", work / "eval" / "plots"]
    runs: dict[str, list] = {k: [] for k in ("prepare", "prepare_mem", "evaluate", "evaluate_mem")}
    for i in range(repeats):
        runs["prepare"].append(tp.measure("edgetrain", "prepare", *prepare, cwd=work, label=f"prepare-{i}"))
        mem = [*me, "prepare", params_path, work / "data", work / "mem"]
        runs["prepare_mem"].append(tp.measure(*mem, cwd=work, label=f"prepare-mem-{i}"))
        if tree(work / "prepared") != tree(work / "mem"):
            raise RuntimeError("streamed and in-memory prepare wrote different files")
        shutil.rmtree(work / "mem")
    tp.sh("edgetrain", "train", *common, "--prepared", work / "prepared", "--out", work / "model", cwd=work)
    test_rows = yaml.safe_load((work / "prepared" / "manifest.json").read_text())["rows"]["test"]
    for i in range(repeats):
        runs["evaluate"].append(tp.measure("edgetrain", "evaluate", *evaluate, cwd=work, label=f"eval-{i}"))
        mem = [*me, "evaluate", params_path, work / "prepared", work / "eval-mem"]
        runs["evaluate_mem"].append(tp.measure(*mem, cwd=work, label=f"eval-mem-{i}"))
        if tree(work / "eval") != tree(work / "eval-mem"):
            raise RuntimeError("streamed and in-memory evaluate wrote different files")
    return {"rows": rows, "days": days, "csv_bytes": csv_bytes, "test_rows": test_rows, "runs": runs}


def render(res: dict, command: str) -> str:
    mb = res["csv_bytes"] / tp.MB
    lines = [
        SECTION,
        "",
        f"- Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; machine: {tp.machine()}",
        f"- Reproduce: `{command}` (medians of alternating runs; 1-minute load average "
        f"{min(tp.LOADS):.1f}-{max(tp.LOADS):.1f})",
        f"- Data: {res['rows']:,} generated rows in {res['days']} daily drops ({mb:.1f} MB of CSV), "
        f"{res['test_rows']:,} test rows; outputs of each pair checked byte-identical",
        "",
        "| | wall (s), median | runs (s) | CPU (s), median | peak RSS (MiB), median | runs (MiB) |",
        "|---|---:|---|---:|---:|---|",
    ]
    for stage in ("prepare", "evaluate"):
        streamed, memory = res["runs"][stage], res["runs"][f"{stage}_mem"]
        lines += [
            tp.table_row(f"`edgetrain {stage}` (streamed)", streamed),
            tp.table_row(f"{stage} in memory", memory),
            f"| **ratio streamed/in-memory** | {tp.med([r.wall for r in streamed]) / tp.med([r.wall for r in memory]):.2f}x "  # noqa: E501
            f"| | | **{tp.med([r.rss_mb for r in streamed]) / tp.med([r.rss_mb for r in memory]):.2f}x** | |",
        ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--baseline":
        baseline(*argv[1:5])
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--days", type=int, default=20)
    parser.add_argument("--partition", type=int, default=50_000)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    try:
        res = run(args.rows, args.days, args.partition, args.repeats)
    finally:
        shutil.rmtree(WORK, ignore_errors=True)
    text = render(res, f"python bench/stream.py {' '.join(argv)}".strip())
    write_section(text, SECTION)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
