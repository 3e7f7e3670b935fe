"""Land sample daily drops (``<raw_prefix>/YYYY-MM-DD.csv``) in the Stack Hub raw container."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from datetime import date

from edgetrain.config.edge import StorageConfig
from edgetrain.data.sample import generate, to_csv_bytes
from edgetrain.storage.connection import blob_service, storage_errors
from edgetrain.storage.land import Landed, ensure_container, put_blob

log = logging.getLogger(__name__)

DEFAULT_START = date(2026, 11, 1)
UPLOAD_WORKERS = 4


def seed(
    storage: StorageConfig,
    *,
    rows: int,
    days: int,
    seed_value: int,
    start: date = DEFAULT_START,
    conn_str: str | None = None,
) -> list[Landed]:
    """Generate ``rows`` rows over ``days`` drops and upload those not already there byte for byte."""
    drops = generate(rows=rows, seed=seed_value, start_day=start, days=days)
    service = blob_service(storage, conn_str)
    container = service.get_container_client(storage.raw_container)

    def land(day: str) -> Landed:
        return put_blob(container, f"{storage.raw_prefix}/{day}.csv", to_csv_bytes(drops[day]))

    with storage_errors(storage):
        ensure_container(container)
        with ThreadPoolExecutor(UPLOAD_WORKERS) as pool:
            landed = list(pool.map(land, sorted(drops)))
    log.info("landed %d drops in %s/%s", len(landed), storage.raw_container, storage.raw_prefix)
    return landed
