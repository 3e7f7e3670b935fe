"""What every training engine shares: XGBoost's parameters from params, the device check, the cut at the
best iteration, and the :class:`Fitted` result the ``train`` stage writes."""

from __future__ import annotations

import functools
import logging
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import xgboost as xgb

from edgetrain.config.params import Params
from edgetrain.errors import ConfigError

log = logging.getLogger(__name__)

EVAL_METRIC = {"binary": "logloss", "multiclass": "mlogloss", "regression": "rmse"}
_NO_GPU_HINTS = ("No visible GPU", "Device is changed", "couldn't find any available GPU")


def check_device(device: str) -> None:
    """Raise ConfigError unless XGBoost can really train on ``device`` (it silently falls back to CPU)."""
    if device == "cuda":
        problem = _cuda_problem()
        if problem:
            raise ConfigError(f"params.yaml: train.device: cuda requested but {problem} (use device: cpu)")


@functools.cache
def _cuda_problem() -> str | None:
    """Why CUDA training cannot work here, or None; probes with a one-round model once per process."""
    if not xgb.build_info().get("USE_CUDA"):
        return "this XGBoost build has no CUDA support"
    probe = xgb.DMatrix(np.array([[0.0], [1.0]]), label=np.array([0.0, 1.0]))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            xgb.train({"device": "cuda", "tree_method": "hist", "verbosity": 1}, probe, num_boost_round=1)
        except xgb.core.XGBoostError as exc:
            lines = str(exc).strip().splitlines()
            return f"CUDA training failed: {lines[0] if lines else 'XGBoostError'}"
    if any(hint in str(w.message) for w in caught for hint in _NO_GPU_HINTS):
        return "no CUDA GPU is visible"
    return None


def booster_params(params: Params, num_class: int | None) -> dict[str, Any]:
    """XGBoost training parameters from the ``train`` section, ``seed`` and the task."""
    train = params.train
    out: dict[str, Any] = {
        "objective": train.objective,
        "eta": train.eta,
        "max_depth": train.max_depth,
        "subsample": train.subsample,
        "colsample_bytree": train.colsample_bytree,
        "min_child_weight": train.min_child_weight,
        "tree_method": train.tree_method,
        "device": train.device,
        "nthread": train.nthread,
        "seed": params.seed,
        "eval_metric": EVAL_METRIC[params.task],
        "verbosity": 1,
    }
    if params.task == "multiclass":
        out["num_class"] = num_class
    return out


def cut_at_best(booster: xgb.Booster) -> tuple[xgb.Booster, int]:
    """The booster's first ``best_iteration + 1`` rounds (slicing drops best_* attributes: only the model)."""
    best = int(booster.best_iteration)
    log.info("best iteration %d of %d", best, booster.num_boosted_rounds())
    return booster[: best + 1], best


@dataclass(frozen=True)
class Fitted:
    """A booster cut at its best iteration, and how it was trained (engine, workers) for lineage."""

    booster: xgb.Booster
    best_iteration: int
    run_info: dict[str, Any] = field(default_factory=dict)
