"""``prepare`` one drop at a time: the same rows, order, partitions and manifest as the in-memory reference.

Pass 1 reads and validates every drop (nothing is written if one is bad) and keeps one row of each, so the
columns get the dtypes the concatenated frame would have (labels as text when some drops have numbers and
others words). Pass 2 reads each drop again, drops duplicates within it (by value, as ``drop_duplicates``)
and across drops by the rows' seeded 64-bit content hashes (a sorted array, 8 bytes per kept row; two
different rows share a hash with probability ~n^2/2^65, and the later one would be dropped), picks
each row's split from the same hash and appends the rows to that split's partitions, untyped, in a
temporary directory. Train's categories, class labels and counts are gathered on the way. Pass 3 checks
the splits exactly as the in-memory reference (``tests/pipeline/reference.py``) does, then rewrites each
partition with the categorical dtypes. Peak memory: one drop, the hash array, one partition per split
and, for the example values, one numeric column of train at a time.
"""

from __future__ import annotations

import logging
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from edgetrain.config.params import Params
from edgetrain.contract import layout
from edgetrain.contract.atomic import staged_outputs, write_json_atomic
from edgetrain.contract.dvcfiles import read_data_version
from edgetrain.data.drops import check_missing_targets, load_drop
from edgetrain.errors import DataError
from edgetrain.pipeline import splits
from edgetrain.pipeline.dataset import partition_files, split_path
from edgetrain.pipeline.manifest import EXAMPLE_DECIMALS, check_labels, manifest_for, plain

log = logging.getLogger(__name__)


def common_dtypes(paths: list[Path], params: Params) -> tuple[pd.Series, int]:
    """Validate every drop: the dtypes of their concatenation (labels as text when kinds are mixed) and
    the rows left out for a blank target (or one error listing them all with ``missing_target: error``)."""
    heads, missing = [], []
    for path in paths:
        drop = load_drop(path, params.data, params.task)
        heads.append(drop.frame.iloc[:1])
        missing.append((drop.path, drop.missing_target))
    dropped = check_missing_targets(missing, params.data)
    target = params.data.target
    as_text = params.task != "regression" and (
        len({pd.api.types.is_numeric_dtype(h[target]) for h in heads}) > 1
    )
    if as_text:
        heads = [h.assign(**{target: h[target].astype(str)}) for h in heads]
    return (pd.concat(heads, ignore_index=True) if len(heads) > 1 else heads[0]).dtypes, dropped


class SplitWriter:
    """Rows appended in order, written as ``part-NNNNN.parquet`` of exactly ``rows`` rows (the last fewer)."""

    def __init__(self, path: Path, rows: int) -> None:
        self.path, self.rows, self.count, self.parts = path, rows, 0, 0
        self._buffer: list[pd.DataFrame] = []
        self._buffered = 0
        path.mkdir(parents=True)

    def append(self, frame: pd.DataFrame) -> None:
        self.count += len(frame)
        self._buffer.append(frame)
        self._buffered += len(frame)
        if self._buffered >= self.rows:
            self._flush(final=False)

    def close(self) -> None:
        if self._buffered:
            self._flush(final=True)

    def _flush(self, *, final: bool) -> None:
        frame = pd.concat(self._buffer, ignore_index=True) if len(self._buffer) > 1 else self._buffer[0]
        start = 0
        while len(frame) - start >= self.rows or (final and start < len(frame)):
            chunk = frame.iloc[start : start + self.rows]
            chunk.to_parquet(self.path / f"part-{self.parts:05d}.parquet", index=False, engine="pyarrow")
            self.parts += 1
            start += len(chunk)
        rest = frame.iloc[start:].reset_index(drop=True)
        self._buffer, self._buffered = ([rest] if len(rest) else []), len(rest)


class Gathered:
    """What pass 2 learns about the de-duplicated rows without keeping them."""

    def __init__(self, params: Params) -> None:
        self.labels: dict[Any, None] = {}  # in order of first appearance, as pd.unique
        self.split_labels: dict[str, set[Any]] = {name: set() for name in splits.SPLITS}
        self.categories: dict[str, Counter[Any]] = {name: Counter() for name in params.data.categorical}
        self.duplicates = 0
        self.rows = 0

    def add(self, parts: dict[str, pd.DataFrame], frame: pd.DataFrame, target: str) -> None:
        self.rows += len(frame)
        self.labels.update(dict.fromkeys(pd.unique(frame[target]).tolist()))
        for name, part in parts.items():
            self.split_labels[name].update(pd.Series(part[target]).dropna().unique().tolist())
        for column, counts in self.categories.items():
            counts.update(parts["train"][column].value_counts().to_dict())  # missing values not counted


def contains(sorted_hashes: np.ndarray, hashes: np.ndarray) -> np.ndarray:
    """Which of ``hashes`` are in the sorted array ``sorted_hashes`` (binary search)."""
    if not len(sorted_hashes):
        return np.zeros(len(hashes), dtype=bool)
    pos = np.minimum(np.searchsorted(sorted_hashes, hashes), len(sorted_hashes) - 1)
    found: np.ndarray = sorted_hashes[pos] == hashes
    return found


