"""External-memory training on one VM: XGBoost's ``ExtMemQuantileDMatrix`` over the prepared partitions.

A :class:`PartitionIter` hands XGBoost one Parquet partition at a time; XGBoost sketches the
quantiles, then writes the quantised pages under a temporary directory (``compute.spill_dir``) and
trains from them. Peak memory is about one partition plus the pages XGBoost keeps mapped, not the
data set; the cost is a second pass over the data and page reads.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import xgboost as xgb

from edgetrain.pipeline.dataset import encode_labels, load_split, partition_files


class PartitionIter(xgb.DataIter):
    """Yields ``(X, y)`` of each partition of a split, in order; XGBoost may call :meth:`reset` many times."""

    def __init__(
        self, files: list[Path], features: list[dict[str, Any]], target: str, classes: Any, cache_prefix: str
    ) -> None:
        self._files = files
        self._features = features
        self._target = target
        self._classes = classes
        self._index = 0
        super().__init__(cache_prefix=cache_prefix, release_data=True)

    def next(self, input_data: Callable[..., None]) -> bool:
        if self._index == len(self._files):
            return False
        path = self._files[self._index]
        x, labels = load_split(path, self._features, self._target)
        input_data(data=x, label=encode_labels(labels, self._classes, str(path)))
        self._index += 1
        return True

    def reset(self) -> None:
        self._index = 0


def matrices(
    train_dir: Path, valid_dir: Path, manifest: dict[str, Any], nthread: int | None, spill_dir: Path
) -> tuple[xgb.DMatrix, xgb.DMatrix]:
    """Train and valid ``ExtMemQuantileDMatrix``; valid reuses the train quantiles through ``ref``."""
    features, target, classes = manifest["features"], manifest["target"], manifest["classes"]
    train = PartitionIter(partition_files(train_dir), features, target, classes, str(spill_dir / "train"))
    dtrain = xgb.ExtMemQuantileDMatrix(train, enable_categorical=True, nthread=nthread)
    valid = PartitionIter(partition_files(valid_dir), features, target, classes, str(spill_dir / "valid"))
    dvalid = xgb.ExtMemQuantileDMatrix(valid, enable_categorical=True, nthread=nthread, ref=dtrain)
    return dtrain, dvalid


def spill_directory(spill_dir: str | None) -> tempfile.TemporaryDirectory[str]:
    """A fresh directory for the pages, removed afterwards (under ``spill_dir`` when set)."""
    if spill_dir:
        Path(spill_dir).mkdir(parents=True, exist_ok=True)
    return tempfile.TemporaryDirectory(prefix="edgetrain-extmem-", dir=spill_dir)
