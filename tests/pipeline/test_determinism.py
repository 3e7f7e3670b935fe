"""The same inputs train byte-identical model.ubj twice: what the release's reproduction relies on.

Single-process and external-memory training here; Dask in ``test_dask.py``
(``test_dvc_repro_on_dask_matches_single_process_and_repeats``: two trainings on a two-worker cluster give
the same bytes). run.json records the sha256 of model.ubj and metadata.json, which the release compares.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
from tests.pipeline.test_train_engines import edge, write


def _train_twice(project, tmp_path: Path, *args: str) -> tuple[bytes, bytes, dict]:  # type: ignore[no-untyped-def]
    assert project.cli("train", *args) == 0
    first = (project.model / "model.ubj").read_bytes()
    shutil.rmtree(project.model)
    assert project.cli("train", *args) == 0
    second = (project.model / "model.ubj").read_bytes()
    return first, second, json.loads((project.model / "run.json").read_text())


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_single_process_training_is_byte_identical(make_project, task: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    project = make_project(task, rows=2000)
    write(project, partition_rows=250, nthread=2, subsample=0.8, colsample_bytree=0.8)  # threads + sampling
    assert project.cli("prepare") == 0
    first, second, run_info = _train_twice(project, tmp_path)
    assert first == second
    assert run_info["sha256"]["model.ubj"] == hashlib.sha256(first).hexdigest()
    meta = (project.model / "metadata.json").read_bytes()
    assert run_info["sha256"]["metadata.json"] == hashlib.sha256(meta).hexdigest()


def test_external_memory_training_is_byte_identical(make_project, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    project = make_project("binary", rows=2000)
    write(project, partition_rows=250, external_memory=True, nthread=2, subsample=0.8)
    assert project.cli("prepare") == 0
    config = edge(tmp_path / "edge.yaml", spill_dir=str(tmp_path / "spill"))
    first, second, run_info = _train_twice(project, tmp_path, "--edge-config", str(config))
    assert run_info["external_memory"] is True
    assert first == second
    assert run_info["sha256"]["model.ubj"] == hashlib.sha256(first).hexdigest()