def _pass_two(
    paths: list[Path], params: Params, dtypes: pd.Series, writers: dict[str, SplitWriter]
) -> Gathered:
    target = params.data.target
    gathered = Gathered(params)
    seen = np.empty(0, dtype=np.uint64)
    for path in paths:
        frame = load_drop(path, params.data, params.task).frame
        frame = frame.astype(dtypes.to_dict())  # as in the concatenation (labels as text when mixed)
        within = frame.duplicated().to_numpy()
        hashes = splits.row_hashes(frame, params.seed)
        keep = ~within & ~contains(seen, hashes)
        gathered.duplicates += int(len(frame) - keep.sum())
        frame, hashes = frame.loc[keep].reset_index(drop=True), hashes[keep]
        new = np.sort(hashes)
        seen = np.insert(seen, np.searchsorted(seen, new), new)  # stays sorted: O(seen + drop)
        split = splits.splits_from_hashes(hashes, params.split.valid_fraction, params.split.test_fraction)
        parts = {name: frame.loc[split == i].reset_index(drop=True) for i, name in enumerate(splits.SPLITS)}
        gathered.add(parts, frame, target)
        for name, part in parts.items():
            writers[name].append(part)
        del frame, parts
    for writer in writers.values():
        writer.close()
    return gathered


def _check(gathered: Gathered, counts: dict[str, int], params: Params) -> list[Any] | None:
    """The in-memory reference's checks, in its order, on what pass 2 gathered."""
    if gathered.duplicates:
        log.info("dropped %d exact duplicate row(s)", gathered.duplicates)
    check_labels(list(gathered.labels), params)
    for name, rows in counts.items():
        if not rows:
            raise DataError(
                f"the {name} split is empty ({gathered.rows} rows in all); add data or change split"
            )
    if params.task == "regression":
        return None
    classes = plain(list(gathered.split_labels["train"]))
    for name in ("valid", "test"):
        for value in plain(list(gathered.split_labels[name])):
            if value not in set(classes):
                raise DataError(
                    f"unseen label {value!r} in target column {params.data.target!r}: it is in the "
                    f"{name} split but not in train"
                )
    return classes


def _features(gathered: Gathered, raw: Path, params: Params) -> list[dict[str, Any]]:
    features: list[dict[str, Any]] = []
    train = partition_files(split_path(raw, "train"))
    for column in params.data.features:
        if column in params.data.categorical:
            counts = gathered.categories[column]
            categories = plain(list(counts))
            top = max(counts.values(), default=0)
            example = next((c for c in categories if counts[c] == top), None) if top > 0 else None
            features.append(
                {"name": column, "dtype": "category", "categories": categories, "example": example}
            )
            continue
        values = pd.concat([pq.read_table(f, columns=[column]).to_pandas()[column] for f in train])
        median = values.median()
        example = None if pd.isna(median) else round(float(median), EXAMPLE_DECIMALS)
        features.append({"name": column, "dtype": "float64", "example": example})
    return features


def _typed(raw: Path, out: Path, features: list[dict[str, Any]]) -> None:
    """Rewrite each raw partition of each split with the categorical dtypes (unseen in train -> missing)."""
    typed = {f["name"]: pd.CategoricalDtype(f["categories"]) for f in features if f["dtype"] == "category"}
    for name in splits.SPLITS:
        unseen: Counter[str] = Counter()
        target = split_path(out, name)
        target.mkdir(parents=True)
        for file in partition_files(split_path(raw, name)):
            frame = pd.read_parquet(file, engine="pyarrow")
            for column, dtype in typed.items():
                known = frame[column].where(frame[column].isin(dtype.categories))
                unseen[column] += int(known.isna().sum() - frame[column].isna().sum())
                frame[column] = known.astype(dtype)
            frame.to_parquet(target / file.name, index=False, engine="pyarrow")
        for column, count in unseen.items():
            if count:
                log.warning("%s: %d value(s) of %r not seen in train become missing", name, count, column)


def write_streamed(
    paths: list[Path], params: Params, out_dir: Path | str, data_dvc: Path | str
) -> dict[str, Any]:
    """Prepare the drops ``paths`` into ``out_dir`` (all or nothing); return the manifest."""
    dtypes, dropped = common_dtypes(paths, params)  # every drop is valid before anything is written
    data_version = read_data_version(data_dvc)
    with (
        staged_outputs(out_dir, replace_dir=True) as staging,
        tempfile.TemporaryDirectory(prefix=".prepare-raw-", dir=staging.parent) as tmp,
    ):
        raw = Path(tmp)
        writers = {n: SplitWriter(split_path(raw, n), params.partition_rows) for n in splits.SPLITS}
        gathered = _pass_two(paths, params, dtypes, writers)
        counts = {name: writer.count for name, writer in writers.items()}
        classes = _check(gathered, counts, params)
        features = _features(gathered, raw, params)
        _typed(raw, staging, features)
        manifest = manifest_for(
            params,
            features=features,
            classes=classes,
            rows=counts,
            duplicates=gathered.duplicates,
            drops=[path.name for path in paths],
            data_version=data_version,
            missing_target=dropped,
        )
        write_json_atomic(staging / layout.MANIFEST_NAME, manifest, sort_keys=False)
    return manifest
