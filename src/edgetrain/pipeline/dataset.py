"""The prepared data set on disk, and loading it as model input (features typed, labels as class indices).

A split is a directory ``<split>.parquet/`` of partitions ``part-00000.parquet``, ... of at most
``partition_rows`` rows each (any Parquet reader opens the directory as one table). A partition is
the unit of work: a Dask worker reads its own partitions, the external-memory iterator reads one at a
time. Reads go through pyarrow into pandas without an extra copy (``self_destruct``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from edgetrain.errors import DataError

PART_GLOB = "part-*.parquet"


def split_path(prepared_dir: Path | str, split: str) -> Path:
    """Where ``split`` (train, valid, test) lives under ``prepared_dir``."""
    return Path(prepared_dir) / f"{split}.parquet"


def partition_files(path: Path | str) -> list[Path]:
    """The partitions of a split in order (a single Parquet file counts as one partition)."""
    path = Path(path)
    if path.is_file():
        return [path]
    files = sorted(path.glob(PART_GLOB)) if path.is_dir() else []
    if not files:
        raise DataError(f"{path}: not found or no {PART_GLOB} in it (run `edgetrain prepare` first)")
    return files


def write_partitions(frame: pd.DataFrame, path: Path | str, partition_rows: int) -> int:
    """Write ``frame`` as ``path/part-NNNNN.parquet`` of at most ``partition_rows`` rows each; count."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    starts = range(0, max(len(frame), 1), partition_rows)
    for number, start in enumerate(starts):
        part = frame.iloc[start : start + partition_rows]
        part.to_parquet(path / f"part-{number:05d}.parquet", index=False, engine="pyarrow")
    return len(starts)


def load_split(
    path: Path | str, features: list[dict[str, Any]], target: str
) -> tuple[pd.DataFrame, pd.Series]:
    """``(X, y)`` from a prepared split or one partition; ``features`` is the manifest/metadata schema."""
    import pyarrow as pa  # noqa: PLC0415 - pyarrow loads only when a split is read
    import pyarrow.parquet as pq  # noqa: PLC0415 - pyarrow loads only when a split is read

    path = Path(path)
    names = [f["name"] for f in features]
    try:
        files = partition_files(path)
        tables = [pq.read_table(file, columns=[*names, target]) for file in files]
        table = tables[0] if len(tables) == 1 else pa.concat_tables(tables, promote_options="permissive")
        del tables
    except (OSError, ValueError, KeyError) as exc:
        raise DataError(f"{path}: cannot read prepared data: {exc}") from None
    frame = table.to_pandas(split_blocks=True, self_destruct=True)
    del table
    labels = frame.pop(target)
    for feature in features:
        name = feature["name"]
        if feature["dtype"] == "category":
            frame[name] = frame[name].astype(pd.CategoricalDtype(feature["categories"]))
        elif frame[name].dtype != np.float64:
            frame[name] = frame[name].astype(np.float64)
    return frame, labels


def encode_labels(labels: pd.Series, classes: list[Any] | None, source: str = "") -> np.ndarray:
    """Class indices (float32, as XGBoost wants them) for ``classes``; raw float values for regression."""
    if classes is None:
        return np.asarray(labels, dtype=np.float32)
    codes = pd.Index(classes).get_indexer(labels)  # -1 for a label not in classes
    if (codes < 0).any():
        value = labels[codes < 0].iloc[0]
        where = f"{source}: " if source else ""
        raise DataError(
            f"{where}unseen label {value!r} in target column {labels.name!r} (classes: {classes})"
        )
    return np.asarray(codes, dtype=np.float32)
