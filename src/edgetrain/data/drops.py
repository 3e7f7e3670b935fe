"""Read and validate raw CSV drops (``data/YYYY-MM-DD.csv``) against the ``data`` section of params.

Every problem is a :class:`~edgetrain.errors.DataError` naming the file, and the column where
there is one: a missing target or feature, a column name XGBoost refuses, a non-numeric, infinite or
out-of-range value in a numeric column, an empty drop, an unbalanced quote or a file that is not CSV at
all. A blank cell in a feature (numeric or categorical) is a missing value (XGBoost handles those).

A row with a blank target cannot train: with ``data.missing_target: error`` (the default) every drop is
read and one error lists each file with the line numbers of such rows; with ``drop`` they are left out
and counted (:class:`Drop` keeps their line numbers, :func:`missing_target_error` words the refusal).
"""

from __future__ import annotations

import csv
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv

from edgetrain.config.params import DataParams, Task, name_problem
from edgetrain.errors import DataError

log = logging.getLogger(__name__)

_SNIFF_BYTES = 65536
_CHUNK_BYTES = 1 << 20
#: XGBoost stores features and labels as float32: anything larger in magnitude becomes inf there.
FLOAT32_MAX = float(np.finfo(np.float32).max)
_ARROW_COLUMN = re.compile(r"In CSV column #(\d+)")
#: Line numbers listed per file when rows have no target; the rest of them are counted.
MISSING_LINES_SHOWN = 10


@dataclass(frozen=True)
class Drop:
    """One drop read and checked: ``frame`` holds its rows that have a target (features + target)."""

    path: Path
    frame: pd.DataFrame
    #: Line numbers (the header is line 1) of the rows with a blank target, left out of ``frame``.
    missing_target: list[int]


def missing_target_error(target: str, found: Sequence[tuple[str, list[int]]]) -> DataError:
    """One line listing every file with rows that have no target: the first line numbers and a count."""
    parts = []
    for name, lines in found:
        shown = ", ".join(str(n) for n in lines[:MISSING_LINES_SHOWN])
        more = f" and {len(lines) - MISSING_LINES_SHOWN} more" if len(lines) > MISSING_LINES_SHOWN else ""
        parts.append(f"{name} line{'s' if len(lines) > 1 else ''} {shown}{more} ({len(lines)} rows)")
    total = sum(len(lines) for _, lines in found)
    return DataError(
        f"target column {target!r} is blank in {total} row(s): {'; '.join(parts)} "
        "(fill them in, or set data.missing_target: drop in params.yaml to leave such rows out)"
    )


