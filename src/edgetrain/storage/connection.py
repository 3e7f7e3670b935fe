"""Connection strings and clients for the Stack Hub storage account: the one place that builds them.

Stack Hub storage has no Azure AD auth, so access is by account key or SAS inside a connection string.
It is looked up, in order, in ``AZURE_STORAGE_CONNECTION_STRING`` (DVC reads the same variable) and in
DVC's git-ignored ``.dvc/config.local``; for the embedded stand-in the published Azurite dev key is used.
Endpoints given as a suffix become ``EndpointSuffix=`` (``https://<account>.blob.<suffix>``); a full
endpoint becomes ``BlobEndpoint=``. Every client is created with the configured ``api_version`` (or the
``EDGETRAIN_STORAGE_API_VERSION`` override: :func:`api_version`, the same rule the venv-wide pin follows).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from edgetrain.config.edge import StorageConfig
from edgetrain.errors import ConfigError, StorageError
from edgetrain.storage import api_pin
from edgetrain.storage.azurite import DEV_ACCOUNT, DEV_KEY

if TYPE_CHECKING:
    from azure.storage.blob import BlobServiceClient

CONNECTION_STRING_ENV = "AZURE_STORAGE_CONNECTION_STRING"
DVC_LOCAL_CONFIG = Path(".dvc/config.local")
DVC_CACHE_REMOTE = "stackhub-cache"
DVC_RAW_REMOTE = "stackhub-raw"
#: Where pull-request jobs push (storage.pr_container): the only container their credential may write.
DVC_PR_REMOTE = "pr"
CONNECT_TIMEOUT_S = 10
#: Transient failures are retried twice, after about 3 s and 5 s (the SDK default waits 15 s, then 18 s).
RETRY_TOTAL = 2
RETRY_INITIAL_BACKOFF_S = 1
RETRY_INCREMENT_BASE = 2


def is_standin(cfg: StorageConfig) -> bool:
    """True when the config points at the embedded stand-in (dev account on loopback)."""
    host = urlsplit(cfg.blob_endpoint).hostname if cfg.blob_endpoint else None
    return cfg.account_name == DEV_ACCOUNT and host in {"127.0.0.1", "localhost", "::1"}


def build_connection_string(cfg: StorageConfig, account_key: str) -> str:
    protocol = cfg.blob_endpoint.split(":", 1)[0] if cfg.blob_endpoint else cfg.protocol
    parts = [
        f"DefaultEndpointsProtocol={protocol}",
        f"AccountName={cfg.account_name}",
        f"AccountKey={account_key}",
    ]
    if cfg.blob_endpoint:
        parts.append(f"BlobEndpoint={cfg.blob_endpoint}")
    else:
        parts.append(f"EndpointSuffix={cfg.endpoint_suffix}")
    return ";".join(parts) + ";"


def _from_dvc_local(path: Path = DVC_LOCAL_CONFIG) -> str | None:
    if not path.is_file():
        return None
    from configobj import ConfigObj  # noqa: PLC0415 - DVC's config format, read only for DVC

    section = ConfigObj(str(path)).get(f'remote "{DVC_CACHE_REMOTE}"', {})
    return section.get("connection_string") or None


def dvc_remote_connection_string(remote: str, repo: Path = Path()) -> str | None:
    """The ``connection_string`` DVC uses for ``remote``: the repository's ``.dvc/config.local`` or the
    global config (``$DVC_GLOBAL_CONFIG_DIR``, where ``edgetrain broker credential`` puts each SAS)."""
    from configobj import ConfigObj  # noqa: PLC0415 - DVC's own config format, loaded only when asked

    candidates = [repo / DVC_LOCAL_CONFIG]
    if os.environ.get("DVC_GLOBAL_CONFIG_DIR"):
        candidates.append(Path(os.environ["DVC_GLOBAL_CONFIG_DIR"]) / "config")
    for path in candidates:
        if path.is_file():
            value = ConfigObj(str(path)).get(f'remote "{remote}"', {}).get("connection_string")
            if value:
                return str(value)
    return None


def connection_string(cfg: StorageConfig) -> str:
    """The connection string to use, or StorageError saying where to put one."""
    value = os.environ.get(CONNECTION_STRING_ENV, "").strip() or _from_dvc_local()
    if value:
        return value
    if is_standin(cfg):
        return build_connection_string(cfg, DEV_KEY)
    raise StorageError(
        f"missing storage credentials for account {cfg.account_name!r}: set {CONNECTION_STRING_ENV} "
        "(Stack Hub storage has no Azure AD auth; use an account key or SAS connection string) or run "
        f"'dvc remote modify --local {DVC_CACHE_REMOTE} connection_string ...'"
    )


def api_version(cfg: StorageConfig) -> str:
    """The API version this project's clients send: the env override if set, else the config's."""
    try:
        return api_pin.effective(cfg.api_version)
    except api_pin.PinError as err:
        raise ConfigError(str(err)) from None


def _version_source(cfg: StorageConfig) -> str:
    if api_version(cfg) != cfg.api_version:
        return f"{api_pin.ENV_VAR} (overrides storage.api_version {cfg.api_version})"
    return "storage.api_version in config/edge.yaml"


def blob_service(cfg: StorageConfig, conn_str: str | None = None) -> BlobServiceClient:
    """A BlobServiceClient that speaks the configured API version."""
    version = api_version(cfg)
    from azure.storage.blob import BlobServiceClient, ExponentialRetry  # noqa: PLC0415 - azure SDK loads only when storage is called

    retry = ExponentialRetry(
        initial_backoff=RETRY_INITIAL_BACKOFF_S, increment_base=RETRY_INCREMENT_BASE, retry_total=RETRY_TOTAL
    )
    try:
        return BlobServiceClient.from_connection_string(
            conn_str or connection_string(cfg),
            api_version=version,
            connection_timeout=CONNECT_TIMEOUT_S,
            retry_policy=retry,
        )
    except ValueError as exc:
        raise StorageError(f"invalid storage connection string: {exc}") from None


@contextlib.contextmanager
def storage_errors(cfg: StorageConfig) -> Iterator[None]:
    """Turn azure-storage-blob exceptions into one-line StorageErrors."""
    from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ServiceRequestError  # noqa: PLC0415 - azure SDK loads only when storage is called

    try:
        yield
    except ClientAuthenticationError:
        raise StorageError(
            f"storage account {cfg.account_name!r} at {cfg.blob_url} rejected the credentials "
            f"(check {CONNECTION_STRING_ENV})"
        ) from None
    except ServiceRequestError as exc:
        raise StorageError(f"storage unreachable at {cfg.blob_url}: {_first_line(exc)}") from None
    except HttpResponseError as exc:
        if getattr(exc, "error_code", None) == "InvalidHeaderValue":
            raise StorageError(
                f"storage at {cfg.blob_url} rejected API version {api_version(cfg)} (x-ms-version, from "
                f"{_version_source(cfg)}): use what your Stack Hub build speaks "
                "(2019-07-07 on 2008+, 2019-02-02 on 2005)"
            ) from None
        raise StorageError(
            f"storage at {cfg.blob_url} answered {exc.status_code}: {_first_line(exc)}"
        ) from None


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
