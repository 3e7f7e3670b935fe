"""metrics.json is valid JSON whatever the test split holds: undefined metrics are null, never NaN."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd

from edgetrain.pipeline import metrics as metrics_mod
from edgetrain.pipeline.splits import assign_splits


def strict_json(path) -> dict:
    """Parse rejecting NaN/Infinity, which Python's json accepts by default but JSON does not."""

    def refuse(token: str) -> None:
        raise ValueError(f"{path}: non-JSON number {token}")

    return json.loads(path.read_text(encoding="utf-8"), parse_constant=refuse)


def rows_in_split(template: pd.DataFrame, label: object, split: int, count: int) -> pd.DataFrame:
    """``count`` rows labelled ``label`` whose content hash (seed 7, 0.2/0.2) sends them to ``split``."""
    rows = []
    for i in range(20_000):
        row = pd.DataFrame({"kind": ["a"], "x1": [float(i)], "x2": [1.0], "y": [label]})
        if assign_splits(row, 7, 0.2, 0.2)[0] == split:
            rows.append(row)
        if len(rows) == count:
            break
    return pd.concat(rows, ignore_index=True).assign(extra=0)[template.columns]


def test_class_seen_only_in_train_gives_valid_metrics(make_project, frame_for, caplog) -> None:
    project = make_project("multiclass", drops=1)
    project.write_drop("2024-01-02.csv", rows_in_split(frame_for("multiclass"), "rare", 0, 3))
    for stage in ("prepare", "train", "evaluate"):
        assert project.cli(stage) == 0
    metrics = strict_json(project.metrics)
    assert json.loads((project.prepared / "manifest.json").read_text())["classes"] == [
        "high", "low", "mid", "rare"
    ]  # fmt: skip
    assert all(isinstance(v, int | float) and math.isfinite(v) for v in metrics.values())
    assert 0.5 < metrics["auc"] <= 1.0
    assert 0.5 < metrics["f1"] <= 1.0  # not dragged down by a class the test split does not have
    assert "auc: classes ['rare'] have no one-vs-rest AUC" in caplog.text


def test_single_class_test_split_writes_null_ranking_metrics(make_project, frame_for, caplog) -> None:
    project = make_project("binary", drops=1)
    frame = frame_for("binary", rows=400)
    split = assign_splits(frame[["kind", "x1", "x2", "y"]], 7, 0.2, 0.2)
    only_ones_in_test = frame[(split != 2) | (frame["y"] == 1)]
    project.write_drop("2024-01-01.csv", only_ones_in_test)
    for stage in ("prepare", "train", "evaluate"):
        assert project.cli(stage) == 0
    metrics = strict_json(project.metrics)
    assert metrics["auc"] is None
    assert metrics["pr_auc"] is None
    assert math.isfinite(metrics["accuracy"])
    assert {p.stem for p in project.plots.iterdir()} == {"confusion", "residuals", "importance"}
    assert "test split has a single class (1)" in caplog.text


def test_finite_metrics_turns_nan_and_inf_into_null(caplog) -> None:
    scores = {"auc": float("nan"), "rmse": float("inf"), "f1": 0.5, "rows": 3, "threshold": 0.5}
    assert metrics_mod.finite_metrics(scores) == {
        "auc": None, "rmse": None, "f1": 0.5, "rows": 3, "threshold": 0.5
    }  # fmt: skip
    assert "metric auc is undefined" in caplog.text
    assert "metric rmse is undefined" in caplog.text


def test_macro_auc_uses_the_classes_the_test_split_has() -> None:
    y = np.array([0, 0, 1, 1])
    proba = np.array([[0.9, 0.1, 0.0], [0.6, 0.4, 0.0], [0.3, 0.7, 0.0], [0.2, 0.8, 0.0]])
    assert metrics_mod.macro_ovr_auc(y, proba, ["a", "b", "c"]) == 1.0
    assert metrics_mod.macro_ovr_auc(np.zeros(4, dtype=int), proba, ["a", "b", "c"]) is None
