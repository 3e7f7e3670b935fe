"""Partitioned prepared data, external-memory training and the run info written next to the model."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml
from tests.conftest import REPO_ROOT
from tests.pipeline.conftest import params_dict

from edgetrain.pipeline.dataset import load_split, partition_files

#: External memory sketches quantiles batch by batch; its model may differ from the in-memory one
#: by at most this much test AUC (the registry's default quality-gate tolerance).
AUC_TOLERANCE = 0.01


def write(project, partition_rows: int, **train) -> None:
    params = params_dict(project.task, **train)
    params["partition_rows"] = partition_rows
    project.params.write_text(yaml.safe_dump(params), encoding="utf-8")


def edge(path: Path, **compute) -> Path:
    doc = yaml.safe_load((REPO_ROOT / "config" / "edge.yaml").read_text(encoding="utf-8"))
    doc["compute"] = {**doc["compute"], **compute}
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


def test_prepare_writes_bounded_partitions_that_read_back_as_one_split(make_project) -> None:
    project = make_project("binary", rows=1000)
    write(project, partition_rows=100)
    assert project.cli("prepare") == 0
    manifest = json.loads((project.prepared / "manifest.json").read_text())
    for split in ("train", "valid", "test"):
        files = partition_files(project.prepared / f"{split}.parquet")
        sizes = [pq.read_metadata(f).num_rows for f in files]
        assert len(files) == -(-manifest["rows"][split] // 100)
        assert max(sizes) <= 100
        assert sum(sizes) == manifest["rows"][split]
    whole, labels = load_split(project.prepared / "train.parquet", manifest["features"], manifest["target"])
    train_files = partition_files(project.prepared / "train.parquet")
    parts = [load_split(f, manifest["features"], manifest["target"]) for f in train_files]
    pd.testing.assert_frame_equal(whole, pd.concat([x for x, _ in parts], ignore_index=True))
    assert labels.tolist() == [v for _, y in parts for v in y.tolist()]


def test_a_split_without_partitions_is_one_line(binary, capsys) -> None:
    assert binary.cli("prepare") == 0
    for part in (binary.prepared / "valid.parquet").iterdir():
        part.unlink()
    assert binary.cli("train") == 3
    err = capsys.readouterr().err.strip().splitlines()
    missing = f"{binary.prepared / 'valid.parquet'}: not found or no part-*.parquet in it"
    assert err == [f"edgetrain: error: {missing} (run `edgetrain prepare` first)"]


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_external_memory_matches_in_memory_quality(make_project, task: str, tmp_path: Path) -> None:
    project = make_project(task, rows=3000)
    write(project, partition_rows=250)  # ~8 train partitions: XGBoost really iterates
    assert project.cli("prepare") == 0
    assert project.cli("train") == 0
    run_info = json.loads((project.model / "run.json").read_text())
    assert {k: v for k, v in run_info.items() if k != "sha256"} == {
        "engine": "local",
        "workers": 1,
        "external_memory": False,
    }
    assert project.cli("evaluate") == 0
    in_memory = json.loads(project.metrics.read_text())

    write(project, partition_rows=250, external_memory=True)
    spill = tmp_path / "spill"
    assert project.cli("train", "--edge-config", str(edge(tmp_path / "edge.yaml", spill_dir=str(spill)))) == 0
    assert json.loads((project.model / "run.json").read_text())["external_memory"] is True
    assert list(spill.iterdir()) == []  # the pages are removed after training
    assert project.cli("evaluate") == 0
    external = json.loads(project.metrics.read_text())
    key = {"binary": "auc", "multiclass": "accuracy", "regression": "rmse"}[task]
    tolerance = AUC_TOLERANCE if task != "regression" else 0.05 * in_memory[key]
    assert abs(external[key] - in_memory[key]) <= tolerance, (external, in_memory)


def test_external_memory_needs_hist(binary, capsys) -> None:
    binary.write_params(external_memory=True, tree_method="approx")
    assert binary.cli("prepare") == 2
    assert "external_memory needs tree_method: hist" in capsys.readouterr().err


def test_without_config_edge_yaml_training_is_local(binary, tmp_path: Path, monkeypatch) -> None:
    assert binary.cli("prepare") == 0
    monkeypatch.chdir(tmp_path)  # no config/edge.yaml here
    assert binary.cli("train") == 0
    assert json.loads((binary.model / "run.json").read_text())["engine"] == "local"
    assert (
        binary.cli("train", "--edge-config", str(tmp_path / "missing.yaml")) == 2
    )  # an explicit path must exist
