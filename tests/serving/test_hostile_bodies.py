"""Hostile and unusual bodies: deep nesting, huge column lists, repeated keys, gzip, float32 edges, cost.

Each answer is a 4xx JSON error naming the problem (or a 200 where the input is valid), bounded in size,
logged as one line, and the server keeps serving.
"""

from __future__ import annotations

import gzip
import time

import httpx
import orjson
import pytest
from tests.serving.helpers import Server, TrainedModel
from tests.serving.rawhttp import peak_rss
from tests.serving.test_bad_requests import GOOD, assert_error, row

JSON_HEADERS = {"Content-Type": "application/json"}
MiB = 1024 * 1024


def post(server: Server, body: bytes, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.post(
        server.url + "/score", content=body, headers={**JSON_HEADERS, **(headers or {})}, timeout=30
    )


def nested(depth: int) -> bytes:
    return b"[" * depth + b"1" + b"]" * depth


@pytest.mark.parametrize(
    ("where", "code"),
    [("value", "wrong_type"), ("row", "bad_row"), ("category", "wrong_type")],
)
def test_deep_nesting_is_a_4xx_logged_once(
    default_server: tuple[TrainedModel, Server], where: str, code: str
) -> None:
    _, server = default_server
    deep = nested(1000)
    good = orjson.dumps(GOOD)
    if where == "value":
        body = orjson.dumps([row(torque_nm=0)]).replace(b'"torque_nm":0', b'"torque_nm":' + deep)
    elif where == "row":
        body = b"[" + good + b"," + deep + b"]"
    else:
        body = orjson.dumps([row(type=0)]).replace(b'"type":0', b'"type":' + deep)
    logged_before = server.log.read_text(errors="replace").count("array of 1 items")
    response = post(server, body)
    assert_error(response, 422, code, ["array of 1 items"])
    assert httpx.get(server.url + "/ready").status_code == 200
    time.sleep(0.2)
    log = server.log.read_text(errors="replace")
    assert "Traceback" not in log
    assert log.count("array of 1 items") - logged_before == 1, log[-2000:]


def test_nesting_past_the_parser_limit_is_400(default_server: tuple[TrainedModel, Server]) -> None:
    _, server = default_server
    assert_error(post(server, nested(5000)), 400, "malformed_json", [])


def test_many_split_columns_answer_at_once(default_server: tuple[TrainedModel, Server]) -> None:
    """200,000 column names, the last one repeated: linear checks and a short error at once (a quadratic
    search for the repeated name takes hours, so the bounded client timeout would expire)."""
    _, server = default_server
    names = [f"c{i}" for i in range(200_000)]
    names.append(names[-1])
    body = orjson.dumps({"columns": names, "data": [[0] * len(names)]})
    response = post(server, body)
    assert response.status_code == 422
    assert len(response.content) < 5000


def test_too_many_columns_capped_by_the_model(binary_server: tuple[TrainedModel, Server]) -> None:
    _, server = binary_server
    names = [*GOOD, "extra1", "extra2"]
    body = orjson.dumps({"columns": names, "data": [["M", 1, 2, 3, 4, 5]]})
    assert_error(post(server, body), 422, "too_many_columns", ["6 names", "takes 4", "'extra1'"])


def test_unknown_column_error_is_capped(default_server: tuple[TrainedModel, Server]) -> None:
    """20,000 long unknown names (14 MB) in one record: the error names a few and stays under the cap."""
    _, server = default_server
    record = dict(GOOD)
    for i in range(20_000):
        record[f"unknown_{i}_" + "x" * 700] = 1
    body = orjson.dumps([record])
    assert len(body) > 14_000_000
    response = post(server, body)
    assert_error(response, 422, "unknown_column", ["unknown column", "more unknown columns"])
    assert len(response.content) <= 4096 + 200


def test_many_tiny_rows_are_refused_before_parsing(guarded_server: tuple[TrainedModel, Server]) -> None:
    """16 MiB of ``[{}, {}, ...]`` (old code: ~480 MB of dicts before the row limit applied)."""
    _, server = guarded_server
    count = (16 * MiB - 2) // 4
    body = b"[" + b"{}, " * (count - 1) + b"{}]"
    before = peak_rss(server.process.pid)
    assert_error(post(server, body), 422, "too_many_rows", ["10000 rows"])
    values = b"[[" + b"0.5," * (4 * MiB - 10) + b"0.5]]"
    assert_error(post(server, values), 422, "too_many_values", ["10000 rows of 4 features"])
    grown = peak_rss(server.process.pid) - before
    assert grown < 100 * MiB, f"peak RSS grew by {grown / MiB:.0f} MiB"


def test_brackets_inside_strings_do_not_count(binary_server: tuple[TrainedModel, Server]) -> None:
    """The cheap count over-estimates with brackets and commas in strings; it must never refuse then."""
    _, server = binary_server
    body = orjson.dumps([row(type="{[,:" * 20_000)])  # 80,000 brackets/commas inside one string
    assert_error(post(server, body), 422, "unknown_category", ["'type'"])


def test_duplicate_key_in_a_record_is_named(binary_server: tuple[TrainedModel, Server]) -> None:
    _, server = binary_server
    body = b'[{"type": "M", "air_temperature_k": 300, "torque_nm": 1, "torque_nm": 2, "tool_wear_min": 1}]'
    assert_error(post(server, body), 422, "duplicate_key", ["'torque_nm'"])
    single = b'{"type": "M", "type": "L", "air_temperature_k": 300, "torque_nm": 1, "tool_wear_min": 1}'
    assert_error(post(server, single), 422, "duplicate_key", ["'type'"])
    wrapper = orjson.dumps({"columns": list(GOOD), "data": [["M", 1, 2, 3]]})
    twice = wrapper[:-1] + b',"data":[["M",1,2,3]]}'
    assert_error(post(server, twice), 422, "duplicate_key", ["'data'"])


def test_colons_in_values_are_not_duplicates(binary_server: tuple[TrainedModel, Server]) -> None:
    _, server = binary_server
    body = b'[{"type": "M:", "air_temperature_k": 300, "torque_nm": 1, "tool_wear_min": 1}]'
    assert_error(post(server, body), 422, "unknown_category", ["'M:'"])


def test_largest_float32_literal_is_accepted(binary_server: tuple[TrainedModel, Server]) -> None:
    _, server = binary_server
    template = b'[{"type": "M", "air_temperature_k": 300, "torque_nm": VALUE, "tool_wear_min": 1}]'
    for literal in (b"3.4028235e38", b"-3.4028235e38", b"3.4028234663852886e38"):
        response = post(server, template.replace(b"VALUE", literal))
        assert response.status_code == 200, (literal, response.text)
    too_big = post(server, template.replace(b"VALUE", b"3.4028236e38"))
    assert_error(too_big, 422, "out_of_range", ["'torque_nm'"])


def test_gzip_body_is_decoded(binary_server: tuple[TrainedModel, Server]) -> None:
    _, server = binary_server
    plain = orjson.dumps([GOOD, row(type="L")])
    expected = post(server, plain)
    assert expected.status_code == 200
    zipped = post(server, gzip.compress(plain), {"Content-Encoding": "gzip"})
    assert zipped.status_code == 200, zipped.text
    assert zipped.json() == expected.json()


def test_gzip_bomb_is_413(binary_server: tuple[TrainedModel, Server]) -> None:
    """10 MB of spaces compress to ~10 kB; the decoded size is held to the 200 kB body limit."""
    _, server = binary_server
    bomb = gzip.compress(b"[" + b" " * 10_000_000 + b"]")
    assert len(bomb) < 200_000
    response = post(server, bomb, {"Content-Encoding": "gzip"})
    assert_error(response, 413, "body_too_large", ["decompressed"])
    assert httpx.get(server.url + "/ready").status_code == 200


@pytest.mark.parametrize(
    ("encoding", "body", "status", "code"),
    [("gzip", b"not gzip at all", 400, "bad_encoding"), ("br", b"[]", 415, "unsupported_encoding")],
)
def test_bad_or_unknown_encoding(
    binary_server: tuple[TrainedModel, Server], encoding: str, body: bytes, status: int, code: str
) -> None:
    _, server = binary_server
    assert_error(post(server, body, {"Content-Encoding": encoding}), status, code, [])


def test_405_names_the_allowed_methods(binary_server: tuple[TrainedModel, Server]) -> None:
    _, server = binary_server
    response = httpx.get(server.url + "/score")
    assert_error(response, 405, "method_not_allowed", [])
    assert response.headers["allow"] == "POST"
    assert httpx.post(server.url + "/ready").headers["allow"] == "GET"


def test_index_must_be_an_array(binary_server: tuple[TrainedModel, Server]) -> None:
    _, server = binary_server
    body = orjson.dumps({"columns": list(GOOD), "data": [["M", 1, 2, 3]], "index": 7})
    assert_error(post(server, body), 422, "bad_shape", ["'index'"])
    body = orjson.dumps({"columns": list(GOOD), "data": [["M", 1, 2, 3]], "index": ["a"]})
    assert post(server, body).status_code == 200


def test_stripping_strings_stays_linear(default_server: tuple[TrainedModel, Server]) -> None:
    """Brackets over the bound, then 8 MB of escaped quotes in an unterminated string: a string-stripping
    scan that retried from every quote would take hours (bounded here by the client timeout)."""
    _, server = default_server
    body = b"[" * 20_000 + b'"' + b'\\"' * 4_000_000
    assert_error(post(server, body), 422, "too_many_rows", ["10000 rows"])


def test_many_strings_are_refused_by_count(default_server: tuple[TrainedModel, Server]) -> None:
    _, server = default_server
    body = b"[" + b'"a",' * (4 * MiB - 2) + b'"a"]'
    assert_error(post(server, body), 422, "too_many_values", ["strings"])
