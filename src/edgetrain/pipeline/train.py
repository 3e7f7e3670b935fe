"""Stage ``train``: prepared parquet -> ``artifacts/model/model.ubj`` + ``metadata.json`` + ``run.json``.

Where it trains is environment (``compute`` in ``config/edge.yaml``): this process in memory, this
process from external memory (``train.external_memory``), or a Dask cluster
(:mod:`edgetrain.pipeline.engines.cluster`). ``run.json`` records which, for lineage.

Lean on purpose (the benchmark holds it to a bare ``xgboost.train`` script): parquet goes through
pyarrow into pandas without a second copy, ``hist`` builds a ``QuantileDMatrix`` (the validation
matrix reuses the training quantiles through ``ref``), and nothing here imports scikit-learn.
Early stopping watches the valid split; the saved model is cut at the best iteration, so every
consumer gets the best model by predicting with all of its trees.
"""

from __future__ import annotations

import functools
import logging
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from edgetrain.config.edge import DEFAULT_EDGE_CONFIG, ComputeConfig, load_compute_config
from edgetrain.config.params import Params, load_params
from edgetrain.errors import ConfigError, DataError
from edgetrain.pipeline.dataset import encode_labels, load_split, split_path
from edgetrain.pipeline.engines.fitted import Fitted
from edgetrain.pipeline.io import read_json, staged_outputs, write_json_atomic

if TYPE_CHECKING:
    import xgboost

log = logging.getLogger(__name__)

MODEL_FORMAT = "edgetrain-model/1"
MODEL_FILE = "model.ubj"
METADATA_FILE = "metadata.json"
#: How the model was trained (engine, workers): environment, kept out of metadata.json (see dvc.yaml).
RUN_INFO_FILE = "run.json"
DEFAULT_PREPARED_DIR = Path("artifacts/prepared")
DEFAULT_MODEL_DIR = Path("artifacts/model")
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
    import xgboost as xgb

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


def fit(
    params: Params,
    x_train: pd.DataFrame,
    y_train: np.ndarray,
    x_valid: pd.DataFrame,
    y_valid: np.ndarray,
    *,
    num_class: int | None = None,
) -> tuple[xgboost.Booster, int]:
    """Train in memory with early stopping on the valid split; the booster is cut at its best iteration."""
    import xgboost as xgb

    check_device(params.train.device)
    nthread = params.train.nthread or None
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
    params: Params, dtrain: xgboost.DMatrix, dvalid: xgboost.DMatrix, num_class: int | None
) -> tuple[xgboost.Booster, int]:
    """``xgboost.train`` with early stopping on ``dvalid``; the booster is cut at its best iteration."""
    import xgboost as xgb

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


def cut_at_best(booster: xgboost.Booster) -> tuple[xgboost.Booster, int]:
    """The booster's first ``best_iteration + 1`` rounds (slicing drops best_* attributes: only the model)."""
    best = int(booster.best_iteration)
    log.info("best iteration %d of %d", best, booster.num_boosted_rounds())
    return booster[: best + 1], best


def fit_local(params: Params, prepared_dir: Path, manifest: dict[str, Any], compute: ComputeConfig) -> Fitted:
    """This process: the splits in memory, or (``train.external_memory``) streamed through on-disk pages."""
    import xgboost as xgb

    features, target, classes = manifest["features"], manifest["target"], manifest["classes"]
    num_class = len(classes) if classes else None
    train_dir, valid_dir = split_path(prepared_dir, "train"), split_path(prepared_dir, "valid")
    info = {"engine": "local", "workers": 1, "external_memory": params.train.external_memory}
    if params.train.external_memory:
        from edgetrain.pipeline.engines import extmem

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


def model_metadata(params: Params, manifest: dict[str, Any], best_iteration: int) -> dict[str, Any]:
    """The contract's ``metadata.json`` (no timestamps or host names: dvc.lock stays byte-stable)."""
    import xgboost as xgb

    return {
        "format": MODEL_FORMAT,
        "model_file": MODEL_FILE,
        "task": params.task,
        "target": manifest["target"],
        "features": manifest["features"],
        "classes": manifest["classes"],
        "rows": manifest["rows"],
        "missing_target_dropped": manifest.get("missing_target_dropped", 0),
        "best_iteration": best_iteration,
        "data_version": manifest.get("data_version"),
        "params": {**params.train.model_dump(), "seed": params.seed},
        "xgboost_version": xgb.__version__,
    }


def load_manifest(prepared_dir: Path | str, params: Params) -> dict[str, Any]:
    """The prepare stage's manifest, checked against the task in params."""
    path = Path(prepared_dir) / "manifest.json"
    try:
        manifest = read_json(path)
    except FileNotFoundError:
        raise DataError(f"{path}: not found (run `edgetrain prepare` first)") from None
    except ValueError as exc:
        raise DataError(f"{path}: not valid JSON: {exc}") from None
    if manifest.get("task") != params.task:
        raise DataError(
            f"{path}: prepared for task {manifest.get('task')!r} but params say {params.task!r} "
            "(run `edgetrain prepare` again)"
        )
    return manifest


def run(
    params: Params | Path | str = "params.yaml",
    prepared_dir: Path | str = DEFAULT_PREPARED_DIR,
    model_dir: Path | str = DEFAULT_MODEL_DIR,
    edge_config: Path | str = DEFAULT_EDGE_CONFIG,
) -> dict[str, Any]:
    """Train on the prepared splits; write model, metadata and run info (all or none); return the metadata.

    Where it trains is ``compute.scheduler`` in ``config/edge.yaml`` (environment); how is ``params.yaml``.
    """
    if not isinstance(params, Params):
        params = load_params(params)
    compute = load_compute_config(edge_config)
    check_device(params.train.device)
    prepared_dir = Path(prepared_dir)
    manifest = load_manifest(prepared_dir, params)
    if compute.is_local:
        fitted = fit_local(params, prepared_dir, manifest, compute)
    else:
        if params.train.external_memory:
            raise ConfigError(
                f"params.yaml: train.external_memory is for one VM, but {edge_config}: compute.scheduler is "
                f"{compute.scheduler} (Dask spreads the data over the workers' memory instead)"
            )
        from edgetrain.pipeline.engines import cluster

        classes = manifest["classes"]
        xgb_params = booster_params(params, len(classes) if classes else None)
        fitted = cluster.fit(params, prepared_dir, manifest, compute, xgb_params)
    metadata = model_metadata(params, manifest, fitted.best_iteration)
    with staged_outputs(model_dir) as staging:
        fitted.booster.save_model(staging / MODEL_FILE)
        write_json_atomic(staging / METADATA_FILE, metadata, sort_keys=False)
        write_json_atomic(staging / RUN_INFO_FILE, fitted.run_info)
    log.info("wrote %s (%s)", Path(model_dir) / MODEL_FILE, fitted.run_info)
    return metadata
