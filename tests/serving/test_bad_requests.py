"""Every bad request gets a 4xx JSON error naming the problem; the server keeps serving; never a 5xx."""

from __future__ import annotations

import socket

import httpx
import orjson
import pytest
from tests.serving.helpers import Server, TrainedModel, records

GOOD = {"type": "M", "air_temperature_k": 300.0, "torque_nm": 41.5, "tool_wear_min": 10}


def row(**changes: object) -> dict:
    out = dict(GOOD)
    for key, value in changes.items():
        if value is KeyError:
            out.pop(key)
        else:
            out[key] = value
    return out


CASES = [
    # (id, body bytes, status, code, words the message must contain)
    ("malformed", b'{"columns": [', 400, "malformed_json", ["not valid JSON"]),
    ("not-utf8", b"[\xff\xfe]", 400, "malformed_json", ["not valid JSON"]),
    ("empty-body", b"", 400, "empty_body", ["empty"]),
    (
        "nan",
        b'[{"type": "M", "air_temperature_k": NaN, "torque_nm": 1, "tool_wear_min": 1}]',
        400,
        "non_finite_number",
        ["NaN", "null"],
    ),
    (
        "infinity",
        b'[{"type": "M", "air_temperature_k": -Infinity, "torque_nm": 1, "tool_wear_min": 1}]',
        400,
        "non_finite_number",
        ["Infinity"],
    ),
    (
        "overflow",
        b'[{"type": "M", "air_temperature_k": 1e400, "torque_nm": 1, "tool_wear_min": 1}]',
        400,
        "non_finite_number",
        [],
    ),
    ("float32-range", orjson.dumps([row(torque_nm=1e39)]), 422, "out_of_range", ["'torque_nm'", "row 0"]),
    (
        "missing-column",
        orjson.dumps([GOOD, row(torque_nm=KeyError)]),
        422,
        "missing_column",
        ["row 1", "'torque_nm'"],
    ),
    ("extra-column", orjson.dumps([row(spindle=3)]), 422, "unknown_column", ["'spindle'"]),
    (
        "misspelled",
        orjson.dumps([row(torque_nm=KeyError, torqe_nm=4.0)]),
        422,
        "unknown_column",
        ["'torqe_nm'", "did you mean 'torque_nm'"],
    ),
    (
        "misspelled-split",
        orjson.dumps(
            {"columns": ["type", "air_temp_k", "torque_nm", "tool_wear_min"], "data": [["M", 1, 2, 3]]}
        ),
        422,
        "unknown_column",
        ["did you mean 'air_temperature_k'"],
    ),
    (
        "string-number",
        orjson.dumps([GOOD, GOOD, row(torque_nm="41.5")]),
        422,
        "wrong_type",
        ["'torque_nm'", "row 2", "string"],
    ),
    (
        "bool-number",
        orjson.dumps([row(tool_wear_min=True)]),
        422,
        "wrong_type",
        ["'tool_wear_min'", "boolean"],
    ),
    ("object-number", orjson.dumps([row(tool_wear_min={"a": 1})]), 422, "wrong_type", ["object"]),
    ("number-category", orjson.dumps([GOOD, row(type=2)]), 422, "wrong_type", ["'type'", "row 1"]),
    ("list-category", orjson.dumps([row(type=["M"])]), 422, "wrong_type", ["'type'", "array"]),
    ("unknown-category", orjson.dumps([row(type="X")]), 422, "unknown_category", ["'X'", "'H', 'L', 'M'"]),
    ("empty-list", b"[]", 422, "empty_batch", ["no rows"]),
    ("empty-split", orjson.dumps({"columns": list(GOOD), "data": []}), 422, "empty_batch", []),
    ("too-many-rows", orjson.dumps([GOOD] * 501), 422, "too_many_rows", ["501", "500"]),
    ("scalar", b"42", 422, "bad_shape", []),
    ("null", b"null", 422, "bad_shape", []),
    ("row-not-object", orjson.dumps([GOOD, [1, 2]]), 422, "bad_row", ["row 1"]),
    (
        "short-row",
        orjson.dumps({"columns": list(GOOD), "data": [["M", 1, 2]]}),
        422,
        "bad_row",
        ["row 0", "3 values"],
    ),
    (
        "duplicate-column",
        orjson.dumps({"columns": [*GOOD, "type"], "data": [["M", 1, 2, 3, "M"]]}),
        422,
        "duplicate_column",
        ["'type'"],
    ),
    (
        "split-extra-key",
        orjson.dumps({"columns": list(GOOD), "data": [], "rows": 1}),
        422,
        "bad_shape",
        ["'rows'"],
    ),
    ("data-lists", orjson.dumps({"data": [["M", 1, 2, 3]]}), 422, "bad_shape", ["'columns'"]),
    ("input-data-scalar", orjson.dumps({"input_data": 3}), 422, "bad_shape", ["input_data"]),
]


