"""The evaluate stage's pure compute: metrics and plots from labels and model outputs.

Metrics are rounded to 6 decimals. ``metrics.json`` is always valid JSON: a metric the test split cannot
define (a ranking metric when the test split holds a single class, say) is ``None`` (``null``) with a warning
naming it, never NaN. Multiclass ``auc`` is the macro average of one-vs-rest AUC over the classes present in
the test split (a rare class seen only in train has no positives there, so its one-vs-rest AUC is undefined);
multiclass ``f1`` is the macro over the classes in the test split or its predictions. Plots are aggregates
only, never per-row data: ROC and precision-recall curves (at most 201 points; multiclass: micro-averaged
one-vs-rest), confusion counts (regression: deciles of the target, actual vs predicted), residuals (observed -
predicted) per decile of the prediction (binary: P(class 1) vs the observed rate; multiclass: top-class
confidence vs accuracy) and feature importance (gain). Every task gives the same plots, except the curves for
regression.
"""

from __future__ import annotations

import logging
from itertools import pairwise
from typing import Any

import numpy as np
import pandas as pd

from edgetrain.errors import DataError

log = logging.getLogger(__name__)

MAX_CURVE_POINTS = 201
BINS = 10  # deciles of the prediction (residuals) and of the regression target (confusion)
DIGITS = 6


def _r(value: float) -> float:
    return round(float(value), DIGITS)


def downsample(n: int, limit: int = MAX_CURVE_POINTS) -> np.ndarray:
    """At most ``limit`` evenly spread indices into ``n`` points, always keeping the first and last."""
    if n <= limit:
        return np.arange(n)
    return np.unique(np.round(np.linspace(0, n - 1, limit)).astype(np.int64))


def _curve(columns: dict[str, np.ndarray]) -> list[dict[str, float]]:
    keep = downsample(len(next(iter(columns.values()))))
    return [{k: _r(v[i]) for k, v in columns.items()} for i in keep]


def _confusion(y: np.ndarray, predicted: np.ndarray, classes: list[Any]) -> list[dict[str, Any]]:
    from sklearn.metrics import confusion_matrix  # noqa: PLC0415 - scikit-learn loads only to score (train stays lean)

    counts = confusion_matrix(y, predicted, labels=list(range(len(classes))))
    return [
        {"actual": str(a), "predicted": str(p), "count": int(counts[i, j])}
        for i, a in enumerate(classes)
        for j, p in enumerate(classes)
    ]


def _auc(fn: Any, *args: Any, **kwargs: Any) -> float:
    try:
        return _r(fn(*args, **kwargs))
    except ValueError as exc:
        raise DataError(f"test split: cannot compute a ranking metric: {exc}") from None


def finite_metrics(scores: dict[str, Any]) -> dict[str, Any]:
    """``scores`` with every NaN or infinite value replaced by ``None`` (JSON ``null``), each one logged."""
    out: dict[str, Any] = {}
    for name, value in scores.items():
        undefined = isinstance(value, float) and not np.isfinite(value)
        if undefined:
            log.warning("metric %s is undefined on the test split (%s); written as null", name, value)
        out[name] = None if undefined else value
    return out


