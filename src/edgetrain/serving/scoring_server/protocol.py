"""uvicorn's httptools protocol with connection hygiene: header size and time limits, JSON errors.

uvicorn itself bounds neither the size of a request head (httptools buffers a header of any length,
re-concatenating it as it grows) nor the time a client may take to send it (a connection that sends
nothing, or one byte a second, is kept forever), and the errors it writes itself are ``text/plain``.
This subclass, selected with ``uvicorn.run(http=...)``:

* counts the bytes of each request head before the parser sees them: over ``EDGETRAIN_MAX_HEADER_BYTES``
  it answers 431 and closes;
* gives each request head ``EDGETRAIN_HEADER_TIMEOUT`` seconds from the connection's start or the
  request's first byte: a partial head then gets 408, a connection that sent nothing is closed silently;
* answers a request the parser refuses (malformed request line, bad header) with the JSON error shape;
* closes the connection when a response is sent before the request body was read to its end;
* acknowledges every chunk it receives at once (``TCP_QUICKACK``) and sends each response's head and body
  as one segment (``TCP_CORK`` from the request's headers to the response's end; Linux). A proxy that holds
  a small write until the previous one is acknowledged (Nagle's algorithm, as ``systemd-socket-proxyd`` in
  front of an edge host does) otherwise waits for a delayed ACK twice: once when a client (httpx, requests)
  sends headers and body in two writes, once when uvicorn does the same with the response: 40 ms each, on
  every request (bench/results.md, "Deploy"). A ``100 Continue`` waits for the cork's ceiling (200 ms).

It subclasses uvicorn internals (``HttpToolsProtocol``, pinned in ``requirements.lock``); the tests in
``tests/serving/test_connections.py`` exercise every override against a real server process.

Keep-alive idling is uvicorn's ``timeout_keep_alive`` (``EDGETRAIN_KEEP_ALIVE_TIMEOUT``); body size and
time are enforced by the application (:mod:`.body`), which reads the body as it arrives.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import socket
from typing import Any

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from .errors import error_body
from .settings import Settings

_HEAD_END = b"\r\n\r\n"
_QUICKACK: int | None = getattr(socket, "TCP_QUICKACK", None)
_CORK: int | None = getattr(socket, "TCP_CORK", None)


@functools.cache
def _settings() -> Settings:
    return Settings.from_env()


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        settings = _settings()
        self.max_header_bytes = settings.max_header_bytes
        self.header_timeout = settings.header_timeout
        self._in_head = True
        self._head_bytes = 0
        self._head_tail = b""
        self._head_timer: asyncio.TimerHandle | None = None

    # -- request head: size and time ------------------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_timer()

    def _arm_head_timer(self) -> None:
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(self.header_timeout, self._head_timed_out)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.transport.is_closing():
            return
        if self._head_bytes:
            self.logger.info("request head not received within %gs: closing", self.header_timeout)
            message = f"request line and headers not received within {self.header_timeout:g} seconds"
            self._refuse(408, "header_timeout", message)
        else:
            self.transport.close()

    def _tcp_option(self, option: int | None, value: int) -> None:
        sock = self.transport.get_extra_info("socket")
        if option is not None and sock is not None:
            with contextlib.suppress(OSError):  # not a TCP socket (a Unix socket in tests)
                sock.setsockopt(socket.IPPROTO_TCP, option, value)

    def _ack_now(self) -> None:
        """Send the ACK for what just arrived now, not after the kernel's delayed-ACK timer (see above)."""
        self._tcp_option(_QUICKACK, 1)

    def data_received(self, data: bytes) -> None:
        self._ack_now()
        if self._in_head:
            window = self._head_tail + data
            end = window.find(_HEAD_END)
            self._head_bytes += len(data) if end < 0 else max(0, end + len(_HEAD_END) - len(self._head_tail))
            if self._head_bytes > self.max_header_bytes:
                self.logger.info("request head over %d bytes: refused", self.max_header_bytes)
                message = f"request line and headers exceed the limit of {self.max_header_bytes} bytes"
                self._refuse(431, "header_too_large", message)
                return
            self._head_tail = window[-(len(_HEAD_END) - 1) :]
        super().data_received(data)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm_head_timer()

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._cancel_head_timer()
        self._tcp_option(_CORK, 1)  # the response's head and body leave together (see above)
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._in_head, self._head_bytes, self._head_tail = True, 0, b""

    def on_response_complete(self) -> None:
        # The application answered without reading the whole body (a 404, a 405, a refusal): close rather
        # than drain the rest, which a client could trickle in for ever.
        if self.cycle is not None and self.cycle.more_body and not self.transport.is_closing():
            self.transport.close()
        self._tcp_option(_CORK, 0)  # uncorked: what the response wrote goes out now
        super().on_response_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        super().connection_lost(exc)

    # -- errors below the application: JSON like everything else ------------------------------------
    def send_400_response(self, msg: str) -> None:
        self._refuse(400, "bad_http_request", f"{msg} (malformed request line or headers)")

    def _refuse(self, status: int, code: str, message: str) -> None:
        """Write a JSON error with ``Connection: close`` and close (the request was never handed on)."""
        self._cancel_head_timer()
        self._in_head = False
        body = error_body(status, code, message)
        head = [STATUS_LINE[status]]
        for name, value in self.server_state.default_headers:
            head.append(name + b": " + value + b"\r\n")
        head.append(b"content-type: application/json\r\ncontent-length: %d\r\n" % len(body))
        head.append(b"connection: close\r\n\r\n")
        self.transport.write(b"".join(head) + body)
        self.transport.close()
