"""Load a prepared split as model input: features typed per the schema, labels as class indices.

Shared by ``train`` and ``evaluate``; reads parquet with pyarrow and hands columns to pandas
without an extra copy (``self_destruct``), so peak memory stays close to one copy of the data.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from edgetrain.errors import DataError


def load_split(
    path: Path | str, features: list[dict[str, Any]], target: str
) -> tuple[pd.DataFrame, pd.Series]:
    """``(X, y)`` from a prepared parquet file; ``features`` is the manifest/metadata schema."""
    import pyarrow.parquet as pq

    path = Path(path)
    names = [f["name"] for f in features]
    try:
        table = pq.read_table(path, columns=[*names, target])
    except FileNotFoundError:
        raise DataError(f"{path}: not found (run `edgetrain prepare` first)") from None
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
        return labels.to_numpy(dtype=np.float32)
    codes = pd.Categorical(labels, categories=classes).codes
    if (codes < 0).any():
        value = labels[codes < 0].iloc[0]
        where = f"{source}: " if source else ""
        raise DataError(
            f"{where}unseen label {value!r} in target column {labels.name!r} (classes: {classes})"
        )
    return codes.astype(np.float32)
