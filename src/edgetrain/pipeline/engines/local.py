"""The in-process engine: the splits in memory (``QuantileDMatrix``) or streamed from external memory.

Lean on purpose (the benchmark holds it to a bare ``xgboost.train`` script): parquet goes through
pyarrow into pandas without a second copy, ``hist`` builds a ``QuantileDMatrix`` (the validation
matrix reuses the training quantiles through ``ref``), and nothing here imports scikit-learn.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb

from edgetrain.config.edge import ComputeConfig
from edgetrain.config.params import Params
from edgetrain.errors import DataError
from edgetrain.pipeline.dataset import encode_labels, load_split, split_path
from edgetrain.pipeline.engines import extmem
from edgetrain.pipeline.engines.common import Fitted, booster_params, check_device, cut_at_best


def fit(
    params: Params,
    x_train: pd.DataFrame,
    y_train: np.ndarray,
    x_valid: pd.DataFrame,
    y_valid: np.ndarray,
    *,
    num_class: int | None = None,
) -> tuple[xgb.Booster, int]:
    """Train in memory with early stopping on the valid split; the booster is cut at its best iteration."""
    check_device(params.train.device)
    nthread = params.train.nthread or None
    dtrain: xgb.DMatrix
    dvalid: xgb.DMatrix
    if params.train.tree_method == "hist":
        dtrain = xgb.QuantileDMatrix(x_train, label=y_train, enable_categorical=True, nthread=nthread)
        dvalid = xgb.QuantileDMatrix(
            x_valid, label=y_valid, enable_categorical=True, nthread=nthread, ref=dtrain
        )
    else:
        dtrain = xgb.DMatrix(x_train, label=y_train, enable_categorical=True, nthread=nthread)
        dvalid = xgb.DMatrix(x_valid, label=y_valid, enable_categorical=True, nthread=nthread)
    return boost(params, dtrain, dvalid, num_class)


def boost(
    params: Params, dtrain: xgb.DMatrix, dvalid: xgb.DMatrix, num_class: int | None
) -> tuple[xgb.Booster, int]:
    """``xgboost.train`` with early stopping on ``dvalid``; the booster is cut at its best iteration."""
    try:
        booster = xgb.train(
            booster_params(params, num_class),
            dtrain,
            num_boost_round=params.train.num_boost_round,
            evals=[(dvalid, "valid")],
            early_stopping_rounds=params.train.early_stopping_rounds,
            verbose_eval=False,
        )
    except xgb.core.XGBoostError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "XGBoostError"
        raise DataError(f"XGBoost could not train: {first}") from None
    return cut_at_best(booster)


def fit_local(params: Params, prepared_dir: Path, manifest: dict[str, Any], compute: ComputeConfig) -> Fitted:
    """This process: the splits in memory, or (``train.external_memory``) streamed through on-disk pages."""
    features, target, classes = manifest["features"], manifest["target"], manifest["classes"]
    num_class = len(classes) if classes else None
    train_dir, valid_dir = split_path(prepared_dir, "train"), split_path(prepared_dir, "valid")
    info = {"engine": "local", "workers": 1, "external_memory": params.train.external_memory}
    if params.train.external_memory:
        with extmem.spill_directory(compute.spill_dir) as spill:
            try:
                dtrain, dvalid = extmem.matrices(
                    train_dir, valid_dir, manifest, params.train.nthread or None, Path(spill)
                )
            except xgb.core.XGBoostError as exc:
                raise DataError(f"{train_dir}: external memory: {str(exc).strip().splitlines()[0]}") from None
            booster, best = boost(params, dtrain, dvalid, num_class)
            del dtrain, dvalid
        return Fitted(booster, best, info)
    x_train, labels = load_split(train_dir, features, target)
    y_train = encode_labels(labels, classes, str(train_dir))
    del labels
    x_valid, labels = load_split(valid_dir, features, target)
    y_valid = encode_labels(labels, classes, str(valid_dir))
    del labels
    booster, best = fit(params, x_train, y_train, x_valid, y_valid, num_class=num_class)
    return Fitted(booster, best, info)
