"""``evaluate`` scores the test split one partition at a time and writes what the in-memory path writes."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest
import xgboost as xgb
import yaml
from tests.pipeline.conftest import params_dict

from edgetrain.config.params import load_params
from edgetrain.contract.atomic import dumps_json
from edgetrain.pipeline import evaluate as evaluate_mod
from edgetrain.pipeline.dataset import load_split, partition_files

#: Small partitions, so the test split of the 600-row projects spans several of them.
PARTITION_ROWS = 16


def trained(make_project, task: str, partition_rows: int = PARTITION_ROWS, rows: int = 600):
    project = make_project(task, rows=rows)
    params = params_dict(task)
    params["partition_rows"] = partition_rows
    project.params.write_text(yaml.safe_dump(params), encoding="utf-8")
    for stage in ("prepare", "train"):
        assert project.cli(stage) == 0
    return project


def in_memory(project) -> tuple[dict, dict]:
    """Metrics and plots from the whole test split loaded as one frame (the stage before it streamed)."""
    metadata = json.loads((project.model / "metadata.json").read_text())
    booster = xgb.Booster()
    booster.load_model(project.model / "model.ubj")
    x, labels = load_split(project.prepared / "test.parquet", metadata["features"], metadata["target"])
    return evaluate_mod.evaluate(load_params(project.params), metadata, booster, x, labels)


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_streamed_outputs_are_the_in_memory_bytes(make_project, task) -> None:
    project = trained(make_project, task)
    parts = partition_files(project.prepared / "test.parquet")
    assert len(parts) >= 5  # really several partitions
    assert project.cli("evaluate") == 0

    scores, plots = in_memory(project)
    assert project.metrics.read_bytes() == dumps_json(scores)
    assert sorted(p.name for p in project.plots.iterdir()) == sorted(f"{name}.json" for name in plots)
    for name, rows in plots.items():
        assert (project.plots / f"{name}.json").read_bytes() == dumps_json({name: rows}), name
    assert scores["rows"] == sum(pq.read_metadata(p).num_rows for p in parts)


def test_reads_and_predicts_one_partition_at_a_time(make_project, monkeypatch) -> None:
    project = trained(make_project, "multiclass")
    parts = partition_files(project.prepared / "test.parquet")
    reads: list = []
    predicted: list[int] = []
    real_load, real_predict = evaluate_mod.load_split, evaluate_mod.predict

    def load_spy(path, *args, **kwargs):
        reads.append(path)
        return real_load(path, *args, **kwargs)

    def predict_spy(booster, x, objective):
        predicted.append(len(x))
        return real_predict(booster, x, objective)

    monkeypatch.setattr(evaluate_mod, "load_split", load_spy)
    monkeypatch.setattr(evaluate_mod, "predict", predict_spy)
    assert project.cli("evaluate") == 0
    assert reads == parts  # each partition file once, in order; never the whole split directory
    assert max(predicted) <= PARTITION_ROWS
    assert sum(predicted) == json.loads(project.metrics.read_text())["rows"]


def test_unseen_label_in_a_later_partition_is_one_line(make_project, capsys) -> None:
    """A label the model does not know, in the last partition, fails the stage and writes nothing."""
    project = trained(make_project, "multiclass")
    last = partition_files(project.prepared / "test.parquet")[-1]
    table = pq.read_table(last).to_pandas()
    table["y"] = table["y"].astype(str)
    table.loc[len(table) - 1, "y"] = "rare"
    table.to_parquet(last, index=False)
    capsys.readouterr()
    assert project.cli("evaluate") == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "test split: unseen label 'rare' in target column 'y'" in err[0]
    assert not project.metrics.exists()
    assert not project.plots.exists()
