"""Build the float32 matrix XGBoost scores, straight from JSON values (no pandas).

Rules (documented in docs/your-data.md and src/edgetrain/serving/README.md, and returned in error messages):

* numeric feature: a JSON number, or ``null`` for a missing value (XGBoost routes missing values down the
  branch it learned for them). Booleans and strings (even "1.5") are type errors. A number outside the
  float32 range is rejected; NaN/Infinity cannot be sent (not JSON).
* categorical feature: one of the model's categories, or ``null`` for missing. An unknown category is a 422
  by default; with ``EDGETRAIN_UNKNOWN_CATEGORY=missing`` it is scored as missing instead (what
  ``pd.Categorical`` with the training categories would do).
* categories become the codes XGBoost learned: the index in the training category list (metadata order),
  the same recoding xgboost applies to a pandas ``category`` column.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import show, unprocessable
from .payload import Columns

FLOAT32_MAX = float(np.finfo(np.float32).max)
#: Smallest magnitude that rounds to infinity in float32 (halfway between FLOAT32_MAX and 2**128): every
#: literal below it, such as ``3.4028235e38`` (FLOAT32_MAX as float32 prints it), is a finite float32.
FLOAT32_LIMIT = 2.0**128 * (1 - 2.0**-25)
_NUMBER_TYPES = frozenset({int, float, type(None)})


@dataclass(frozen=True)
class FeatureSpec:
    name: str
    categories: tuple[Any, ...] | None = None
    codes: dict[Any, float] = field(default_factory=dict, repr=False)

    @property
    def categorical(self) -> bool:
        return self.categories is not None

    @property
    def string_categories(self) -> bool:
        return all(isinstance(c, str) for c in self.categories or ())

    @classmethod
    def from_metadata(cls, entry: dict[str, Any]) -> FeatureSpec:
        name = str(entry["name"])
        if entry.get("dtype") != "category":
            return cls(name)
        categories = tuple(entry.get("categories") or ())
        codes: dict[Any, float] = {None: float("nan")}
        for index, value in enumerate(categories):
            codes[value] = float(index)
            if not isinstance(value, str):
                codes.setdefault(str(value), float(index))
        return cls(name, categories, codes)


def _type_name(value: Any) -> str:
    return {bool: "boolean", str: "string", list: "array", dict: "object"}.get(
        type(value), type(value).__name__
    )


def _numeric(spec: FeatureSpec, values: Sequence[Any]) -> np.ndarray:
    if not _NUMBER_TYPES.issuperset(map(type, values)):
        for row, value in enumerate(values):
            if type(value) not in _NUMBER_TYPES:
                raise unprocessable(
                    "wrong_type",
                    f"column {spec.name!r}, row {row}: expected a number or null, "
                    f"got {_type_name(value)} {show(value)}",
                )
    try:
        column = np.array(values, dtype=np.float64)
    except OverflowError:
        column = np.array(
            [float("inf") if isinstance(v, int) and abs(v) > 1e300 else v for v in values], dtype=np.float64
        )
    too_big = np.abs(column) >= FLOAT32_LIMIT
    if too_big.any():
        row = int(np.flatnonzero(too_big)[0])
        raise unprocessable(
            "out_of_range",
            f"column {spec.name!r}, row {row}: {show(values[row])} is outside the float32 range the model "
            "takes (infinite values are rejected; send null for a missing value)",
        )
    return column


def _categorical(spec: FeatureSpec, values: Sequence[Any], unknown_as_missing: bool) -> list[float]:
    codes = spec.codes
    try:
        fast = [codes[v] for v in values]
    except (KeyError, TypeError):
        pass
    else:
        if spec.string_categories or bool not in set(map(type, values)):
            return fast
    known = ", ".join(map(repr, spec.categories or ()))
    result: list[float] = []
    for row, value in enumerate(values):
        kind = type(value)
        code = None if kind in (bool, list, dict) else codes.get(value)
        if code is None:
            if kind is str or (kind in (int, float) and not spec.string_categories):
                if not unknown_as_missing:
                    raise unprocessable(
                        "unknown_category",
                        f"column {spec.name!r}, row {row}: unknown category {show(value)} (known: {known})",
                    )
                code = float("nan")
            else:
                raise unprocessable(
                    "wrong_type",
                    f"column {spec.name!r}, row {row}: expected one of the categories ({known}) or null, "
                    f"got {_type_name(value)} {show(value)}",
                )
        result.append(code)
    return result


def build_matrix(
    columns: Columns, n_rows: int, specs: Sequence[FeatureSpec], unknown_as_missing: bool = False
) -> np.ndarray:
    """A C-ordered ``(n_rows, n_features)`` float32 matrix in model feature order; NaN = missing."""
    matrix = np.empty((n_rows, len(specs)), dtype=np.float32)
    for j, spec in enumerate(specs):
        values = columns[spec.name]
        if spec.categorical:
            matrix[:, j] = _categorical(spec, values, unknown_as_missing)
        else:
            matrix[:, j] = _numeric(spec, values)
    return matrix
