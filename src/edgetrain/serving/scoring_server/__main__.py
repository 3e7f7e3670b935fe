"""``python -m scoring_server``: the container's CMD (and what ``edgetrain serve`` runs).

uvicorn handles SIGTERM gracefully: it stops accepting, lets in-flight requests finish (up to
``EDGETRAIN_GRACEFUL_TIMEOUT`` seconds) and exits 0; with ``WORKERS`` > 1 the supervisor forwards the signal.
"""

from __future__ import annotations

import logging
import sys

from .settings import Settings, SettingsError

log = logging.getLogger("scoring_server")


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        log.error("bad setting: %s", exc)
        return 2
    logging.getLogger().setLevel(settings.log_level.upper())
    import uvicorn  # noqa: PLC0415 - the server loads only when it runs

    uvicorn.run(
        f"{__package__}.app:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_level=settings.log_level,
        access_log=settings.access_log,
        timeout_graceful_shutdown=settings.graceful_timeout,
        timeout_keep_alive=settings.keep_alive_timeout,  # type: ignore[arg-type]  # seconds, float is fine
        http=f"{__package__}.protocol:GuardedHttpToolsProtocol",
        ws="none",
        server_header=False,
        proxy_headers=False,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
