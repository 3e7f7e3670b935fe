"""Connection hygiene against a real server process over real loopback sockets (bounded loops).

The server runs with short limits (conftest ``GUARDED_ENV``: header 1 s, body 3 s, keep-alive 1 s, 8 score
requests receiving a body at a time) and default sizes (16 MiB bodies, 64 MiB of bodies in flight). Each
test shows a hostile client pattern is cut off, with a JSON answer where one is possible, and that the
probes keep answering meanwhile.
"""

from __future__ import annotations

import time

import pytest
from tests.serving.helpers import Server, TrainedModel
from tests.serving.rawhttp import closed_by_server, connect, get, peak_rss, read_answer, send_quietly

MiB = 1024 * 1024
HEAD = "POST /score HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {n}\r\n\r\n"


def assert_probes_answer(server: Server) -> None:
    for path in ("/health", "/ready"):
        answer, _ = get(server.url, path, timeout=5)
        assert answer is not None, f"{path} did not answer"
        assert answer.status == 200, answer


def test_idle_connections_are_closed(guarded_server: tuple[TrainedModel, Server]) -> None:
    """Sockets that never send a byte are closed after the header timeout (1 s here)."""
    _, server = guarded_server
    sockets = [connect(server.url, timeout=6) for _ in range(100)]
    try:
        assert_probes_answer(server)
        assert all(closed_by_server(sock) for sock in sockets)
    finally:
        for sock in sockets:
            sock.close()


def test_keep_alive_connection_is_closed_after_idling(guarded_server: tuple[TrainedModel, Server]) -> None:
    _, server = guarded_server
    with connect(server.url, timeout=4) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = read_answer(sock)
        assert answer is not None
        assert answer.status == 200
        assert closed_by_server(sock)  # keep-alive 1 s, well within the 4 s socket timeout


def test_header_sent_a_byte_at_a_time_gets_408(guarded_server: tuple[TrainedModel, Server]) -> None:
    _, server = guarded_server
    request = b"GET /health HTTP/1.1\r\nHost: x\r\n" + b"X-Slow: " + b"a" * 200 + b"\r\n\r\n"
    with connect(server.url, timeout=5) as sock:
        sent = 0
        for byte in request[:-4]:  # never completes the head; bounded: at most ~230 sends, 0.05 s apart
            if not send_quietly(sock, bytes([byte])):
                break
            sent += 1
            time.sleep(0.05)
        answer = read_answer(sock)
    assert sent < len(request) - 4, "the server let a header trickle in for ever"
    assert answer is not None
    assert answer.status == 408
    assert answer.error()["code"] == "header_timeout"
    assert answer.headers["connection"] == "close"


@pytest.mark.parametrize("size", [64 * 1024, 30 * MiB])
def test_oversized_header_gets_431(guarded_server: tuple[TrainedModel, Server], size: int) -> None:
    _, server = guarded_server
    with connect(server.url, timeout=10) as sock:
        sock.sendall(b"GET /ready HTTP/1.1\r\nHost: x\r\nX-Big: ")
        block = b"a" * (64 * 1024)
        for _ in range(size // len(block)):  # stops as soon as the server has closed
            if not send_quietly(sock, block):
                break
        answer = read_answer(sock)
    assert answer is not None
    assert answer.status == 431
    assert answer.error()["code"] == "header_too_large"
    assert_probes_answer(server)


def test_stalled_bodies_are_capped_and_timed_out(guarded_server: tuple[TrainedModel, Server]) -> None:
    """40 clients stall half-way through 15 MiB bodies: 4 fit the 64 MiB budget and get 408 after the body
    timeout, the rest get an immediate JSON 503; memory stays near 4 bodies' worth; probes answer."""
    _, server = guarded_server
    pid = server.process.pid
    before = peak_rss(pid)
    declared = 15 * MiB
    half = b" " * (declared // 2)
    sockets = []
    try:
        for _ in range(40):
            sock = connect(server.url, timeout=10)
            sockets.append(sock)
            sock.sendall(HEAD.format(n=declared).encode())
            send_quietly(sock, half)
        assert_probes_answer(server)
        answers = [read_answer(sock) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()
    assert all(answer is not None for answer in answers)
    codes = sorted((a.status, a.error()["code"]) for a in answers if a is not None)
    assert codes == [(408, "body_timeout")] * 4 + [(503, "busy")] * 36, codes
    busy = next(a for a in answers if a is not None and a.status == 503)
    assert busy.headers["retry-after"] == "1"
    assert "bodies being received already hold" in busy.error()["message"]
    grown = peak_rss(pid) - before
    assert grown < 40 * declared // 4, f"peak RSS grew by {grown / MiB:.0f} MiB"  # 40 half bodies: 300 MiB
    assert_probes_answer(server)


def test_a_freed_slot_is_reused(guarded_server: tuple[TrainedModel, Server]) -> None:
    """Past 8 requests receiving a body: 503; once they go, scoring works again (the count is released)."""
    _, server = guarded_server
    sockets = [connect(server.url, timeout=10) for _ in range(8)]
    try:
        for sock in sockets:
            sock.sendall(HEAD.format(n=100).encode() + b"[")
        time.sleep(0.3)
        with connect(server.url) as extra:
            extra.sendall(HEAD.format(n=2).encode() + b"[]")
            answer = read_answer(extra)
        assert answer is not None
        assert answer.status == 503
        assert "8 score requests" in answer.error()["message"]
    finally:
        for sock in sockets:
            sock.close()  # disconnect mid-body: the server frees the slots
    deadline = time.monotonic() + 10
    status = 0
    while time.monotonic() < deadline and status != 422:
        with connect(server.url) as sock:
            sock.sendall(HEAD.format(n=2).encode() + b"[]")
            answer = read_answer(sock)
        status = answer.status if answer else 0
        time.sleep(0.1)
    assert status == 422  # empty batch: the request reached the scoring code again


@pytest.mark.parametrize(
    "request_bytes",
    [b"GARBAGE\r\n\r\n", b"GET /ready HTTP/1.1\r\nBad Header: x\r\n\r\n", b"GET / HTTP/9.9\r\n\r\n"],
    ids=["request-line", "header-name", "version"],
)
def test_parser_errors_are_json(guarded_server: tuple[TrainedModel, Server], request_bytes: bytes) -> None:
    _, server = guarded_server
    with connect(server.url) as sock:
        sock.sendall(request_bytes)
        answer = read_answer(sock)
    assert answer is not None
    assert answer.status == 400
    assert answer.error()["code"] == "bad_http_request"
    assert answer.headers["connection"] == "close"


def test_unread_body_is_not_drained(guarded_server: tuple[TrainedModel, Server]) -> None:
    """A 404 answered before the body is read: the connection closes instead of reading a trickle for ever."""
    _, server = guarded_server
    with connect(server.url, timeout=5) as sock:
        head = HEAD.replace("/score", "/nope").format(n=1_000_000)
        sock.sendall(head.encode() + b"[" * 100)
        answer = read_answer(sock)
        assert answer is not None
        assert answer.status == 404
        assert answer.error()["code"] == "not_found"
        for _ in range(20):  # a slow trickle; the server must have closed well before it ends
            if not send_quietly(sock, b" "):
                break
            time.sleep(0.05)
        assert closed_by_server(sock)
