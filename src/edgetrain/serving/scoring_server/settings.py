"""Runtime settings, all from environment variables, so one image fits Azure ML and plain Docker."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

#: Default model directory: ``model/`` next to this package in the build context.
DEFAULT_MODEL_DIR = Path(__file__).resolve().parent.parent / "model"

UNKNOWN_CATEGORY_POLICIES = ("error", "missing")
#: Default budget for bodies being received at once, in full-size bodies (EDGETRAIN_MAX_PENDING_BODY_BYTES).
PENDING_BODIES = 4
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


class SettingsError(ValueError):
    """An environment variable holds a value the server cannot use."""


def _route(env: Mapping[str, str], name: str, default: str) -> str:
    value = env.get(name, "").strip() or default
    if not value.startswith("/"):
        value = "/" + value
    return value


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise SettingsError(f"{name}={raw!r}: use one of {_TRUE + _FALSE}")


def _float(env: Mapping[str, str], name: str, default: float, minimum: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a number") from None
    if not value >= minimum or value == float("inf"):
        raise SettingsError(f"{name}={raw} must be a finite number of at least {minimum}")
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
    # Exposure: /metadata tells the commit, data version, metrics and categories; /openapi.json the schema.
    metadata_enabled: bool = True
    openapi_enabled: bool = True
    # Connection hygiene and per-request cost (src/edgetrain/serving/README.md "Limits"): every limit
    # answers 4xx/503 JSON.
    max_header_bytes: int = 32 * 1024
    header_timeout: float = 10.0
    body_timeout: float = 30.0
    keep_alive_timeout: float = 5.0
    max_concurrent_scores: int = 64
    max_pending_body_bytes: int = PENDING_BODIES * 16 * 1024 * 1024
    max_error_bytes: int = 4096

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read ``PORT``, ``WORKERS``, ``EDGETRAIN_*`` (docs/serving.md, src/edgetrain/serving/README.md)."""
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
        max_body_bytes = _int(env, "EDGETRAIN_MAX_BODY_BYTES", cls.max_body_bytes, 1)
        return cls(
            host=env.get("HOST", "").strip() or cls.host,
            port=_int(env, "PORT", cls.port, 1),
            workers=_int(env, "WORKERS", cls.workers, 1),
            model_dir=Path(env.get("EDGETRAIN_MODEL_DIR", "").strip() or DEFAULT_MODEL_DIR),
            max_body_bytes=max_body_bytes,
            max_rows=_int(env, "EDGETRAIN_MAX_ROWS", cls.max_rows, 1),
            unknown_category=policy,
            nthread=_int(env, "EDGETRAIN_NTHREAD", cls.nthread, 0),
            graceful_timeout=_int(env, "EDGETRAIN_GRACEFUL_TIMEOUT", cls.graceful_timeout, 0),
            log_level=env.get("EDGETRAIN_LOG_LEVEL", "").strip().lower() or cls.log_level,
            access_log=_flag(env, "EDGETRAIN_ACCESS_LOG", cls.access_log),
            metadata_enabled=_flag(env, "EDGETRAIN_METADATA", cls.metadata_enabled),
            openapi_enabled=_flag(env, "EDGETRAIN_OPENAPI", cls.openapi_enabled),
            max_header_bytes=_int(env, "EDGETRAIN_MAX_HEADER_BYTES", cls.max_header_bytes, 1024),
            header_timeout=_float(env, "EDGETRAIN_HEADER_TIMEOUT", cls.header_timeout, 0.1),
            body_timeout=_float(env, "EDGETRAIN_BODY_TIMEOUT", cls.body_timeout, 0.1),
            keep_alive_timeout=_float(env, "EDGETRAIN_KEEP_ALIVE_TIMEOUT", cls.keep_alive_timeout, 0.1),
            max_concurrent_scores=_int(env, "EDGETRAIN_MAX_CONCURRENT_SCORES", cls.max_concurrent_scores, 1),
            max_pending_body_bytes=_int(
                env, "EDGETRAIN_MAX_PENDING_BODY_BYTES", PENDING_BODIES * max_body_bytes, max_body_bytes
            ),
            max_error_bytes=_int(env, "EDGETRAIN_MAX_ERROR_BYTES", cls.max_error_bytes, 256),
            **routes,
        )
