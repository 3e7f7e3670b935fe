"""The repository's own dvc.yaml, run by real ``dvc repro`` for each task, editing only params.yaml.

A forker swaps in a binary, multiclass or regression data set by editing params.yaml (and their drops);
dvc.yaml stays as shipped. Each run must finish, write valid metrics, the task's plots, and leave
``dvc status`` clean (no half-updated dvc.lock).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from edgetrain.pipeline.splits import assign_splits

from .conftest import REPO_ROOT, make_frame, params_dict
from .test_dvc_yaml import PLOTS_BY_TASK

VENV_BIN = Path(sys.executable).parent
TIMEOUT = 300


def dvc(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    env.pop("EDGETRAIN_STORAGE_API_VERSION", None)
    return subprocess.run(
        [str(VENV_BIN / "dvc"), *args],
        cwd=root,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


def rare_rows(columns: list[str], seed: int, split: tuple[float, float], count: int = 3) -> pd.DataFrame:
    """``count`` rows of a class ``rare`` whose content hash puts every one of them in train."""
    rows = []
    for i in range(10_000):
        row = pd.DataFrame({"kind": ["a"], "x1": [float(i)], "x2": [1.0], "y": ["rare"]})
        if assign_splits(row, seed, *split)[0] == 0:
            rows.append(row)
        if len(rows) == count:
            break
    return pd.concat(rows, ignore_index=True).assign(extra=0)[columns]


def make_repo(root: Path, task: str) -> Path:
    """A fresh DVC project holding the shipped dvc.yaml, code, lock and config, plus the task's data."""
    root.mkdir()
    for name in ("dvc.yaml", "uv.lock"):
        shutil.copy2(REPO_ROOT / name, root / name)
    shutil.copytree(REPO_ROOT / "src", root / "src", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO_ROOT / "config", root / "config")
    (root / "params.yaml").write_text(yaml.safe_dump(params_dict(task)), encoding="utf-8")
    frame = make_frame(task, rows=400)
    if task == "multiclass":  # a class that only the training split sees
        params = params_dict(task)
        split = (params["split"]["valid_fraction"], params["split"]["test_fraction"])
        frame = pd.concat([frame, rare_rows(list(frame.columns), params["seed"], split)], ignore_index=True)
    (root / "data").mkdir()
    frame.to_csv(root / "data" / "2024-01-01.csv", index=False, lineterminator="\n")
    assert dvc(root, "init", "--no-scm", "-q").returncode == 0
    return root


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_dvc_repro_follows_task_from_params_only(tmp_path: Path, task: str) -> None:
    repo = make_repo(tmp_path / task, task)
    run = dvc(repo, "repro")
    assert run.returncode == 0, run.stdout + run.stderr

    metrics = json.loads((repo / "artifacts" / "metrics.json").read_text(encoding="utf-8"))
    assert metrics[params_dict(task)["evaluate"]["primary_metric"]] is not None
    plots = repo / "artifacts" / "plots"
    assert {p.stem for p in plots.iterdir()} == PLOTS_BY_TASK[task]
    if task == "multiclass":
        manifest = json.loads((repo / "artifacts" / "prepared" / "manifest.json").read_text())
        assert "rare" in manifest["classes"]
        assert metrics["auc"] > 0.5  # the macro over the classes the test split has, not NaN

    status = dvc(repo, "status", "--json")
    assert status.returncode == 0
    assert json.loads(status.stdout) == {}  # dvc.lock records all three stages

    shown = dvc(repo, "plots", "show", "--json")
    assert shown.returncode == 0, shown.stderr
    rendered = json.loads(shown.stdout)
    drawn = {Path(name).stem for name, items in rendered["data"].items() if items}
    assert drawn == PLOTS_BY_TASK[task]
    missing = {Path(e["source"]).stem for e in rendered.get("errors", [])}
    assert missing == set().union(*PLOTS_BY_TASK.values()) - PLOTS_BY_TASK[task]
    assert {e["type"] for e in rendered.get("errors", [])} <= {"FileNotFoundError"}
    if task != "regression":  # classifiers write every plot dvc.yaml defines: nothing to warn about
        assert "failed to load" not in shown.stderr


