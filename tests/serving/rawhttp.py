"""Raw-socket HTTP/1.1 for the connection tests: hand-made requests, bounded reads, parsed answers."""

from __future__ import annotations

import select
import socket
import time
from dataclasses import dataclass
from pathlib import Path

import orjson


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def error(self) -> dict:
        assert self.headers.get("content-type", "").startswith("application/json"), self
        return orjson.loads(self.body)["error"]


def address(url: str) -> tuple[str, int]:
    host, port = url.removeprefix("http://").split(":")
    return host, int(port)


def connect(url: str, timeout: float = 10.0) -> socket.socket:
    return socket.create_connection(address(url), timeout=timeout)


def read_answer(sock: socket.socket) -> Answer | None:
    """One response (head + Content-Length body), or None when the server closed without answering."""
    data = b""
    while b"\r\n\r\n" not in data:
        try:
            part = sock.recv(65536)
        except ConnectionResetError:
            part = b""
        if not part:
            return None
        data += part
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        part = sock.recv(65536)
        if not part:
            break
        body += part
    return Answer(status, headers, body)


def closed_by_server(sock: socket.socket) -> bool:
    """True when the peer has closed (EOF or reset) within the socket's timeout; False if still open."""
    try:
        return sock.recv(65536) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def answered(sock: socket.socket) -> bool:
    """True when the server has written something (or closed): stop sending, read the answer."""
    readable, _, _ = select.select([sock], [], [], 0)
    return bool(readable)


def send_quietly(sock: socket.socket, data: bytes) -> bool:
    """sendall, returning False (instead of raising) when the server already answered or closed."""
    if answered(sock):
        return False
    try:
        sock.sendall(data)
    except (BrokenPipeError, ConnectionResetError, TimeoutError):
        return False
    return True


def get(url: str, path: str, timeout: float = 5.0) -> tuple[Answer | None, float]:
    """A GET on a fresh connection and the seconds it took (used to show probes stay responsive)."""
    started = time.monotonic()
    with connect(url, timeout) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        answer = read_answer(sock)
    return answer, time.monotonic() - started


def peak_rss(pid: int) -> int:
    """The process's resident-set high-water mark in bytes (``VmHWM``)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM in /proc status")
