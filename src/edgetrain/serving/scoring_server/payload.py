"""Turn a JSON scoring body into one list of values per model feature.

Accepted shapes (one or many rows):

* a list of records: ``[{"f1": 1.0, "f2": "A"}, ...]``
* pandas "split": ``{"columns": ["f1", "f2"], "data": [[1.0, "A"], ...]}`` (an ``index`` key is ignored)
* Azure ML: ``{"input_data": <split or records>}``
* ``{"data": [records]}``
* one record on its own: ``{"f1": 1.0, "f2": "A"}``

Column names must match the model's features exactly: a missing, extra or misspelled column is a 422
that names it (and suggests the closest feature name).
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Iterable, Sequence
from typing import Any

import orjson

from .errors import ScoringError, bad_request, unprocessable

Columns = dict[str, Sequence[Any]]


def parse_json(body: bytes) -> Any:
    """``orjson.loads`` with a 400 that says where and why the body is not JSON."""
    if not body.strip():
        raise bad_request("empty_body", "request body is empty: send a JSON array of records")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        pos = getattr(exc, "pos", 0) or 0
        token = body[pos : pos + 9].lstrip(b"-")
        if token.startswith((b"NaN", b"Infinity")) or "infinity" in str(exc).lower():
            raise bad_request(
                "non_finite_number",
                f"non-finite number at character {pos}: NaN and Infinity are not accepted; "
                "send null for a missing value",
            ) from None
        raise bad_request("malformed_json", f"body is not valid JSON: {exc}") from None


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def column_problem(given: Iterable[Any], features: Sequence[str], row: int | None) -> ScoringError:
    """A 422 naming unknown and missing columns, with a "did you mean" for each unknown one."""
    given = list(given)
    given_set = set(given)
    feature_set = set(features)
    missing = [f for f in features if f not in given_set]
    unknown = [g for g in given if g not in feature_set]
    parts: list[str] = []
    for name in unknown:
        close = difflib.get_close_matches(str(name), missing or list(features), n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        parts.append(f"unknown column {_show(name)}{hint}")
    if missing:
        parts.append("missing column" + ("s " if len(missing) > 1 else " ") + ", ".join(map(repr, missing)))
    where = f"row {row}: " if row is not None else ""
    code = "unknown_column" if unknown else "missing_column"
    expected = ", ".join(features)
    return unprocessable(code, f"{where}{'; '.join(parts)} (the model takes: {expected})")


def _check_rows(n: int, max_rows: int) -> None:
    if n == 0:
        raise unprocessable("empty_batch", "no rows to score: send at least one record")
    if n > max_rows:
        raise unprocessable("too_many_rows", f"{n} rows in one request; the limit is {max_rows}")


def _from_records(
    records: list[Any], features: Sequence[str], feature_set: Collection[str], max_rows: int
) -> tuple[Columns, int]:
    _check_rows(len(records), max_rows)
    for i, record in enumerate(records):
        if type(record) is not dict:
            raise unprocessable(
                "bad_row", f"row {i}: expected an object of column: value, got {_show(record)}"
            )
        if record.keys() != feature_set:
            raise column_problem(record.keys(), features, i)
    return {name: [record[name] for record in records] for name in features}, len(records)


def _from_split(
    doc: dict[str, Any], features: Sequence[str], feature_set: Collection[str], max_rows: int
) -> tuple[Columns, int]:
    extra = set(doc) - {"columns", "data", "index"}
    if extra:
        raise unprocessable(
            "bad_shape", f"unexpected key {_show(sorted(map(str, extra))[0])} next to 'columns' and 'data'"
        )
    columns, data = doc.get("columns"), doc.get("data")
    if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
        raise unprocessable("bad_shape", "'columns' must be a list of column names")
    if not isinstance(data, list):
        raise unprocessable("bad_shape", "'data' must be a list of rows (lists of values)")
    if len(set(columns)) != len(columns):
        dup = next(c for c in columns if columns.count(c) > 1)
        raise unprocessable("duplicate_column", f"column {dup!r} is listed twice in 'columns'")
    if set(columns) != feature_set:
        raise column_problem(columns, features, None)
    _check_rows(len(data), max_rows)
    width = len(columns)
    for i, row in enumerate(data):
        if type(row) is not list or len(row) != width:
            got = f"{len(row)} values" if type(row) is list else _show(row)
            raise unprocessable("bad_row", f"row {i}: expected a list of {width} values, got {got}")
    transposed = list(zip(*data, strict=True))
    position = {name: j for j, name in enumerate(columns)}
    return {name: transposed[position[name]] for name in features}, len(data)


def to_columns(
    doc: Any, features: Sequence[str], feature_set: Collection[str], max_rows: int
) -> tuple[Columns, int]:
    """Values per feature (in model order) and the row count, or a 422 naming the problem."""
    if isinstance(doc, list):
        return _from_records(doc, features, feature_set, max_rows)
    if isinstance(doc, dict):
        if doc.keys() == feature_set:
            return _from_records([doc], features, feature_set, max_rows)
        if doc.keys() == {"input_data"}:
            inner = doc["input_data"]
            if isinstance(inner, list):
                return _from_records(inner, features, feature_set, max_rows)
            if isinstance(inner, dict) and "columns" in inner:
                return _from_split(inner, features, feature_set, max_rows)
            raise unprocessable(
                "bad_shape", "'input_data' must hold {'columns': [...], 'data': [[...]]} or a list of records"
            )
        if "columns" in doc:
            return _from_split(doc, features, feature_set, max_rows)
        if doc.keys() == {"data"} and isinstance(doc["data"], list):
            rows = doc["data"]
            if rows and type(rows[0]) is list:
                raise unprocessable("bad_shape", "rows given as lists need 'columns' next to 'data'")
            return _from_records(rows, features, feature_set, max_rows)
        return _from_records([doc], features, feature_set, max_rows)
    raise unprocessable(
        "bad_shape", "body must be a JSON array of records or an object with 'columns' and 'data'"
    )
