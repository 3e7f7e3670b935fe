"""prepare -> train -> evaluate through ``edgetrain.cli.main`` for each task, on small synthetic data."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
import yaml

from edgetrain.config.params import METRICS
from edgetrain.pipeline import splits as split_mod

CONTRACT_KEYS = [
    "format", "model_file", "task", "target", "features", "classes", "rows", "missing_target_dropped",
    "best_iteration", "data_version", "params", "xgboost_version",
]  # fmt: skip
CURVES = {"roc.json", "precision_recall.json"}
PLOTS = {
    "binary": CURVES | {"confusion.json", "residuals.json", "importance.json"},
    "multiclass": CURVES | {"confusion.json", "residuals.json", "importance.json"},
    "regression": {"confusion.json", "residuals.json", "importance.json"},
}
DATA_DVC = """\
md5: 0123
frozen: true
deps:
- md5: aaa.dir
  path: remote://stackhub-raw/raw
outs:
- md5: 79f48eb4dd464c9c964a656661b2761b.dir
  path: data
"""


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_pipeline_end_to_end(task, make_project, capsys) -> None:
    project = make_project(task)
    (project.root / "data.dvc").write_text(DATA_DVC, encoding="utf-8")
    assert project.cli("prepare") == 0
    manifest = json.loads((project.prepared / "manifest.json").read_text())
    assert sum(manifest["rows"].values()) == 600
    assert all(n > 60 for n in manifest["rows"].values())
    assert manifest["data_version"] == {"md5": "79f48eb4dd464c9c964a656661b2761b.dir",
                                        "source": "remote://stackhub-raw/raw"}  # fmt: skip
    train = pd.read_parquet(project.prepared / "train.parquet")
    kind = manifest["features"][0]
    assert {k: kind[k] for k in ("name", "dtype", "categories")} == {
        "name": "kind", "dtype": "category", "categories": ["a", "b", "c"]
    }  # fmt: skip
    assert kind["example"] == train["kind"].value_counts().idxmax()  # most frequent category in train
    assert [(f["name"], f["dtype"]) for f in manifest["features"][1:]] == [
        ("x1", "float64"),
        ("x2", "float64"),
    ]
    for feature in manifest["features"][1:]:  # typical value = the train median (an aggregate, not a row)
        assert feature["example"] == round(float(train[feature["name"]].median()), 4)
    expected_classes = {"binary": [0, 1], "multiclass": ["high", "low", "mid"], "regression": None}[task]
    assert manifest["classes"] == expected_classes
    assert list(train.columns) == ["kind", "x1", "x2", "y"]  # no "extra": only features + target
    assert list(train["kind"].cat.categories) == ["a", "b", "c"]

    assert project.cli("train") == 0
    metadata = json.loads((project.model / "metadata.json").read_text())
    assert list(metadata) == CONTRACT_KEYS
    assert metadata["format"] == "edgetrain-model/1"
    assert metadata["classes"] == expected_classes
    assert metadata["rows"] == manifest["rows"]
    assert metadata["data_version"] == manifest["data_version"]
    assert metadata["params"]["seed"] == 7
    assert metadata["params"]["objective"] == {"binary": "binary:logistic", "multiclass": "multi:softprob",
                                               "regression": "reg:squarederror"}[task]  # fmt: skip
    assert metadata["xgboost_version"] == xgb.__version__
    booster = xgb.Booster()
    booster.load_model(project.model / "model.ubj")
    assert booster.num_boosted_rounds() == metadata["best_iteration"] + 1

    assert project.cli("evaluate") == 0
    metrics = json.loads(project.metrics.read_text())
    expected = (
        set(METRICS[task])
        | {"rows", "missing_target_dropped"}
        | ({"threshold"} if task == "binary" else set())
    )
    assert set(metrics) == expected
    assert metrics["missing_target_dropped"] == metadata["missing_target_dropped"] == 0
    assert metrics["rows"] == manifest["rows"]["test"]
    assert {p.name for p in project.plots.iterdir()} == PLOTS[task]
    if task == "binary":
        assert metrics["auc"] > 0.85
    elif task == "multiclass":
        assert metrics["accuracy"] > 0.6
    else:
        assert metrics["r2"] > 0.8
    assert "evaluate" not in capsys.readouterr().err


def test_binary_plots_are_aggregates(binary) -> None:
    for stage in ("prepare", "train", "evaluate"):
        assert binary.cli(stage) == 0
    test_rows = json.loads(binary.metrics.read_text())["rows"]
    roc = json.loads((binary.plots / "roc.json").read_text())["roc"]
    assert 2 <= len(roc) <= 201
    assert roc[0]["fpr"] == 0.0
    assert roc[-1]["fpr"] == roc[-1]["tpr"] == 1.0
    assert set(roc[0]) == {"fpr", "tpr", "threshold"}
    pr = json.loads((binary.plots / "precision_recall.json").read_text())["precision_recall"]
    assert len(pr) <= 201
    assert set(pr[0]) == {"recall", "precision", "threshold"}
    confusion = json.loads((binary.plots / "confusion.json").read_text())["confusion"]
    assert [(c["actual"], c["predicted"]) for c in confusion] == [
        ("0", "0"),
        ("0", "1"),
        ("1", "0"),
        ("1", "1"),
    ]
    assert sum(c["count"] for c in confusion) == test_rows
    importance = json.loads((binary.plots / "importance.json").read_text())["importance"]
    assert sorted(i["feature"] for i in importance) == ["kind", "x1", "x2"]
    assert importance[0]["feature"] == "x1"  # the feature the label is built from


def test_regression_residuals_are_binned(make_project) -> None:
    project = make_project("regression")
    for stage in ("prepare", "train", "evaluate"):
        assert project.cli(stage) == 0
    rows = json.loads((project.plots / "residuals.json").read_text())["residuals"]
    assert len(rows) == 10
    assert sum(r["count"] for r in rows) == json.loads(project.metrics.read_text())["rows"]
    means = [r["prediction_mean"] for r in rows]
    assert means == sorted(means)
    assert all(r["residual_p10"] <= r["residual_p50"] <= r["residual_p90"] for r in rows)


def test_outputs_are_byte_stable(binary) -> None:
    assert binary.cli("prepare") == 0
    first = {
        p.relative_to(binary.prepared): p.read_bytes() for p in binary.prepared.rglob("*") if p.is_file()
    }
    assert binary.cli("prepare") == 0
    assert {
        p.relative_to(binary.prepared): p.read_bytes() for p in binary.prepared.rglob("*") if p.is_file()
    } == first
    assert binary.cli("train") == 0
    model = (binary.model / "model.ubj").read_bytes(), (binary.model / "metadata.json").read_bytes()
    assert binary.cli("evaluate") == 0
    metrics = binary.metrics.read_bytes()
    assert binary.cli("train") == 0
    assert binary.cli("evaluate") == 0
    assert ((binary.model / "model.ubj").read_bytes(), (binary.model / "metadata.json").read_bytes()) == model
    assert binary.metrics.read_bytes() == metrics
    assert b"time" not in model[1]


def test_new_drop_never_moves_existing_rows(binary, frame_for) -> None:
    assert binary.cli("prepare") == 0

    def splits() -> dict[tuple, str]:
        out = {}
        for name in ("train", "valid", "test"):
            frame = pd.read_parquet(binary.prepared / f"{name}.parquet")
            for row in frame.astype({"kind": str}).itertuples(index=False):
                out[tuple(row)] = name
        return out

    before = splits()
    binary.write_drop("2024-01-09.csv", frame_for("binary", rows=300, seed=99))
    assert binary.cli("prepare") == 0
    after = splits()
    assert len(after) == len(before) + 300
    assert all(after[row] == split for row, split in before.items())


def test_duplicate_drop_is_deduplicated(binary) -> None:
    assert binary.cli("prepare") == 0
    rows = json.loads((binary.prepared / "manifest.json").read_text())["rows"]
    (binary.data / "2024-01-05.csv").write_bytes((binary.data / "2024-01-01.csv").read_bytes())
    assert binary.cli("prepare") == 0
    manifest = json.loads((binary.prepared / "manifest.json").read_text())
    assert manifest["rows"] == rows
    assert manifest["duplicates_dropped"] == 300
    assert manifest["drops"] == ["2024-01-01.csv", "2024-01-02.csv", "2024-01-05.csv"]
    assert manifest["data_version"] is None  # no data.dvc here


def test_seed_changes_the_split_of_all_numeric_data(make_project) -> None:
    """``seed`` reshuffles the split whatever the dtypes (it used to reach text columns only)."""
    index = np.arange(500)
    numeric = pd.DataFrame({"x1": np.linspace(-3, 3, 500), "x2": index % 13, "y": index % 2})
    first = split_mod.assign_splits(numeric, 1, 0.2, 0.2)
    assert np.array_equal(first, split_mod.assign_splits(numeric, 1, 0.2, 0.2))  # a pure function
    second = split_mod.assign_splits(numeric, 2, 0.2, 0.2)
    assert (first != second).mean() > 0.25  # about half the rows move between two random splits

    project = make_project("binary")
    params = yaml.safe_load(project.params.read_text())
    params["data"].update(features=["x1", "x2"], categorical=[])
    rows = {}
    for seed in (1, 2):
        params["seed"] = seed
        project.params.write_text(yaml.safe_dump(params))
        assert project.cli("prepare") == 0
        test = pd.read_parquet(project.prepared / "test.parquet")
        rows[seed] = set(map(tuple, test.to_numpy().tolist()))
    assert len(rows[1] ^ rows[2]) > len(rows[1]) // 2


def test_seed_keeps_rows_in_place_across_drops(frame_for) -> None:
    """With any seed, adding rows never moves the ones already there (the hash is per row)."""
    frame = frame_for("regression", rows=300)[["x1", "x2", "y"]]
    for seed in (0, 7, 12345):
        before = split_mod.assign_splits(frame, seed, 0.15, 0.15)
        grown = pd.concat([frame, frame_for("regression", rows=200, seed=5)[["x1", "x2", "y"]]])
        assert np.array_equal(split_mod.assign_splits(grown, seed, 0.15, 0.15)[:300], before)


def test_multiclass_curves_and_calibration(make_project) -> None:
    """Multiclass gets micro-averaged ROC / PR curves and accuracy-vs-confidence residuals."""
    project = make_project("multiclass")
    for stage in ("prepare", "train", "evaluate"):
        assert project.cli(stage) == 0
    metrics = json.loads(project.metrics.read_text())
    roc = json.loads((project.plots / "roc.json").read_text())["roc"]
    assert (roc[0]["fpr"], roc[-1]["fpr"], roc[-1]["tpr"]) == (0.0, 1.0, 1.0)
    area = sum((b["fpr"] - a["fpr"]) * (a["tpr"] + b["tpr"]) / 2 for a, b in itertools.pairwise(roc))
    assert area > 0.85  # a learnable target ranks well over every (row, class) pair
    residuals = json.loads((project.plots / "residuals.json").read_text())["residuals"]
    assert sum(r["count"] for r in residuals) == metrics["rows"]
    assert all(1 / 3 <= r["prediction_mean"] <= 1 for r in residuals)  # top-class confidence
    accuracy = (
        sum(r["count"] * (r["prediction_mean"] + r["residual_mean"]) for r in residuals) / metrics["rows"]
    )
    assert accuracy == pytest.approx(metrics["accuracy"], abs=1e-4)


def test_regression_confusion_is_by_decile(make_project) -> None:
    project = make_project("regression")
    for stage in ("prepare", "train", "evaluate"):
        assert project.cli(stage) == 0
    cells = json.loads((project.plots / "confusion.json").read_text())["confusion"]
    names = sorted({c["actual"] for c in cells})
    assert len(names) == 10
    assert [n[:2] for n in names] == [f"{i:02d}" for i in range(1, 11)]
    assert sum(c["count"] for c in cells) == json.loads(project.metrics.read_text())["rows"]
    on_diagonal = sum(c["count"] for c in cells if c["actual"] == c["predicted"])
    assert on_diagonal > sum(c["count"] for c in cells) / 2  # r2 > 0.8: mostly the right decile
