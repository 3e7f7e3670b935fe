"""Turn a JSON scoring body into one list of values per model feature.

Accepted shapes (one or many rows):

* a list of records: ``[{"f1": 1.0, "f2": "A"}, ...]``
* pandas "split": ``{"columns": ["f1", "f2"], "data": [[1.0, "A"], ...]}``: the columns in the model's
  feature order (what ``frame[features].to_dict(orient="split")`` gives); an ``index`` array is ignored
* Azure ML: ``{"input_data": <split or records>}``
* ``{"data": [records]}``
* one record on its own: ``{"f1": 1.0, "f2": "A"}``

Column names must match the model's features exactly: a missing, extra, misspelled or repeated column is a
422 that names it (and suggests the closest feature name).

Before parsing, :func:`check_cost` bounds what the parsed document can cost: a body of ``[{}, {}, ...]`` or
``[1.5, 1.5, ...]`` would otherwise turn 16 MiB of bytes into hundreds of MB of Python objects.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Collection, Iterable, Sequence
from typing import Any

import orjson

from .errors import ScoringError, bad_request, show, unprocessable

Columns = dict[str, Sequence[Any]]


#: Containers a valid body may hold besides one per row (wrappers, 'columns', 'data', 'index').
_SHAPE_CONTAINERS = 8
#: Members a valid body may hold besides rows x features (wrapper keys, 'columns', 'index' entries).
_SHAPE_MEMBERS = 64
#: Hints ("did you mean") and names listed in one column error.
_MAX_NAMED = 10
#: A JSON string literal; an unterminated one runs to the end. Possessive quantifiers and a match that
#: cannot fail keep the scan linear (a failing match would be retried from every later quote).
_STRING = re.compile(rb'"(?:[^"\\]++|\\.)*+(?:"|\\?\Z)', re.DOTALL)


def _outside_strings(body: bytes, char: bytes) -> int:
    """How many times ``char`` occurs in ``body`` outside JSON string literals."""
    return _STRING.sub(b'""', body).count(char)


def check_cost(body: bytes, max_rows: int, n_features: int) -> None:
    """Refuse (422) a body whose parsed form would hold more objects or values than a valid request.

    A valid body holds at most ``max_rows`` rows of ``n_features`` values plus a few wrappers, so its
    count of ``{``/``[`` and of ``,`` is bounded. The counts run at C speed on the raw bytes; only when they
    are over the bound (brackets or commas inside strings could cause that) are strings stripped and the
    count repeated, so a valid request is never refused.
    """
    max_values = (max_rows + 1) * (n_features + 2) + _SHAPE_MEMBERS
    # Strings: at most a key and a value per cell. Escaped quotes are discounted, so this never refuses a
    # valid body; it bounds the work of stripping strings below (one regex match per string).
    if body.count(b'"') - body.count(b'\\"') > 4 * max_values:
        raise unprocessable(
            "too_many_values",
            f"the body holds more than {2 * max_values} strings; the limit is {max_rows} rows of "
            f"{n_features} features",
        )
    max_containers = max_rows + _SHAPE_CONTAINERS
    stripped: bytes | None = None
    if body.count(b"{") + body.count(b"[") > max_containers:
        stripped = _STRING.sub(b'""', body)
        if stripped.count(b"{") + stripped.count(b"[") > max_containers:
            raise unprocessable(
                "too_many_rows",
                f"the body holds more than {max_containers} JSON objects/arrays; "
                f"the limit is {max_rows} rows",
            )
    if body.count(b",") > max_values and (stripped or _STRING.sub(b'""', body)).count(b",") > max_values:
        raise unprocessable(
            "too_many_values",
            f"the body holds more than {max_values} values; the limit is {max_rows} rows of "
            f"{n_features} features",
        )


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


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            raise unprocessable(
                "duplicate_key", f"key {show(key, 60)} appears twice in one object: send each column once"
            )
        seen.add(key)
    return dict(pairs)


def check_duplicate_keys(body: bytes, members: int) -> None:
    """422 naming the key when an object in ``body`` repeats a key (JSON parsers keep the last one).

    ``members`` is how many object members the parsed document holds at the levels a valid body uses.
    Every member has exactly one ``:`` outside strings, so when the raw count of ``:`` equals ``members``
    no key was repeated (the common case, one C-speed count). Otherwise the count is redone outside
    strings and, if it still differs, the body is re-read with a duplicate-refusing hook to name the key
    (nested objects, which are type errors anyway, are the only other source of extra colons).
    """
    if body.count(b":") == members or _outside_strings(body, b":") == members:
        return
    try:
        json.loads(body, object_pairs_hook=_reject_duplicates)
    except RecursionError:
        raise unprocessable("too_deep", "the body nests objects deeper than a scoring request does") from None
    except ValueError:  # orjson already accepted the body; a stricter re-read proves nothing either way
        return


def column_problem(given: Iterable[Any], features: Sequence[str], row: int | None) -> ScoringError:
    """A 422 naming unknown and missing columns (at most a few of each), with a "did you mean"."""
    given = list(given)
    given_set = set(given)
    feature_set = set(features)
    missing = [f for f in features if f not in given_set]
    unknown = [g for g in given if g not in feature_set]
    parts: list[str] = []
    for name in unknown[:_MAX_NAMED]:
        close = difflib.get_close_matches(str(name)[:200], missing or list(features), n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        parts.append(f"unknown column {show(name, 60)}{hint}")
    if len(unknown) > _MAX_NAMED:
        parts.append(f"and {len(unknown) - _MAX_NAMED} more unknown columns")
    if missing:
        shown = ", ".join(map(repr, missing[:_MAX_NAMED]))
        more = f" and {len(missing) - _MAX_NAMED} more" if len(missing) > _MAX_NAMED else ""
        parts.append("missing column" + ("s " if len(missing) > 1 else " ") + shown + more)
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
                "bad_row", f"row {i}: expected an object of column: value, got {show(record)}"
            )
        if record.keys() != feature_set:
            raise column_problem(record.keys(), features, i)
    return {name: [record[name] for record in records] for name in features}, len(records)


def _check_split_columns(columns: list[Any], features: Sequence[str], feature_set: Collection[str]) -> None:
    if not all(isinstance(c, str) for c in columns):
        raise unprocessable("bad_shape", "'columns' must be a list of column names")
    seen: set[str] = set()
    for name in columns:  # one pass (a set): a long list costs linear time, never quadratic
        if name in seen:
            raise unprocessable("duplicate_column", f"column {show(name, 60)} is listed twice in 'columns'")
        seen.add(name)
    if len(columns) > len(features):
        unknown = [name for name in columns if name not in feature_set]
        raise unprocessable(
            "too_many_columns",
            f"'columns' lists {len(columns)} names; the model takes {len(features)}; "
            f"unknown: {', '.join(show(name, 60) for name in unknown[:_MAX_NAMED])}",
        )
    if seen != feature_set:
        raise column_problem(columns, features, None)
    if tuple(columns) != tuple(features):
        raise unprocessable(
            "column_order",
            "'columns' must list the model's features in its order: " + ", ".join(map(repr, features)),
        )


def _from_split(
    doc: dict[str, Any], features: Sequence[str], feature_set: Collection[str], max_rows: int
) -> tuple[Columns, int]:
    extra = set(doc) - {"columns", "data", "index"}
    if extra:
        raise unprocessable(
            "bad_shape", f"unexpected key {show(sorted(map(str, extra))[0])} next to 'columns' and 'data'"
        )
    columns, data = doc.get("columns"), doc.get("data")
    if not isinstance(columns, list):
        raise unprocessable("bad_shape", "'columns' must be a list of column names")
    if not isinstance(data, list):
        raise unprocessable("bad_shape", "'data' must be a list of rows (lists of values)")
    if "index" in doc and not isinstance(doc["index"], list):
        raise unprocessable("bad_shape", "'index' must be a list (it is ignored)")
    _check_split_columns(columns, features, feature_set)
    _check_rows(len(data), max_rows)
    width = len(columns)
    for i, row in enumerate(data):
        if type(row) is not list or len(row) != width:
            got = f"{len(row)} values" if type(row) is list else show(row)
            raise unprocessable("bad_row", f"row {i}: expected a list of {width} values, got {got}")
    return dict(zip(features, zip(*data, strict=True), strict=True)), len(data)


def _records_or_split(
    doc: Any, features: Sequence[str], feature_set: Collection[str], max_rows: int
) -> tuple[Columns, int, int]:
    """Columns, row count and the number of object members the document holds at the levels read."""
    n_features = len(features)
    if isinstance(doc, list):
        columns, n = _from_records(doc, features, feature_set, max_rows)
        return columns, n, n * n_features
    if not isinstance(doc, dict):
        raise unprocessable(
            "bad_shape", "body must be a JSON array of records or an object with 'columns' and 'data'"
        )
    if doc.keys() == feature_set:
        columns, n = _from_records([doc], features, feature_set, max_rows)
        return columns, n, n_features
    if doc.keys() == {"input_data"}:
        inner = doc["input_data"]
        if isinstance(inner, list):
            columns, n = _from_records(inner, features, feature_set, max_rows)
            return columns, n, 1 + n * n_features
        if isinstance(inner, dict) and "columns" in inner:
            columns, n = _from_split(inner, features, feature_set, max_rows)
            return columns, n, 1 + len(inner)
        raise unprocessable(
            "bad_shape", "'input_data' must hold {'columns': [...], 'data': [[...]]} or a list of records"
        )
    if "columns" in doc:
        columns, n = _from_split(doc, features, feature_set, max_rows)
        return columns, n, len(doc)
    if doc.keys() == {"data"} and isinstance(doc["data"], list):
        rows = doc["data"]
        if rows and type(rows[0]) is list:
            raise unprocessable("bad_shape", "rows given as lists need 'columns' next to 'data'")
        columns, n = _from_records(rows, features, feature_set, max_rows)
        return columns, n, 1 + n * n_features
    columns, n = _from_records([doc], features, feature_set, max_rows)
    return columns, n, n_features


def to_columns(
    doc: Any,
    features: Sequence[str],
    feature_set: Collection[str],
    max_rows: int,
    body: bytes | None = None,
) -> tuple[Columns, int]:
    """Values per feature (in model order) and the row count, or a 422 naming the problem.

    With ``body`` (the bytes ``doc`` was parsed from), an object that repeats a key is a 422 too.
    """
    columns, n_rows, members = _records_or_split(doc, features, feature_set, max_rows)
    if body is not None:
        check_duplicate_keys(body, members)
    return columns, n_rows
