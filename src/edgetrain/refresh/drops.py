"""Find the raw drops DVC has not imported yet and validate them, naming the blob on any problem.

A drop is new when ``<raw_container>/<raw_prefix>/<name>.csv`` has no byte-identical twin in the
checked-out ``data/``. New drops are downloaded to a private temporary folder (on the runner, never
further), read with prepare's validation and deleted again. Nothing is recorded or pushed here.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from edgetrain.config.edge import StorageConfig
from edgetrain.config.params import Params
from edgetrain.contract.hashing import file_md5
from edgetrain.data.drops import check_missing_targets, load_drop
from edgetrain.errors import DataError
from edgetrain.storage.connection import blob_service, storage_errors

log = logging.getLogger(__name__)
DROP_SUFFIX = ".csv"


@dataclass(frozen=True)
class NewDrop:
    """A drop the raw container holds and ``data/`` does not (or holds with other bytes)."""

    blob: str  # <container>/<blob name>, as named in messages
    name: str  # file name inside data/
    rows: int
    replaces: bool  # True when data/ has a file of this name with other content


def _same_bytes(local: Path, size: int, content_md5: bytes | bytearray | None) -> bool | None:
    """True/False when the blob's properties settle it; None when the content must be compared."""
    if not local.is_file():
        return False
    if local.stat().st_size != size:
        return False
    if content_md5:
        return bytes(content_md5).hex() == file_md5(local)
    return None


def validate_new_drops(
    storage: StorageConfig, params: Params, data_dir: Path | str, conn_str: str | None = None
) -> list[NewDrop]:
    """Every new ``*.csv`` drop under the raw prefix, validated; DataError naming blob (and column)."""
    data_dir = Path(data_dir)
    service = blob_service(storage, conn_str)
    container = service.get_container_client(storage.raw_container)
    prefix = storage.raw_prefix.strip("/") + "/"
    found: list[NewDrop] = []
    blank: list[tuple[str, list[int]]] = []  # rows with no target, per blob: refused together at the end
    with storage_errors(storage), tempfile.TemporaryDirectory(prefix="edgetrain-drops-") as tmp:
        for item in sorted(container.list_blobs(name_starts_with=prefix), key=lambda b: b.name):
            relative = PurePosixPath(item.name[len(prefix) :])
            if len(relative.parts) != 1 or relative.suffix != DROP_SUFFIX:
                continue  # prepare reads data/*.csv only
            local = data_dir / relative.name
            same = _same_bytes(local, item.size, item.content_settings.content_md5)
            if same:
                continue
            staged = Path(tmp) / relative.name
            with staged.open("wb") as handle:
                container.download_blob(item.name).readinto(handle)
            if same is None and file_md5(staged) == file_md5(local):
                staged.unlink()
                continue
            blob = f"{storage.raw_container}/{item.name}"
            try:
                drop = load_drop(staged, params.data, params.task)
            except DataError as err:
                raise DataError(str(err).replace(str(staged), blob), exit_code=err.exit_code) from None
            finally:
                staged.unlink(missing_ok=True)
            blank.append((blob, drop.missing_target))
            found.append(NewDrop(blob, relative.name, len(drop.frame), replaces=local.is_file()))
            log.info("%s: %d rows, valid", blob, len(drop.frame))
    check_missing_targets(blank, params.data)
    return found
