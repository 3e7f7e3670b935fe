"""Pure rules behind the hostile-body answers (no server): safe rendering, caps, cost and duplicate checks."""

from __future__ import annotations

import numpy as np
import pytest

from edgetrain.serving.scoring_server.errors import ScoringError, clip, error_body, show
from edgetrain.serving.scoring_server.matrix import FLOAT32_LIMIT, FeatureSpec, build_matrix
from edgetrain.serving.scoring_server.payload import check_cost, check_duplicate_keys, to_columns

FEATURES = ("a", "b")


def deep(depth: int) -> list:
    value: list = [1]
    for _ in range(depth):
        value = [value]
    return value


def test_show_never_recurses() -> None:
    assert show(deep(5000)) == "[...] (an array of 1 items)"
    assert show({"k": deep(5000)}) == "{...} (an object with 1 keys)"
    assert len(show("x" * 10_000)) <= 40


def test_nested_value_is_a_type_error_not_a_recursion() -> None:
    spec = FeatureSpec.from_metadata({"name": "x", "dtype": "float64"})
    with pytest.raises(ScoringError, match="array of 1 items"):
        build_matrix({"x": [deep(5000)]}, 1, [spec])


def test_error_messages_are_capped_in_bytes() -> None:
    message = "é" * 10_000
    assert len(clip(message, 300).encode()) <= 300
    assert clip(message, 300).endswith("(truncated)")
    assert len(error_body(422, "x", message, 1000)) < 1100
    assert clip("short", 300) == "short"


def test_float32_limit_is_where_float32_rounds_to_infinity() -> None:
    below = np.nextafter(FLOAT32_LIMIT, 0)
    with np.errstate(over="ignore"):
        assert np.isfinite(np.float32(below))
        assert np.isinf(np.float32(FLOAT32_LIMIT))


def test_cost_check_counts_outside_strings_only() -> None:
    check_cost(b'[{"a": "[[[[,,,,", "b": 1}]', max_rows=1, n_features=2)
    with pytest.raises(ScoringError, match="objects/arrays"):
        check_cost(b"[" + b"{}," * 20 + b"{}]", max_rows=10, n_features=2)
    with pytest.raises(ScoringError, match="values"):
        check_cost(b"[[" + b"1," * 200 + b"1]]", max_rows=10, n_features=2)


def test_duplicate_keys() -> None:
    check_duplicate_keys(b'{"a": "x:y", "b": 1}', 2)  # a colon inside a string is not a member
    check_duplicate_keys(b'[{"a": {"x": 1}, "b": 1}]', 2)  # a nested object: extra colon, no duplicate
    with pytest.raises(ScoringError, match="'b' appears twice"):
        check_duplicate_keys(b'{"a": {"b": 1, "b": 2}}', 1)
    nested = b'[{"a": ' + b'{"a": ' * 3000 + b"1" + b"}" * 3000 + b"}]"
    with pytest.raises(ScoringError, match="deeper"):
        check_duplicate_keys(nested, 1)


def test_split_column_checks_are_linear_and_capped() -> None:
    names = [f"c{i}" for i in range(40_000)]
    names.append(names[-1])
    with pytest.raises(ScoringError, match="'c39999' is listed twice"):
        to_columns({"columns": names, "data": [[0]]}, FEATURES, frozenset(FEATURES), 10)
    with pytest.raises(ScoringError, match="lists 3 names; the model takes 2"):
        to_columns({"columns": ["a", "b", "c"], "data": [[0, 0, 0]]}, FEATURES, frozenset(FEATURES), 10)
