"""The layout catalog is the contract ``dvc.yaml`` runs: every stage's outs and data deps are declared there,
with the stage that writes them and how they are tracked, and no catalog path is stale."""

from __future__ import annotations

from pathlib import Path

import yaml
from tests.conftest import REPO_ROOT

from edgetrain.contract import layout

DVC_YAML = yaml.safe_load((REPO_ROOT / "dvc.yaml").read_text())


def _paths(items: list[str | dict[str, dict[str, bool]]]) -> dict[str, dict[str, bool]]:
    out: dict[str, dict[str, bool]] = {}
    for item in items:
        if isinstance(item, str):
            out[item] = {}
        else:
            out.update(item)
    return out


CATALOG = {entry.path: entry for entry in layout.CATALOG}


def test_every_stage_output_is_declared_with_its_writer_and_tracking() -> None:
    seen = 0
    for name, stage in DVC_YAML["stages"].items():
        outs = _paths(stage.get("outs", [])) | _paths(stage.get("metrics", []))
        for path, options in outs.items():
            entry = CATALOG.get(path)
            assert entry is not None, f"{name}: out {path} is not in contract/layout.py"
            assert entry.written_by == name
            uncached = options.get("cache") is False if options else False
            assert entry.tracked == ("dvc+git" if uncached else "dvc"), path
            seen += 1
    assert seen >= 5


def test_every_data_dep_is_declared() -> None:
    for stage in DVC_YAML["stages"].values():
        for dep in stage["deps"]:
            if not dep.startswith("src/") and dep not in {"uv.lock"}:
                assert dep in CATALOG, f"dep {dep} is not in contract/layout.py"


def test_entries_are_path_like_and_folders_are_not_files() -> None:
    assert Path("/repo") / layout.MODEL == Path("/repo/artifacts/model/model.ubj")
    assert str(layout.PARAMS) == "params.yaml"
    assert layout.PLOTS.child("roc.json") == "artifacts/plots/roc.json"
    for entry in layout.CATALOG:
        assert not entry.path.startswith("/")
        assert ".." not in entry.path.split("/")
        if entry.tracked == "git":
            assert (REPO_ROOT / entry).exists(), f"{entry.path} is declared as committed but is not here"
    assert layout.SHIPPED == (layout.MODEL, layout.METADATA)
    assert set(layout.COMMITTED_WITH_LOCK) == {layout.RUN_INFO, layout.METRICS, layout.PLOTS}
