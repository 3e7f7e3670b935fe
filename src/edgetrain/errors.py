"""Errors that end a command with one clear line and a distinct exit code.

Every module raises a subclass of :class:`EdgetrainError`; only the CLI layer turns it into
``edgetrain: error: <message>`` on stderr and returns ``exit_code``. Nothing else prints.
"""

from __future__ import annotations


class EdgetrainError(Exception):
    """A failure the user can act on. ``str(err)`` is the one line shown to them."""

    exit_code: int = 1

    def __init__(self, message: str, *, exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class ConfigError(EdgetrainError):
    """A config or params file is missing, malformed or fails validation."""

    exit_code = 2


class DataError(EdgetrainError):
    """Input data breaks the schema or cannot train a model (bad column, dtype, labels...)."""

    exit_code = 3


class StorageError(EdgetrainError):
    """Blob storage is unreachable, refuses credentials or rejects the API version."""

    exit_code = 4


class ComputeError(EdgetrainError):
    """The training cluster is unreachable, too small, or lost a worker while training."""

    exit_code = 13


class IntegrityError(EdgetrainError):
    """A file disagrees with the md5 ``dvc.lock`` records, or ``dvc.lock`` itself is unreadable."""

    exit_code = 6
