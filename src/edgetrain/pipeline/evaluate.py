"""Stage ``evaluate``: the model on the test split -> ``artifacts/metrics.json`` + ``artifacts/plots/*.json``.

What the metrics and plots are is :mod:`edgetrain.pipeline.metrics` (pure compute); this module scores the
model and writes them with sorted keys, so the same model and data give the same bytes. The registry's gate
treats a ``null`` primary metric as missing.

The stage streams: :func:`run` scores the test split one partition at a time (:func:`score_partitions`) and
keeps only the labels (class indices) and the model's outputs (one float per row, one per class for
multiclass), never the feature columns of the whole split. Predictions are per row, so the metrics and
plots are the same bytes as scoring the split in one frame (:func:`evaluate`).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from edgetrain.config.params import Params, load_params
from edgetrain.contract import layout
from edgetrain.contract.atomic import read_json, staged_outputs, write_json_atomic
from edgetrain.errors import DataError
from edgetrain.pipeline.dataset import encode_labels, load_split, partition_files
from edgetrain.pipeline.metrics import (
    binary_report,
    finite_metrics,
    importance,
    multiclass_report,
    regression_report,
)

log = logging.getLogger(__name__)

DEFAULT_MODEL_DIR = Path(layout.MODEL_DIR)
DEFAULT_TEST = Path(layout.TEST_SPLIT)
DEFAULT_METRICS = Path(layout.METRICS)
DEFAULT_PLOTS_DIR = Path(layout.PLOTS)


def predict(booster: Any, x: pd.DataFrame, objective: str) -> np.ndarray:
    """Model output as probabilities (classifiers) or values (regression), float64."""
    import xgboost as xgb  # noqa: PLC0415 - xgboost loads only when a model is scored

    out: np.ndarray = booster.predict(xgb.DMatrix(x, enable_categorical=True)).astype(np.float64)
    if objective == "binary:logitraw":
        out = 1.0 / (1.0 + np.exp(-out))
    return out


def score(
    params: Params, metadata: dict[str, Any], booster: Any, x: pd.DataFrame, labels: pd.Series
) -> tuple[np.ndarray, np.ndarray]:
    """``(y, out)`` for one frame: labels as class indices (raw values for regression) and model outputs."""
    y = encode_labels(labels, metadata["classes"], "test split")
    return y, predict(booster, x, params.train.objective)


def score_partitions(
    params: Params, metadata: dict[str, Any], booster: Any, test_path: Path | str
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`score` over the test split's partitions in order, reading one partition at a time."""
    ys: list[np.ndarray] = []
    outs: list[np.ndarray] = []
    for part in partition_files(test_path):
        x, labels = load_split(part, metadata["features"], metadata["target"])
        if len(labels):
            y, out = score(params, metadata, booster, x, labels)
            ys.append(y)
            outs.append(out)
        del x, labels  # the partition's features go before the next one is read
    if not ys:
        return np.empty(0, dtype=np.float32), np.empty(0)
    return np.concatenate(ys), np.concatenate(outs)


def report(
    params: Params, metadata: dict[str, Any], booster: Any, y: np.ndarray, out: np.ndarray
) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(metrics, plots)`` from labels ``y`` and model outputs ``out`` (see :func:`score`)."""
    classes = metadata["classes"]
    if len(y) == 0:
        raise DataError("test split is empty")
    if params.task == "binary":
        scores, plots = binary_report(y.astype(np.int64), out, classes, params.evaluate.threshold)
    elif params.task == "multiclass":
        scores, plots = multiclass_report(y.astype(np.int64), out, classes)
    else:
        scores, plots = regression_report(y.astype(np.float64), out)
    scores = finite_metrics(scores)
    scores["rows"] = len(y)
    # Rows prepare left out for a blank target (data.missing_target: drop): a count, not a metric.
    scores["missing_target_dropped"] = int(metadata.get("missing_target_dropped", 0))
    plots["importance"] = importance(booster, [f["name"] for f in metadata["features"]])
    return scores, plots


def evaluate(
    params: Params, metadata: dict[str, Any], booster: Any, x: pd.DataFrame, labels: pd.Series
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Pure core on one in-memory frame: ``(metrics, plots)`` for the test split."""
    return report(params, metadata, booster, *score(params, metadata, booster, x, labels))


def run(
    params: Params | Path | str = Path(layout.PARAMS),
    model_dir: Path | str = DEFAULT_MODEL_DIR,
    test_path: Path | str = DEFAULT_TEST,
    metrics_path: Path | str = DEFAULT_METRICS,
    plots_dir: Path | str = DEFAULT_PLOTS_DIR,
) -> dict[str, Any]:
    """Evaluate the trained model on the test split and write metrics and plots; returns the metrics."""
    import xgboost as xgb  # noqa: PLC0415 - xgboost loads only when a model is scored

    if not isinstance(params, Params):
        params = load_params(params)
    model_dir = Path(model_dir)
    try:
        metadata = read_json(model_dir / layout.METADATA_NAME)
    except FileNotFoundError:
        raise DataError(f"{model_dir / 'metadata.json'}: not found (run `edgetrain train` first)") from None
    if metadata.get("task") != params.task:
        raise DataError(
            f"{model_dir / 'metadata.json'}: model is for task {metadata.get('task')!r} but "
            f"params say {params.task!r} (run `edgetrain train` again)"
        )
    booster = xgb.Booster()
    try:
        booster.load_model(model_dir / metadata["model_file"])
    except xgb.core.XGBoostError:
        raise DataError(f"{model_dir / metadata['model_file']}: cannot load the model") from None
    y, out = score_partitions(params, metadata, booster, test_path)
    scores, plots = report(params, metadata, booster, y, out)
    with staged_outputs(plots_dir, replace_dir=True) as staging:
        for name, rows in plots.items():
            write_json_atomic(staging / f"{name}.json", {name: rows})
    write_json_atomic(metrics_path, scores)
    log.info("metrics %s", scores)
    return scores