def binary_report(
    y: np.ndarray, p: np.ndarray, classes: list[Any], threshold: float
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Metrics and plots for P(class index 1) = ``p`` against class indices ``y``."""
    from sklearn import metrics as m  # noqa: PLC0415 - scikit-learn loads only to score (train stays lean)

    predicted = (p >= threshold).astype(np.int64)
    scores: dict[str, Any] = {
        "auc": None,
        "pr_auc": None,
        "f1": _r(m.f1_score(y, predicted, zero_division=0)),
        "log_loss": _r(m.log_loss(y, p, labels=[0, 1])),
        "accuracy": _r(m.accuracy_score(y, predicted)),
        "threshold": threshold,
    }
    plots: dict[str, Any] = {
        "confusion": _confusion(y, predicted, classes),
        "residuals": residual_bins(p, y.astype(np.float64)),  # observed rate - mean P(class 1)
    }
    if len(np.unique(y)) < 2:  # ROC and precision-recall need both classes
        log.warning(
            "test split has a single class (%r): auc and pr_auc are null, no roc/precision_recall plots",
            classes[int(y[0])],
        )
        return scores, plots
    scores["auc"] = _auc(m.roc_auc_score, y, p)
    scores["pr_auc"] = _auc(m.average_precision_score, y, p)
    return scores, plots | curves(y, p)


def curves(y: np.ndarray, score: np.ndarray) -> dict[str, list[dict[str, float]]]:
    """ROC and precision-recall curves (at most MAX_CURVE_POINTS each) for 0/1 labels ``y``."""
    from sklearn import metrics as m  # noqa: PLC0415 - scikit-learn loads only to score (train stays lean)

    fpr, tpr, roc_thr = m.roc_curve(y, score)
    precision, recall, pr_thr = m.precision_recall_curve(y, score)
    return {
        "roc": _curve({"fpr": fpr, "tpr": tpr, "threshold": np.minimum(roc_thr, 1.0)}),
        "precision_recall": _curve(
            {"recall": recall, "precision": precision, "threshold": np.append(pr_thr, 1.0)}
        ),
    }


def macro_ovr_auc(y: np.ndarray, proba: np.ndarray, classes: list[Any]) -> float | None:
    """Mean one-vs-rest AUC over the classes that have positives and negatives in ``y`` (else ``None``)."""
    from sklearn import metrics as m  # noqa: PLC0415 - scikit-learn loads only to score (train stays lean)

    present = [k for k in range(len(classes)) if 0 < int((y == k).sum()) < len(y)]
    absent = [classes[k] for k in range(len(classes)) if k not in present]
    if absent:
        log.warning(
            "auc: classes %s have no one-vs-rest AUC on the test split; averaged without them", absent
        )
    if not present:
        return None
    return _r(np.mean([m.roc_auc_score(y == k, proba[:, k]) for k in present]))


def multiclass_report(
    y: np.ndarray, proba: np.ndarray, classes: list[Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Metrics (macro / one-vs-rest) and confusion counts for per-class probabilities ``proba``."""
    from sklearn import metrics as m  # noqa: PLC0415 - scikit-learn loads only to score (train stays lean)

    labels = list(range(len(classes)))
    proba = proba / proba.sum(axis=1, keepdims=True)
    predicted = proba.argmax(axis=1)
    scores = {
        "auc": macro_ovr_auc(y, proba, classes),
        # macro over the classes in the test split or its predictions (a class in neither is no evidence)
        "f1": _r(m.f1_score(y, predicted, average="macro", zero_division=0)),
        "log_loss": _r(m.log_loss(y, proba, labels=labels)),
        "accuracy": _r(m.accuracy_score(y, predicted)),
    }
    onehot = np.eye(len(classes))[y]  # micro-averaged one-vs-rest curves: every (row, class) pair
    plots = {
        "confusion": _confusion(y, predicted, classes),
        # accuracy - mean confidence per decile of the top class's probability
        "residuals": residual_bins(proba.max(axis=1), (predicted == y).astype(np.float64)),
    }
    return scores, plots | curves(onehot.ravel(), proba.ravel())


def regression_report(y: np.ndarray, pred: np.ndarray) -> tuple[dict[str, Any], dict[str, Any]]:
    """RMSE, MAE, R2; residuals per decile of the prediction; counts of actual vs predicted deciles."""
    from sklearn import metrics as m  # noqa: PLC0415 - scikit-learn loads only to score (train stays lean)

    scores = {
        "rmse": _r(np.sqrt(m.mean_squared_error(y, pred))),
        "mae": _r(m.mean_absolute_error(y, pred)),
        "r2": _r(m.r2_score(y, pred)) if len(y) > 1 else 0.0,
    }
    edges = np.unique(np.quantile(y, np.linspace(0, 1, BINS + 1)))
    names = [f"{i + 1:02d}: {lo:.4g} to {hi:.4g}" for i, (lo, hi) in enumerate(pairwise(edges))]
    names = names or [f"01: {edges[0]:.4g}"]  # a constant target: one bin

    def decile(values: np.ndarray) -> np.ndarray:
        return np.searchsorted(edges[1:-1], values, side="right")

    plots = {"residuals": residual_bins(pred, y), "confusion": _confusion(decile(y), decile(pred), names)}
    return scores, plots


def residual_bins(pred: np.ndarray, observed: np.ndarray, bins: int = BINS) -> list[dict[str, Any]]:
    """Residual (observed - predicted) mean and quantiles per decile of the prediction."""
    frame = pd.DataFrame({"pred": pred, "residual": observed - pred})
    frame["bin"] = pd.qcut(frame["pred"].rank(method="first"), min(bins, len(frame)), labels=False)
    rows = []
    for index, group in frame.groupby("bin", sort=True):
        q10, q50, q90 = np.quantile(group["residual"], [0.1, 0.5, 0.9])
        rows.append(
            {
                "bin": int(index),
                "count": len(group),
                "prediction_mean": _r(group["pred"].mean()),
                "residual_mean": _r(group["residual"].mean()),
                "residual_p10": _r(q10),
                "residual_p50": _r(q50),
                "residual_p90": _r(q90),
            }
        )
    return rows


def importance(booster: Any, features: list[str]) -> list[dict[str, Any]]:
    """Mean gain per feature (0 for features no split uses), largest first."""
    gain = booster.get_score(importance_type="gain")
    rows = [{"feature": name, "gain": _r(gain.get(name, 0.0))} for name in features]
    return sorted(rows, key=lambda r: (-r["gain"], r["feature"]))
