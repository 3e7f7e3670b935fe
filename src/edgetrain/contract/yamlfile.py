"""The one YAML loader: every failure is one line naming the file (and line) and what is wrong."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from edgetrain.errors import ConfigError, EdgetrainError


def parse_yaml(
    text: bytes | str | None, where: str, *, error: type[EdgetrainError] = ConfigError
) -> dict[str, Any]:
    """Parse a YAML mapping (``None`` or empty is ``{}``); ``error`` naming ``where`` otherwise."""
    try:
        data = yaml.safe_load(text or "")
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f"line {mark.line + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise error(f"{where}: {line}{problem}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise error(f"{where}: top level must be a mapping, got {type(data).__name__}")
    return data


def read_text(path: Path | str, *, error: type[EdgetrainError] = ConfigError) -> str:
    """A UTF-8 file's text, or ``error`` naming the file."""
    path = Path(path)
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"{path}: cannot read: {getattr(exc, 'strerror', None) or exc}") from None


def read_yaml(path: Path | str, *, error: type[EdgetrainError] = ConfigError) -> dict[str, Any]:
    """Read a YAML mapping from ``path``, or raise ``error`` (ConfigError by default) naming the file."""
    return parse_yaml(read_text(path, error=error), str(path), error=error)
