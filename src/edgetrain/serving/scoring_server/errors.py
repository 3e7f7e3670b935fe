"""The one error type a scoring request can end with: a status, a stable code and a readable message."""

from __future__ import annotations

from typing import Any

import orjson

#: Default cap on an error message (bytes of UTF-8); the server uses ``EDGETRAIN_MAX_ERROR_BYTES``.
MAX_ERROR_BYTES = 4096
_TRUNCATED = " ... (truncated)"


class ScoringError(Exception):
    """A client-side problem (4xx) or a server state (503) reported as JSON, never with a trace."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}

    def to_json(self, max_bytes: int = MAX_ERROR_BYTES) -> bytes:
        return error_body(self.status, self.code, self.message, max_bytes)


def clip(message: str, max_bytes: int = MAX_ERROR_BYTES) -> str:
    """``message`` cut to at most ``max_bytes`` bytes of UTF-8, saying so when it was cut."""
    if len(message) * 4 <= max_bytes:
        return message
    raw = message.encode("utf-8")
    if len(raw) <= max_bytes:
        return message
    keep = raw[: max(0, max_bytes - len(_TRUNCATED))].decode("utf-8", errors="ignore")
    return keep + _TRUNCATED


def error_body(status: int, code: str, message: str, max_bytes: int = MAX_ERROR_BYTES) -> bytes:
    """``{"error": {"status": 422, "code": "unknown_column", "message": "..."}}``, message capped."""
    return orjson.dumps({"error": {"status": status, "code": code, "message": clip(message, max_bytes)}})


def show(value: Any, width: int = 40) -> str:
    """A short, safe rendering of a client value: containers are described, never recursed into."""
    if isinstance(value, list):
        return f"[...] (an array of {len(value)} items)"
    if isinstance(value, dict):
        return f"{{...}} (an object with {len(value)} keys)"
    text = repr(value[: width + 1] if isinstance(value, str) else value)
    return text if len(text) <= width else text[: width - 3] + "..."


def bad_request(code: str, message: str) -> ScoringError:
    return ScoringError(400, code, message)


def unprocessable(code: str, message: str) -> ScoringError:
    return ScoringError(422, code, message)
