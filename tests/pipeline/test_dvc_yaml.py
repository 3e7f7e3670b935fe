"""dvc.yaml lists exactly the package files each stage imports, and plots that evaluate really writes."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"


def module_file(name: str) -> Path | None:
    base = SRC / Path(*name.split("."))
    if base.with_suffix(".py").is_file():
        return base.with_suffix(".py")
    return None  # a package (its __init__ is plumbing, not stage logic) or not ours


def imported_files(start: str) -> set[str]:
    """Package source files reachable from ``start`` through ``edgetrain`` imports (any depth)."""
    seen: set[Path] = set()
    todo = [module_file(start)]
    while todo:
        path = todo.pop()
        if path is None or path in seen:
            continue
        seen.add(path)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            todo += [module_file(n) for n in names if n.startswith("edgetrain")]
    return {str(p.relative_to(ROOT)) for p in seen}


@pytest.fixture(scope="module")
def stages() -> dict:
    return yaml.safe_load((ROOT / "dvc.yaml").read_text(encoding="utf-8"))["stages"]


@pytest.mark.parametrize("stage", ["prepare", "train", "evaluate"])
def test_source_deps_are_exactly_the_imports(stages, stage) -> None:
    listed = {d for d in stages[stage]["deps"] if d.startswith("src/")}
    assert listed == imported_files(f"edgetrain.pipeline.{stage}")
    assert stages[stage]["cmd"] == f"edgetrain {stage}"


def test_stage_chain_and_outputs(stages) -> None:
    assert "data" in stages["prepare"]["deps"]
    assert stages["prepare"]["outs"] == ["artifacts/prepared"]
    assert stages["train"]["outs"] == [
        "artifacts/model/model.ubj",
        "artifacts/model/metadata.json",
        {"artifacts/model/run.json": {"cache": False}},  # engine and workers: lineage, not a model input
    ]
    assert "artifacts/prepared" in stages["train"]["deps"]
    assert {"artifacts/model/model.ubj", "artifacts/model/metadata.json"} <= set(stages["evaluate"]["deps"])
    assert stages["evaluate"]["metrics"] == [{"artifacts/metrics.json": {"cache": False}}]
    assert set(stages["prepare"]["params"]) == {"seed", "task", "data", "split", "partition_rows"}
    assert set(stages["train"]["params"]) == {"seed", "task", "train"}
    assert set(stages["evaluate"]["params"]) == {"task", "train.objective", "evaluate.threshold"}


def test_plots_match_what_evaluate_writes(stages, binary) -> None:
    for stage in ("prepare", "train", "evaluate"):
        assert binary.cli(stage) == 0
    for entry in stages["evaluate"]["plots"]:
        ((path, props),) = entry.items()
        assert props["cache"] is False
        template = props["template"]
        if "/" in template:
            assert (ROOT / template).is_file()
        name = Path(path).name
        rows = json.loads((binary.plots / name).read_text())[Path(name).stem]
        assert props["x"] in rows[0]
        assert props["y"] in rows[0]


def test_metrics_and_plots_stay_tracked_by_git() -> None:
    ignore = (ROOT / "artifacts" / ".gitignore").read_text().splitlines()
    assert "/prepared" in ignore
    assert not any(line.startswith(("/metrics", "/plots", "*")) for line in ignore)
