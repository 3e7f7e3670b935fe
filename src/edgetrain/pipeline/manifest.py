"""The prepared data set's manifest (``manifest.json``): what ``prepare`` writes and ``train`` reads.

It names the task, target, typed features (categories, example values), classes, row counts per split,
the drops and the data version (from ``data.dvc``) the split came from.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from edgetrain.config.params import Params
from edgetrain.contract import layout
from edgetrain.contract.atomic import read_json
from edgetrain.errors import DataError

MANIFEST_FORMAT = "edgetrain-prepared/1"
#: Rows left out for a blank target (``data.missing_target: drop``): in the manifest, the model's
#: metadata and ``artifacts/metrics.json``.
MISSING_TARGET_KEY = "missing_target_dropped"


def check_labels(labels: list[Any], params: Params) -> None:
    """The distinct labels (in order of first appearance) fit the task: 2 for binary, >= 2 otherwise."""
    target = params.data.target
    if params.task == "regression":
        return
    if len(labels) < 2:
        raise DataError(
            f"target column {target!r} has a single class ({labels[0]!r}); "
            f"task {params.task} needs at least 2"
        )
    if params.task == "binary" and len(labels) > 2:
        raise DataError(
            f"target column {target!r} has {len(labels)} classes; task binary needs exactly 2 "
            "(use task: multiclass)"
        )


#: Decimals kept for the median shown as a feature's example value.
EXAMPLE_DECIMALS = 4


def plain(values: Any) -> list[Any]:
    """Sorted unique values as JSON-ready Python scalars."""
    return sorted(pd.Series(values).dropna().unique().tolist())


def manifest_for(
    params: Params,
    *,
    features: list[dict[str, Any]],
    classes: list[Any] | None,
    rows: dict[str, int],
    duplicates: int,
    drops: list[str] | None,
    data_version: dict[str, str | None] | None,
    missing_target: int = 0,
) -> dict[str, Any]:
    """The manifest (``manifest.json``) of a prepared data set."""
    return {
        "format": MANIFEST_FORMAT,
        "task": params.task,
        "target": params.data.target,
        "features": features,
        "classes": classes,
        "rows": rows,
        "duplicates_dropped": duplicates,
        MISSING_TARGET_KEY: missing_target,
        "drops": list(drops or []),
        "data_version": data_version,
        "split": {
            "seed": params.seed,
            "valid_fraction": params.split.valid_fraction,
            "test_fraction": params.split.test_fraction,
        },
    }


def load_manifest(prepared_dir: Path | str, params: Params) -> dict[str, Any]:
    """The prepare stage's manifest, checked against the task in params."""
    path = Path(prepared_dir) / layout.MANIFEST_NAME
    try:
        manifest = read_json(path)
    except FileNotFoundError:
        raise DataError(f"{path}: not found (run `edgetrain prepare` first)") from None
    except ValueError as exc:
        raise DataError(f"{path}: not valid JSON: {exc}") from None
    if not isinstance(manifest, dict):
        raise DataError(f"{path}: not a JSON object (run `edgetrain prepare` again)")
    if manifest.get("task") != params.task:
        raise DataError(
            f"{path}: prepared for task {manifest.get('task')!r} but params say {params.task!r} "
            "(run `edgetrain prepare` again)"
        )
    return manifest
