"""Land your own CSV drops in the raw container, and clear the sample drops.

``edgetrain storage land FILE...`` checks every file with the ``prepare`` stage's own reader against
``params.yaml`` (columns, dtypes, labels, broken CSV: one line naming the file and column) before it
uploads anything, then puts each under ``<raw_container>/<raw_prefix>/<file name>``. ``--replace``
then deletes the other drops under the prefix (the sample ones), so ``dvc update`` / ``dvc import-url``
see exactly your files. Deleting is only done on the embedded stand-in: on a real Stack Hub account,
removing drops is left to your own tools.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgetrain.config.edge import StorageConfig
from edgetrain.config.params import Params
from edgetrain.contract.hashing import md5_digest
from edgetrain.data.drops import check_missing_targets, load_drop
from edgetrain.errors import DataError, StorageError
from edgetrain.storage.connection import blob_service, is_standin, storage_errors

log = logging.getLogger(__name__)

BLOCK_CONCURRENCY = 4


@dataclass(frozen=True)
class Landed:
    name: str
    size: int
    uploaded: bool  # False when an identical blob was already there (etag kept, DVC sees no change)


@dataclass(frozen=True)
class LandResult:
    landed: list[Landed]
    removed: list[str]


def put_blob(container: Any, name: str, source: bytes | Path) -> Landed:
    """Upload ``source`` (bytes, or a file streamed from disk) as ``name``, unless a blob with the same
    size and Content-MD5 is already there."""
    from azure.core.exceptions import ResourceNotFoundError  # noqa: PLC0415 - azure SDK loads only when storage is called
    from azure.storage.blob import ContentSettings  # noqa: PLC0415 - azure SDK loads only when storage is called

    digest, size = md5_digest(source)
    blob = container.get_blob_client(name)
    try:
        props = blob.get_blob_properties()
        if props.size == size and bytes(props.content_settings.content_md5 or b"") == digest:
            return Landed(name, size, uploaded=False)
    except ResourceNotFoundError:
        pass
    settings = ContentSettings(content_type="text/csv", content_md5=bytearray(digest))
    with contextlib.ExitStack() as stack:
        data = source if isinstance(source, bytes) else stack.enter_context(source.open("rb"))
        blob.upload_blob(
            data, length=size, overwrite=True, max_concurrency=BLOCK_CONCURRENCY, content_settings=settings
        )
    return Landed(name, size, uploaded=True)


def ensure_container(container: Any) -> None:
    try:
        container.create_container()
    except Exception as exc:
        if getattr(exc, "error_code", None) != "ContainerAlreadyExists":
            raise


def validate(paths: Sequence[Path], params: Params) -> int:
    """Check every file as ``prepare`` would; returns the total row count. Nothing is uploaded.

    Rows with a blank target are refused together for every file (``data.missing_target: error``) or
    left out of the count (``drop``); column names XGBoost refuses are named with their file.
    """
    if not paths:
        raise DataError("no files to land")
    seen: dict[str, Path] = {}
    blank: list[tuple[Path, list[int]]] = []
    rows = 0
    for path in paths:
        if path.suffix.lower() != ".csv" or not path.name.endswith(".csv"):
            raise DataError(f"{path}: not a .csv file (prepare reads <raw_prefix>/*.csv)")
        if not path.is_file():
            raise DataError(f"{path}: no such file")
        if path.name in seen:
            raise DataError(f"{path}: same file name as {seen[path.name]} (drops are stored by name)")
        seen[path.name] = path
        drop = load_drop(path, params.data, params.task)
        blank.append((path, drop.missing_target))
        rows += len(drop.frame)
    check_missing_targets(blank, params.data)  # every wanted column, name included, was checked per file
    return rows


def _prefix(storage: StorageConfig) -> str:
    return storage.raw_prefix.strip("/") + "/"


def _require_standin(storage: StorageConfig, what: str) -> None:
    if not is_standin(storage):
        raise StorageError(
            f"{what} deletes blobs; it only runs against the embedded stand-in, not account "
            f"{storage.account_name!r} (remove drops there with your own tools)"
        )


def land(
    storage: StorageConfig, paths: Sequence[Path], *, replace: bool = False, conn_str: str | None = None
) -> LandResult:
    """Upload ``paths`` (already validated) under the raw prefix; with ``replace``, delete other drops."""
    if replace:
        _require_standin(storage, "--replace")
    service = blob_service(storage, conn_str)
    container = service.get_container_client(storage.raw_container)
    prefix = _prefix(storage)
    with storage_errors(storage):
        ensure_container(container)
        landed = [put_blob(container, prefix + path.name, path) for path in paths]
        removed: list[str] = []
        if replace:
            keep = {item.name for item in landed}
            present = (b.name for b in container.list_blobs(name_starts_with=prefix))
            removed = sorted(name for name in present if name not in keep)
            for name in removed:
                container.delete_blob(name)
    log.info("landed %d files in %s/%s, removed %d", len(landed), storage.raw_container, prefix, len(removed))
    return LandResult(landed, removed)


def clear(storage: StorageConfig, *, conn_str: str | None = None) -> list[str]:
    """Delete every drop under the raw prefix of the stand-in; returns the deleted names."""
    _require_standin(storage, "clear")
    service = blob_service(storage, conn_str)
    container = service.get_container_client(storage.raw_container)
    with storage_errors(storage):
        ensure_container(container)
        names = sorted(b.name for b in container.list_blobs(name_starts_with=_prefix(storage)))
        for name in names:
            container.delete_blob(name)
    return names