def test_dvc_repro_validates_edge_config(tmp_path: Path) -> None:
    """A typo in config/edge.yaml fails the stage that runs, with the one line naming file and key."""
    repo = make_repo(tmp_path / "edge", "binary")
    edge = repo / "config" / "edge.yaml"
    edge.write_text(edge.read_text().replace("raw_container:", "raw_containr:", 1), encoding="utf-8")
    run = dvc(repo, "repro")
    assert run.returncode != 0
    assert "edgetrain: error: config/edge.yaml: storage.raw_containr: unknown key" in run.stderr
    assert not (repo / "artifacts" / "prepared").exists()


POISONING_PATHS = (
    "src/edgetrain/cli.py",
    "src/edgetrain/pipeline/cli.py",
    "src/edgetrain/storage/api_pin.py",
    "src/edgetrain_stackhub.pth",
    "uv.lock",
)


def test_entry_code_and_lock_change_every_stage_hash(tmp_path: Path) -> None:
    """Issue 8: editing the entry point, the start-up hook or uv.lock invalidates every stage (and so
    every run-cache entry keyed on the old hashes); reverting the edit makes them up to date again."""
    repo = make_repo(tmp_path / "trust", "binary")
    assert dvc(repo, "repro").returncode == 0
    originals = {name: (repo / name).read_bytes() for name in POISONING_PATHS}
    for name, original in originals.items():
        (repo / name).write_bytes(original + b"\n")
    status = dvc(repo, "status", "--json")
    assert status.returncode == 0, status.stderr
    changed = json.loads(status.stdout)
    assert set(changed) == {"prepare", "train", "evaluate"}
    for stage in changed.values():
        deps = next(entry["changed deps"] for entry in stage if "changed deps" in entry)
        assert {name: deps.get(name) for name in POISONING_PATHS} == dict.fromkeys(
            POISONING_PATHS, "modified"
        )
    for name, original in originals.items():
        (repo / name).write_bytes(original)
    assert json.loads(dvc(repo, "status", "--json").stdout) == {}


def test_blank_targets_fail_repro_with_dvc_lock_kept_then_drop(tmp_path: Path) -> None:
    """A refused drop leaves dvc.lock as it was and `dvc checkout` brings back every output; switching
    data.missing_target to drop re-runs the pipeline, counts the rows in metrics.json, and status is clean."""
    repo = make_repo(tmp_path / "blank", "binary")
    assert dvc(repo, "repro").returncode == 0
    lock = (repo / "dvc.lock").read_bytes()
    prepared = {p.relative_to(repo): p.read_bytes() for p in (repo / "artifacts").rglob("*") if p.is_file()}
    extra = make_frame("binary", rows=50, seed=11).astype({"y": object})
    extra.loc[[3, 9], "y"] = None
    extra.to_csv(repo / "data" / "2024-01-02.csv", index=False, lineterminator="\n")

    run = dvc(repo, "repro")
    assert run.returncode != 0
    errors = [ln for ln in run.stderr.splitlines() if ln.startswith("edgetrain: error:")]
    assert errors == [
        "edgetrain: error: target column 'y' is blank in 2 row(s): data/2024-01-02.csv lines 5, 11 (2 rows) "
        "(fill them in, or set data.missing_target: drop in params.yaml to leave such rows out)"
    ]
    assert (repo / "dvc.lock").read_bytes() == lock
    assert dvc(repo, "checkout", "--force").returncode == 0
    assert {
        p.relative_to(repo): p.read_bytes() for p in (repo / "artifacts").rglob("*") if p.is_file()
    } == prepared

    params = params_dict("binary")
    params["data"]["missing_target"] = "drop"
    (repo / "params.yaml").write_text(yaml.safe_dump(params), encoding="utf-8")
    assert dvc(repo, "repro").returncode == 0
    assert json.loads((repo / "artifacts" / "metrics.json").read_text())["missing_target_dropped"] == 2
    assert json.loads(dvc(repo, "status", "--json").stdout) == {}