def list_drops(data_dir: Path | str) -> list[Path]:
    """Every ``*.csv`` in ``data_dir``, sorted by name; a DataError when there is none."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise DataError(f"{data_dir}: data directory not found (run `dvc update data.dvc` or `dvc pull`)")
    drops = sorted(p for p in data_dir.glob("*.csv") if p.is_file())
    if not drops:
        raise DataError(f"{data_dir}: no *.csv drops")
    return drops


def _corrupt(path: Path, why: str) -> DataError:
    return DataError(f"{path}: corrupt CSV: {why}")


def _first_bad(original: pd.Series, parsed: pd.Series) -> tuple[int, object] | None:
    """Position and value of the first entry that is present in ``original`` but not a number."""
    bad = parsed.isna().to_numpy() & original.notna().to_numpy()
    if not bad.any():
        return None
    pos = int(np.argmax(bad))
    return pos, original.iloc[pos]


def _numeric(path: Path, column: str, values: pd.Series, role: str) -> pd.Series:
    """``values`` as float64, or a DataError naming the first entry that is not a finite float32 number."""
    if pd.api.types.is_bool_dtype(values) or pd.api.types.is_numeric_dtype(values):
        parsed = values.astype(np.float64)
    else:
        parsed = pd.to_numeric(values, errors="coerce").astype(np.float64)
        bad = _first_bad(values, parsed)
        if bad is not None:
            pos, value = bad
            raise DataError(
                f"{path}: {role} column {column!r} must be numeric; line {pos + 2} has {str(value)!r}"
            )
    too_big = np.abs(parsed.to_numpy()) > FLOAT32_MAX  # NaN compares False; inf is caught here
    if too_big.any():
        pos = int(np.argmax(too_big))
        raise DataError(
            f"{path}: {role} column {column!r} must be finite and within float32 range "
            f"(|x| <= {FLOAT32_MAX:.4g}); line {pos + 2} has {str(values.iloc[pos])!r}"
        )
    return parsed


def _labels(values: pd.Series) -> pd.Series:
    """Class labels with no missing value: whole floats and booleans as int64, anything else as read."""
    if pd.api.types.is_float_dtype(values) and np.all(np.mod(values.to_numpy(), 1) == 0):
        return values.astype(np.int64)
    if pd.api.types.is_bool_dtype(values):
        return values.astype(np.int64)
    return values


def _sniff(path: Path) -> None:
    """Reject unreadable, empty and binary files before pandas sees them."""
    try:
        with path.open("rb") as handle:
            head = handle.read(_SNIFF_BYTES)
    except OSError as exc:
        raise DataError(f"{path}: cannot read: {exc.strerror}") from None
    if not head.strip():
        raise DataError(f"{path}: empty drop (no header and no rows)")
    if b"\x00" in head:
        raise _corrupt(path, "binary data (NUL bytes), not text")


def _check_quotes(path: Path) -> None:
    """A DataError naming the first line with an unbalanced ``"``.

    A quoted value never spans lines in a drop: pyarrow would otherwise either fail with a vague
    column-count error or, worse, silently swallow the following lines into one value.
    """
    with path.open("rb") as handle:
        if not any(b'"' in chunk for chunk in iter(lambda: handle.read(_CHUNK_BYTES), b"")):
            return  # the common case: no quotes at all, checked at C speed
        handle.seek(0)
        header: list[str] = []
        for number, line in enumerate(handle, start=1):
            if line.count(b'"') % 2:
                field = _open_quote_field(line)
                where = f" in column {header[field]!r}" if field < len(header) else ""
                quote = f'line {number} has an unbalanced quote (")'
                raise _corrupt(path, f"{quote}{where}: a quoted value must end on its line")
            if number == 1:
                header = next(csv.reader([line.decode("utf-8", errors="replace").rstrip("\r\n")]), [])


def _open_quote_field(line: bytes) -> int:
    """Index of the field where the quote left open at the end of ``line`` starts."""
    field = start = 0
    inside = False
    for char in line:
        if char == ord('"'):
            inside = not inside
            start = field if inside else start
        elif char == ord(",") and not inside:
            field += 1
    return start


def _parse_error(path: Path, exc: Exception, header: list[str] | None = None) -> DataError:
    found = _ARROW_COLUMN.search(str(exc))
    if header and found and int(found.group(1)) < len(header) and "invalid UTF8" in str(exc):
        return _corrupt(path, f"column {header[int(found.group(1))]!r} is not valid UTF-8 text")
    detail = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
    for noise in ("Error tokenizing data. C error: ", "CSV parse error: "):
        detail = detail.replace(noise, "")
    return _corrupt(path, detail)


def _read_csv(path: Path, wanted: list[str], data: DataParams) -> pd.DataFrame:
    """The ``wanted`` columns of one CSV, or a DataError for a missing column or a broken file."""
    _check_quotes(path)
    try:
        header = [str(c) for c in pd.read_csv(path, nrows=0).columns]
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: empty drop (no header and no rows)") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise _parse_error(path, exc) from None
    for name in wanted:
        role, key = ("target", "data.target") if name == data.target else ("feature", "data.features")
        if name not in header:
            raise DataError(f"{path}: missing {role} column {name!r} (named in params {key})")
        problem = name_problem(name)
        if problem:
            raise DataError(f"{path}: {role} {problem} (rename it in the file and in params {key})")
    # pyarrow's reader is fast and strict: a row with too many or too few fields is an error (pandas'
    # C reader pads short rows with NaN). It is used directly: pandas' pyarrow engine fails to cast an
    # integer column with a blank cell when any dtype is given; arrow's own conversion gives float + NaN.
    convert = pa_csv.ConvertOptions(
        column_types=dict.fromkeys(data.categorical, pa.string()),
        include_columns=wanted,
        strings_can_be_null=True,  # a blank or NA category is missing, as in a numeric column
    )
    try:
        table = pa_csv.read_csv(path, convert_options=convert)
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        raise _parse_error(path, exc, header) from None
    frame = table.to_pandas()
    if frame.empty:
        raise DataError(f"{path}: empty drop (header only, no rows)")
    for name in wanted:  # pyarrow hands invalid UTF-8 in untyped columns over as bytes
        if frame[name].dtype == object and frame[name].map(type).eq(bytes).any():
            raise _corrupt(path, f"column {name!r} is not valid UTF-8 text")
    return frame


def load_drop(path: Path | str, data: DataParams, task: Task) -> Drop:
    """One drop reduced to ``features + [target]`` with numeric features as float64 and categorical
    features as strings, rows with a blank target left out (and their lines noted); raises DataError
    naming the file (and column) on any other problem."""
    path = Path(path)
    _sniff(path)
    wanted = [*data.features, data.target]
    frame = _read_csv(path, wanted, data)

    categorical = set(data.categorical)
    out: dict[str, pd.Series] = {}
    for name in data.features:
        values = frame[name]
        if name in categorical:
            out[name] = values  # read as str
        else:
            out[name] = _numeric(path, name, values, "numeric feature")
    target = frame[data.target]
    out[data.target] = _numeric(path, data.target, target, "target") if task == "regression" else target
    result = pd.DataFrame(out, columns=wanted)
    missing = result[data.target].isna().to_numpy()
    lines = (np.flatnonzero(missing) + 2).tolist()
    if lines:
        result = result.loc[~missing].reset_index(drop=True)
    if task != "regression":
        result[data.target] = _labels(result[data.target])
    log.info("%s: %d rows%s", path, len(frame), f", {len(lines)} without a target" if lines else "")
    return Drop(path, result, lines)


def check_missing_targets(lines: Sequence[tuple[Path | str, list[int]]], data: DataParams) -> int:
    """Rows with no target (``(file, line numbers)`` per drop): their count with ``missing_target: drop``,
    else one DataError listing every file and its lines."""
    found = [(str(path), numbers) for path, numbers in lines if numbers]
    if found and data.missing_target == "error":
        raise missing_target_error(data.target, found)
    return sum(len(lines) for _, lines in found)


def read_drop(path: Path | str, data: DataParams, task: Task) -> pd.DataFrame:
    """:func:`load_drop`'s frame; rows with no target refused as ``data.missing_target`` says."""
    drop = load_drop(path, data, task)
    check_missing_targets([(drop.path, drop.missing_target)], data)
    return drop.frame


def read_drops(data_dir: Path | str, data: DataParams, task: Task) -> tuple[list[str], pd.DataFrame]:
    """All drops in ``data_dir`` (sorted by name) concatenated; returns ``(file names, frame)``."""
    names, frame, _ = read_drops_counted(data_dir, data, task)
    return names, frame


def read_drops_counted(
    data_dir: Path | str, data: DataParams, task: Task
) -> tuple[list[str], pd.DataFrame, int]:
    """:func:`read_drops` and the number of rows left out for a blank target."""
    paths = list_drops(data_dir)
    drops = [load_drop(path, data, task) for path in paths]
    dropped = check_missing_targets([(d.path, d.missing_target) for d in drops], data)
    frames = [d.frame for d in drops]
    if task != "regression":
        kinds = {pd.api.types.is_numeric_dtype(f[data.target]) for f in frames}
        if len(kinds) > 1:  # numbers in one drop, words in another: compare labels as text
            for frame in frames:
                frame[data.target] = frame[data.target].astype(str)
    frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    return [p.name for p in paths], frame, dropped
