"""Read a request body within a size limit and a deadline; decode ``Content-Encoding: gzip`` within it.

Bodies being received are also bounded together (:class:`Inflight`): at most
``EDGETRAIN_MAX_CONCURRENT_SCORES`` score requests reading their body, holding at most
``EDGETRAIN_MAX_PENDING_BODY_BYTES`` between them (a request reserves its declared ``Content-Length`` up
front, or its bytes as they come when chunked). Past either, the answer is an immediate 503 ``busy``, so
clients that stall half-way through large bodies cannot exhaust memory. Every refusal closes the
connection (``Connection: close``): the rest of a refused body is never read.
"""

from __future__ import annotations

import asyncio
import zlib

from starlette.requests import Request

from .errors import ScoringError

CLOSE = {"Connection": "close"}
_GZIP_WBITS = 31  # zlib: gzip header and trailer
_IDENTITY = {"", "identity"}


def _too_large(limit: int, what: str) -> ScoringError:
    return ScoringError(413, "body_too_large", f"{what} exceeds the limit of {limit} bytes", CLOSE)


def _busy(what: str) -> ScoringError:
    return ScoringError(503, "busy", f"{what}; retry shortly", {"Retry-After": "1", **CLOSE})


class Inflight:
    """Score requests receiving their body, and the body bytes they reserved (one event loop: no lock)."""

    def __init__(self, max_requests: int, max_bytes: int) -> None:
        self.max_requests = max_requests
        self.max_bytes = max_bytes
        self.requests = 0
        self.bytes = 0

    def enter(self) -> None:
        if self.requests >= self.max_requests:
            raise _busy(f"{self.max_requests} score requests are already receiving their body")
        self.requests += 1

    def reserve(self, n: int) -> None:
        if self.bytes + n > self.max_bytes:
            raise _busy(f"bodies being received already hold {self.bytes} of {self.max_bytes} bytes")
        self.bytes += n

    def leave(self, reserved: int) -> None:
        self.requests -= 1
        self.bytes -= reserved


async def _read(request: Request, limit: int, inflight: Inflight) -> bytes:
    declared = request.headers.get("content-length")
    expected = int(declared) if declared is not None and declared.isdigit() else 0
    if expected > limit:
        raise _too_large(limit, f"body of {declared} bytes")
    inflight.enter()
    reserved = 0
    try:
        inflight.reserve(expected)
        reserved = expected
        body = bytearray()
        async for chunk in request.stream():
            size = len(body) + len(chunk)
            if size > limit:
                raise _too_large(limit, "body")
            if size > reserved:
                inflight.reserve(size - reserved)
                reserved = size
            body += chunk
        return bytes(body)
    finally:
        inflight.leave(reserved)


def gunzip(data: bytes, limit: int) -> bytes:
    """The decompressed body, refusing (413) as soon as it would pass ``limit`` bytes (gzip bombs)."""
    inflater = zlib.decompressobj(_GZIP_WBITS)
    try:
        out = inflater.decompress(data, limit + 1)
    except zlib.error as exc:
        raise ScoringError(400, "bad_encoding", f"body is not valid gzip: {exc}", CLOSE) from None
    if len(out) > limit or inflater.unconsumed_tail:
        raise _too_large(limit, "decompressed body")
    if not inflater.eof:
        raise ScoringError(400, "bad_encoding", "gzip body is truncated", CLOSE)
    return out


async def read_body(request: Request, limit: int, timeout: float, inflight: Inflight) -> bytes:
    """The (decoded) body: at most ``limit`` bytes read, in at most ``timeout`` seconds, else 413/408."""
    encoding = request.headers.get("content-encoding", "").strip().lower()
    if encoding not in _IDENTITY and encoding != "gzip":
        raise ScoringError(
            415,
            "unsupported_encoding",
            f"Content-Encoding {encoding[:40]!r} is not supported: send gzip or an uncompressed body",
            CLOSE,
        )
    try:
        async with asyncio.timeout(timeout):
            raw = await _read(request, limit, inflight)
    except TimeoutError:
        raise ScoringError(
            408, "body_timeout", f"the body did not arrive within {timeout:g} seconds", CLOSE
        ) from None
    return gunzip(raw, limit) if encoding == "gzip" else raw
