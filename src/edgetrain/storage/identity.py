"""Is the storage a command reaches this checkout's own stand-in? An identity marker set at ``up``.

``edgetrain storage up`` records a random identity in ``<standin.data_dir>/endpoint.json`` and sets it as
metadata on the raw container. Another checkout's stand-in on the recorded port holds another identity (or
none): doctor reports that, and the commands that write (seed, land, clear, storage pull) refuse.
"""

from __future__ import annotations

from pathlib import Path

from edgetrain.config.edge import STANDIN_ENDPOINT_FILE, EdgeConfig, StorageConfig, recorded_standin
from edgetrain.errors import StorageError
from edgetrain.storage.connection import blob_service, storage_errors

#: Container metadata key holding the identity of the stand-in that made the container.
IDENTITY_KEY = "edgetrainstandin"


def mark(storage: StorageConfig, conn_str: str, identity: str) -> None:
    """Set this stand-in's identity as metadata on the raw container."""
    with storage_errors(storage):
        container = blob_service(storage, conn_str).get_container_client(storage.raw_container)
        container.set_container_metadata({IDENTITY_KEY: identity})


def identity_problem(cfg: EdgeConfig, conn_str: str | None = None) -> str | None:
    """None when the storage ``cfg`` reaches is the stand-in ``up`` started for this checkout, else why not.

    Only for ``storage.blob_endpoint: standin``; a real account has no such marker.
    """
    record = Path(cfg.standin.data_dir) / STANDIN_ENDPOINT_FILE
    recorded = recorded_standin(record.parent)
    where = cfg.storage.blob_url
    if recorded is None or not recorded.get("id"):
        return f"no stand-in started for this checkout ({record} missing)"
    from azure.core.exceptions import ResourceNotFoundError  # noqa: PLC0415 - azure SDK loads only when a service is called

    with storage_errors(cfg.storage):
        container = blob_service(cfg.storage, conn_str).get_container_client(cfg.storage.raw_container)
        try:
            found = container.get_container_properties().metadata.get(IDENTITY_KEY)
        except ResourceNotFoundError:  # no raw container there: not the stand-in `up` prepared
            found = None
    if found != recorded["id"]:
        return (
            f"{where} is not this checkout's stand-in (its identity is {found or 'unset'}, "
            f"{record} says {recorded['id']})"
        )
    return None


def require_own(cfg: EdgeConfig) -> None:
    """StorageError unless ``cfg``'s storage is a real account or this checkout's own stand-in."""
    if cfg.standin_managed:
        problem = identity_problem(cfg)
        if problem:
            raise StorageError(f"{problem}; run 'edgetrain storage up' here")
