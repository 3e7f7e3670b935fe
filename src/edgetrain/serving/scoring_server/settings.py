"""Runtime settings, all from environment variables, so one image fits Azure ML and plain Docker."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

#: Default model directory: ``model/`` next to this package in the build context.
DEFAULT_MODEL_DIR = Path(__file__).resolve().parent.parent / "model"

UNKNOWN_CATEGORY_POLICIES = ("error", "missing")


class SettingsError(ValueError):
    """An environment variable holds a value the server cannot use."""


def _route(env: Mapping[str, str], name: str, default: str) -> str:
    value = env.get(name, "").strip() or default
    if not value.startswith("/"):
        value = "/" + value
    return value


def _int(env: Mapping[str, str], name: str, default: int, minimum: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not an integer") from None
    if value < minimum:
        raise SettingsError(f"{name}={value} must be at least {minimum}")
    return value


@dataclass(frozen=True)
class Settings:
    host: str = "0.0.0.0"  # noqa: S104 - a container must listen on all interfaces
    port: int = 5001
    workers: int = 1
    score_route: str = "/score"
    liveness_route: str = "/health"
    readiness_route: str = "/ready"
    metadata_route: str = "/metadata"
    model_dir: Path = DEFAULT_MODEL_DIR
    max_body_bytes: int = 16 * 1024 * 1024
    max_rows: int = 10_000
    unknown_category: str = "error"
    nthread: int = 1
    graceful_timeout: int = 20
    log_level: str = "info"
    access_log: bool = False

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read ``PORT``, ``WORKERS``, ``EDGETRAIN_*`` (see the README's serving section)."""
        env = os.environ if env is None else env
        policy = env.get("EDGETRAIN_UNKNOWN_CATEGORY", "").strip().lower() or "error"
        if policy not in UNKNOWN_CATEGORY_POLICIES:
            raise SettingsError(
                f"EDGETRAIN_UNKNOWN_CATEGORY={policy!r}: use one of {UNKNOWN_CATEGORY_POLICIES}"
            )
        routes = {
            "score_route": _route(env, "EDGETRAIN_SCORE_ROUTE", "/score"),
            "liveness_route": _route(env, "EDGETRAIN_LIVENESS_ROUTE", "/health"),
            "readiness_route": _route(env, "EDGETRAIN_READINESS_ROUTE", "/ready"),
            "metadata_route": _route(env, "EDGETRAIN_METADATA_ROUTE", "/metadata"),
        }
        return cls(
            host=env.get("HOST", "").strip() or cls.host,
            port=_int(env, "PORT", cls.port, 1),
            workers=_int(env, "WORKERS", cls.workers, 1),
            model_dir=Path(env.get("EDGETRAIN_MODEL_DIR", "").strip() or DEFAULT_MODEL_DIR),
            max_body_bytes=_int(env, "EDGETRAIN_MAX_BODY_BYTES", cls.max_body_bytes, 1),
            max_rows=_int(env, "EDGETRAIN_MAX_ROWS", cls.max_rows, 1),
            unknown_category=policy,
            nthread=_int(env, "EDGETRAIN_NTHREAD", cls.nthread, 0),
            graceful_timeout=_int(env, "EDGETRAIN_GRACEFUL_TIMEOUT", cls.graceful_timeout, 0),
            log_level=env.get("EDGETRAIN_LOG_LEVEL", "").strip().lower() or cls.log_level,
            access_log=env.get("EDGETRAIN_ACCESS_LOG", "").strip().lower() in {"1", "true", "yes"},
            **routes,
        )
