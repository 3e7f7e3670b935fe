"""Which split a row goes to: a pure function of its content and ``seed``.

The 64-bit hash of the row (:func:`pandas.util.hash_pandas_object`) is mixed with a salt derived from
``seed`` (splitmix64), mapped to [0, 1) and picks test, valid or train by the fractions in ``params.yaml``.
The seed enters for every dtype (``hash_pandas_object``'s own ``hash_key`` only affects text columns). A new
drop therefore never moves an existing row to another split, and exact duplicates always land together
(they are dropped anyway).
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

SPLITS = ("train", "valid", "test")


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
