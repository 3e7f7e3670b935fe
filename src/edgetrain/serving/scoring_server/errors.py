"""The one error type a scoring request can end with: a status, a stable code and a readable message."""

from __future__ import annotations

import orjson


class ScoringError(Exception):
    """A client-side problem (4xx) or a server state (503) reported as JSON, never with a trace."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def to_json(self) -> bytes:
        return error_body(self.status, self.code, self.message)


def error_body(status: int, code: str, message: str) -> bytes:
    """``{"error": {"status": 422, "code": "unknown_column", "message": "..."}}``."""
    return orjson.dumps({"error": {"status": status, "code": code, "message": message}})


def bad_request(code: str, message: str) -> ScoringError:
    return ScoringError(400, code, message)


def unprocessable(code: str, message: str) -> ScoringError:
    return ScoringError(422, code, message)
