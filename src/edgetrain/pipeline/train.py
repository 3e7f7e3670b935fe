"""Stage ``train``: prepared parquet -> ``artifacts/model/model.ubj`` + ``metadata.json`` + ``run.json``.

Where it trains is environment (``compute`` in ``config/edge.yaml``): this process in memory or from
external memory (``train.external_memory``, :mod:`edgetrain.pipeline.engines.local`), or a Dask cluster
(:mod:`edgetrain.pipeline.engines.cluster`). ``run.json`` records which, for lineage. Early stopping
watches the valid split; the saved model is cut at the best iteration, so every consumer gets the best
model by predicting with all of its trees.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import xgboost as xgb

from edgetrain.config.edge import DEFAULT_EDGE_CONFIG, load_compute_config
from edgetrain.config.params import Params, load_params
from edgetrain.contract import layout
from edgetrain.contract.atomic import staged_outputs, write_json_atomic
from edgetrain.contract.hashing import sha256_hex
from edgetrain.errors import ConfigError
from edgetrain.pipeline.engines import cluster, local
from edgetrain.pipeline.engines.common import booster_params, check_device
from edgetrain.pipeline.manifest import load_manifest

log = logging.getLogger(__name__)

MODEL_FORMAT = "edgetrain-model/1"
MODEL_FILE = layout.MODEL_NAME
METADATA_FILE = layout.METADATA_NAME
#: How the model was trained (engine, workers): environment, kept out of metadata.json (see dvc.yaml).
RUN_INFO_FILE = layout.RUN_INFO_NAME
DEFAULT_PREPARED_DIR = Path(layout.PREPARED)
DEFAULT_MODEL_DIR = Path(layout.MODEL_DIR)


def model_metadata(params: Params, manifest: dict[str, Any], best_iteration: int) -> dict[str, Any]:
    """The contract's ``metadata.json`` (no timestamps or host names: dvc.lock stays byte-stable)."""
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


def run(
    params: Params | Path | str = Path(layout.PARAMS),
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
        fitted = local.fit_local(params, prepared_dir, manifest, compute)
    else:
        if params.train.external_memory:
            raise ConfigError(
                f"params.yaml: train.external_memory is for one VM, but {edge_config}: compute.scheduler is "
                f"{compute.scheduler} (Dask spreads the data over the workers' memory instead)"
            )
        classes = manifest["classes"]
        xgb_params = booster_params(params, len(classes) if classes else None)
        fitted = cluster.fit(params, prepared_dir, manifest, compute, xgb_params)
    metadata = model_metadata(params, manifest, fitted.best_iteration)
    with staged_outputs(model_dir) as staging:
        fitted.booster.save_model(staging / MODEL_FILE)
        write_json_atomic(staging / METADATA_FILE, metadata, sort_keys=False)
        # the release reproduces the model and compares these (src/edgetrain/release/verify.py)
        digests = {name: sha256_hex((staging / name).read_bytes()) for name in (MODEL_FILE, METADATA_FILE)}
        write_json_atomic(staging / RUN_INFO_FILE, {**fitted.run_info, "sha256": digests})
    log.info("wrote %s (%s)", Path(model_dir) / MODEL_FILE, fitted.run_info)
    return metadata
