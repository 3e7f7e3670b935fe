"""The in-memory reference of the ``prepare`` stage: every row in one frame, de-duplicated, split, typed.

Not on the production path (the stage streams, :mod:`edgetrain.pipeline.streamed`); the tests check the
stream against it byte for byte, and the benches measure the stream's memory against it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from edgetrain.config.params import Params
from edgetrain.contract import layout
from edgetrain.contract.atomic import staged_outputs, write_json_atomic
from edgetrain.errors import DataError
from edgetrain.pipeline.dataset import split_path, write_partitions
from edgetrain.pipeline.manifest import EXAMPLE_DECIMALS, check_labels, manifest_for, plain
from edgetrain.pipeline.splits import SPLITS, assign_splits

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Prepared:
    """One frame per split (features + target) and the manifest."""

    splits: dict[str, pd.DataFrame]
    manifest: dict[str, Any]


def _type_features(parts: dict[str, pd.DataFrame], params: Params) -> list[dict[str, Any]]:
    """Give categorical features the sorted categories seen in train (in place); return the schema.

    Each feature also gets a typical ``example`` value from train (median, or most frequent category):
    an aggregate, safe to ship, that ``edgetrain score-example`` uses to build a realistic request.
    """
    features: list[dict[str, Any]] = []
    for column in params.data.features:
        if column not in params.data.categorical:
            median = parts["train"][column].median()
            example = None if pd.isna(median) else round(float(median), EXAMPLE_DECIMALS)
            features.append({"name": column, "dtype": "float64", "example": example})
            continue
        categories = plain(parts["train"][column])
        dtype = pd.CategoricalDtype(categories)
        for name, part in parts.items():
            known = part[column].where(part[column].isin(categories))  # unseen in train -> missing
            typed = known.astype(dtype)
            unseen = int(known.isna().sum() - part[column].isna().sum())
            if unseen:
                log.warning("%s: %d value(s) of %r not seen in train become missing", name, unseen, column)
            part[column] = typed
        counts = parts["train"][column].value_counts(sort=False)
        example = plain([counts.idxmax()])[0] if len(counts) and counts.max() > 0 else None
        features.append({"name": column, "dtype": "category", "categories": categories, "example": example})
    return features


def prepare(
    frame: pd.DataFrame,
    params: Params,
    *,
    drops: list[str] | None = None,
    data_version: dict[str, str | None] | None = None,
    missing_target: int = 0,
) -> Prepared:
    """Pure core of the stage: de-duplicate, split, type and describe ``frame`` (features + target).

    ``missing_target``: rows the reader left out for a blank target (recorded in the manifest)."""
    target = params.data.target
    if frame.empty:
        raise DataError("no rows in any drop")
    before = len(frame)
    frame = frame.drop_duplicates(ignore_index=True)
    duplicates = before - len(frame)
    if duplicates:
        log.info("dropped %d exact duplicate row(s)", duplicates)
    check_labels(pd.unique(frame[target]).tolist(), params)

    split = assign_splits(frame, params.seed, params.split.valid_fraction, params.split.test_fraction)
    parts = {name: frame.loc[split == i].reset_index(drop=True) for i, name in enumerate(SPLITS)}
    for name, part in parts.items():
        if part.empty:
            raise DataError(f"the {name} split is empty ({len(frame)} rows in all); add data or change split")

    classes: list[Any] | None = None
    if params.task != "regression":
        classes = plain(parts["train"][target])
        seen = set(classes)
        for name in ("valid", "test"):
            for value in plain(parts[name][target]):
                if value not in seen:
                    raise DataError(
                        f"unseen label {value!r} in target column {target!r}: it is in the "
                        f"{name} split but not in train"
                    )

    features = _type_features(parts, params)

    rows = {name: len(part) for name, part in parts.items()}
    manifest = manifest_for(
        params,
        features=features,
        classes=classes,
        rows=rows,
        duplicates=duplicates,
        drops=drops,
        data_version=data_version,
        missing_target=missing_target,
    )
    return Prepared(splits=parts, manifest=manifest)


def write_prepared(prepared: Prepared, out_dir: Path | str, partition_rows: int = 250_000) -> None:
    """Write ``<split>.parquet/part-*.parquet`` and ``manifest.json`` into ``out_dir``, all or nothing."""
    with staged_outputs(out_dir, replace_dir=True) as staging:
        for name, part in prepared.splits.items():
            write_partitions(part, split_path(staging, name), partition_rows)
        write_json_atomic(staging / layout.MANIFEST_NAME, prepared.manifest, sort_keys=False)
