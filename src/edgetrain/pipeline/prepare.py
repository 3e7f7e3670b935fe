"""Stage ``prepare``: raw CSV drops -> validated, de-duplicated train/valid/test parquet + manifest.

A row's split is a pure function of its content and ``seed``: the 64-bit hash of the row
(:func:`pandas.util.hash_pandas_object`) is mixed with a salt derived from ``seed`` (splitmix64), mapped
to [0, 1) and picks test, valid or train by the fractions in ``params.yaml``. The seed enters for every
dtype (``hash_pandas_object``'s own ``hash_key`` only affects text columns). A new drop therefore never
moves an existing row to another split, and exact duplicates always land together (they are dropped anyway).

The stage (:func:`run`) streams the drops one at a time through :mod:`edgetrain.pipeline.streamed`; the pure
:func:`prepare` on all rows in one frame is the reference it matches byte for byte.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from edgetrain.config.params import Params, load_params
from edgetrain.data.version import data_version
from edgetrain.errors import DataError
from edgetrain.pipeline.dataset import split_path, write_partitions
from edgetrain.pipeline.drops import list_drops
from edgetrain.pipeline.io import staged_outputs, write_json_atomic

log = logging.getLogger(__name__)

MANIFEST_FORMAT = "edgetrain-prepared/1"
SPLITS = ("train", "valid", "test")
DEFAULT_DATA_DIR = Path("data")
DEFAULT_DATA_DVC = Path("data.dvc")
DEFAULT_OUT_DIR = Path("artifacts/prepared")
#: Rows left out for a blank target (``data.missing_target: drop``): in the manifest, the model's
#: metadata and ``artifacts/metrics.json``.
MISSING_TARGET_KEY = "missing_target_dropped"


@dataclass(frozen=True)
class Prepared:
    """One frame per split (features + target; none from the streamed :func:`run`) and the manifest."""

    splits: dict[str, pd.DataFrame]
    manifest: dict[str, Any]


def seed_salt(seed: int) -> np.uint64:
    """A 64-bit salt derived from ``seed`` (SHA-256, so nearby seeds give unrelated salts)."""
    digest = hashlib.sha256(f"edgetrain-split:{seed}".encode()).digest()
    return np.uint64(int.from_bytes(digest[:8], "little"))


def mix64(values: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: every input bit flips about half the output bits (uint64, wraps)."""
    x = values.astype(np.uint64, copy=True)
    x ^= x >> np.uint64(30)
    x *= np.uint64(0xBF58476D1CE4E5B9)
    x ^= x >> np.uint64(27)
    x *= np.uint64(0x94D049BB133111EB)
    x ^= x >> np.uint64(31)
    return x


def row_hashes(frame: pd.DataFrame, seed: int) -> np.ndarray:
    """Seeded 64-bit hash of each row's content; the seed changes it whatever the columns' dtypes."""
    content = pd.util.hash_pandas_object(frame, index=False).to_numpy()
    return mix64(content ^ seed_salt(seed))


def assign_splits(frame: pd.DataFrame, seed: int, valid_fraction: float, test_fraction: float) -> np.ndarray:
    """Split index per row (0 train, 1 valid, 2 test) from a seeded hash of the row's content."""
    return splits_from_hashes(row_hashes(frame, seed), valid_fraction, test_fraction)


def splits_from_hashes(hashes: np.ndarray, valid_fraction: float, test_fraction: float) -> np.ndarray:
    """Split index per row (0 train, 1 valid, 2 test) from its :func:`row_hashes` value."""
    uniform = (hashes >> np.uint64(11)).astype(np.float64) * 2.0**-53
    split = np.zeros(len(hashes), dtype=np.int8)
    split[uniform < test_fraction + valid_fraction] = 1
    split[uniform < test_fraction] = 2
    return split


def read_data_version(path: Path | str) -> dict[str, str] | None:
    """``{"md5", "source"}`` from a ``data.dvc`` import file, or ``None`` when there is no such file."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError:
        raise DataError(f"{path}: not a DVC file with outs[0].md5") from None
    md5, source = data_version(doc, str(path))
    return {"md5": md5, "source": source}


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
    data_version: dict[str, str] | None = None,
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


def manifest_for(
    params: Params,
    *,
    features: list[dict[str, Any]],
    classes: list[Any] | None,
    rows: dict[str, int],
    duplicates: int,
    drops: list[str] | None,
    data_version: dict[str, str] | None,
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


def write_prepared(prepared: Prepared, out_dir: Path | str, partition_rows: int = 250_000) -> None:
    """Write ``<split>.parquet/part-*.parquet`` and ``manifest.json`` into ``out_dir``, all or nothing."""
    with staged_outputs(out_dir, replace_dir=True) as staging:
        for name, part in prepared.splits.items():
            write_partitions(part, split_path(staging, name), partition_rows)
        write_json_atomic(staging / "manifest.json", prepared.manifest, sort_keys=False)


def run(
    params: Params | Path | str = "params.yaml",
    data_dir: Path | str = DEFAULT_DATA_DIR,
    data_dvc: Path | str = DEFAULT_DATA_DVC,
    out_dir: Path | str = DEFAULT_OUT_DIR,
) -> Prepared:
    """Read the drops one at a time, prepare them and write the stage's outputs.

    Streams (:mod:`edgetrain.pipeline.streamed`): the result's ``splits`` is empty, the rows are on disk.
    The outputs are those of :func:`prepare` + :func:`write_prepared` on all drops read into one frame.
    """
    from edgetrain.pipeline.streamed import write_streamed

    if not isinstance(params, Params):
        params = load_params(params)
    manifest = write_streamed(list_drops(data_dir), params, out_dir, data_dvc)
    log.info("prepared %s", manifest["rows"])
    return Prepared(splits={}, manifest=manifest)