def assert_error(response: httpx.Response, status: int, code: str, words: list[str]) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert error["status"] == status
    assert error["code"] == code, error
    for word in words:
        assert word in error["message"], error["message"]
    assert "Traceback" not in response.text


@pytest.mark.parametrize(
    ("body", "status", "code", "words"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_body(
    binary_server: tuple[TrainedModel, Server], body: bytes, status: int, code: str, words: list[str]
) -> None:
    _, server = binary_server
    response = httpx.post(server.url + "/score", content=body, headers={"Content-Type": "application/json"})
    assert_error(response, status, code, words)
    assert httpx.get(server.url + "/ready").status_code == 200


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_wrong_content_type(binary_server: tuple[TrainedModel, Server], content_type: str | None) -> None:
    _, server = binary_server
    headers = {"Content-Type": content_type} if content_type else {}
    response = httpx.post(server.url + "/score", content=orjson.dumps([GOOD]), headers=headers)
    assert_error(response, 415, "unsupported_media_type", ["application/json"])


def test_json_with_charset_is_fine(binary_server: tuple[TrainedModel, Server]) -> None:
    _, server = binary_server
    headers = {"Content-Type": "application/json; charset=utf-8"}
    assert httpx.post(server.url + "/score", content=orjson.dumps([GOOD]), headers=headers).status_code == 200


def test_null_means_missing(binary_server: tuple[TrainedModel, Server]) -> None:
    _, server = binary_server
    body = [row(type=None, torque_nm=None)]
    response = httpx.post(server.url + "/score", json=body)
    assert response.status_code == 200, response.text
    assert len(response.json()["probabilities"]) == 1


HEAD = b"POST /score HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"


def raw_exchange(server: Server, head: bytes, chunks: list[bytes]) -> bytes:
    """Send a hand-made request over a raw socket and return what the server answers (bounded)."""
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(head)
        try:
            for chunk in chunks:
                sock.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass
        data = b""
        while b"\r\n\r\n" not in data:
            part = sock.recv(65536)
            if not part:
                break
            data += part
        return data


def test_body_too_large_declared(binary_server: tuple[TrainedModel, Server]) -> None:
    """Content-Length over the limit: 413 before the body is read."""
    _, server = binary_server
    head = HEAD + b"Content-Length: 1000000000\r\n\r\n"
    answer = raw_exchange(server, head, [b"[" * 100])
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert httpx.get(server.url + "/ready").status_code == 200


def test_body_too_large_chunked(binary_server: tuple[TrainedModel, Server]) -> None:
    """No Content-Length (chunked): the limit is enforced while reading, not after buffering everything."""
    _, server = binary_server
    head = HEAD + b"Transfer-Encoding: chunked\r\n\r\n"
    chunk = b" " * 16384
    framed = b"%x\r\n%s\r\n" % (len(chunk), chunk)
    answer = raw_exchange(server, head, [framed] * 20)  # 320 kB > 200 kB limit, no terminating chunk
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert httpx.get(server.url + "/ready").status_code == 200


def test_body_just_under_limit_is_read(binary_server: tuple[TrainedModel, Server]) -> None:
    model, server = binary_server
    body = orjson.dumps(records(model.test_frame.iloc[:10]))
    assert len(body) < 200_000
    response = httpx.post(server.url + "/score", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 200


def test_unknown_route_and_method(binary_server: tuple[TrainedModel, Server]) -> None:
    _, server = binary_server
    assert_error(httpx.get(server.url + "/nope"), 404, "not_found", [])
    assert_error(httpx.get(server.url + "/score"), 405, "method_not_allowed", [])
