"""Land sample daily drops (``<raw_prefix>/YYYY-MM-DD.csv``) in the Stack Hub raw container."""

from __future__ import annotations

import hashlib
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date

from edgetrain.config.edge import StorageConfig
from edgetrain.data.sample import generate, to_csv_bytes
from edgetrain.storage.connection import blob_service, storage_errors

log = logging.getLogger(__name__)

DEFAULT_START = date(2026, 11, 1)
UPLOAD_WORKERS = 4
BLOCK_CONCURRENCY = 4


@dataclass(frozen=True)
class Landed:
    name: str
    size: int
    uploaded: bool  # False when an identical blob was already there (etag kept, DVC sees no change)


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
    from azure.core.exceptions import ResourceNotFoundError
    from azure.storage.blob import ContentSettings

    drops = generate(rows=rows, seed=seed_value, start_day=start, days=days)
    service = blob_service(storage, conn_str)
    container = service.get_container_client(storage.raw_container)

    def land(day: str) -> Landed:
        payload = to_csv_bytes(drops[day])
        digest = hashlib.md5(payload).digest()  # noqa: S324 - Content-MD5, not security
        blob = container.get_blob_client(f"{storage.raw_prefix}/{day}.csv")
        try:
            props = blob.get_blob_properties()
            if props.size == len(payload) and bytes(props.content_settings.content_md5 or b"") == digest:
                return Landed(blob.blob_name, len(payload), uploaded=False)
        except ResourceNotFoundError:
            pass
        blob.upload_blob(
            payload,
            overwrite=True,
            max_concurrency=BLOCK_CONCURRENCY,
            content_settings=ContentSettings(content_type="text/csv", content_md5=digest),
        )
        return Landed(blob.blob_name, len(payload), uploaded=True)

    with storage_errors(storage):
        try:
            container.create_container()
        except Exception as exc:
            if getattr(exc, "error_code", None) != "ContainerAlreadyExists":
                raise
        with ThreadPoolExecutor(UPLOAD_WORKERS) as pool:
            landed = list(pool.map(land, sorted(drops)))
    log.info("landed %d drops in %s/%s", len(landed), storage.raw_container, storage.raw_prefix)
    return landed
