"""The ``azureml`` backend: model versions in an Azure ML workspace through azure-ai-ml.

Credentials come from azure-identity, never from config: in GitHub Actions the workflow's OIDC
federation (``azure/login`` then the Azure CLI credential, or workload identity from the environment),
on a laptop ``az login``. ``azure.ai.ml`` is imported only when a command needs it (it is slow).

Errors become one line each (see :mod:`edgetrain.registry.errors`): failed login (8), workspace or
version not found (9), no permission (10), network unreachable (11, after ``attempts`` tries with
exponential backoff; the SDK's own retries are switched off so the bound is ours), anything else (7).

Nothing is left half registered: ``create_or_update`` first uploads the files to the workspace's
default datastore under a content-addressed path (``LocalUpload/<hash>/``) and then PUTs the model
version; that PUT is the single commit point. If the upload or the PUT fails there is no version to
clean up; an uploaded blob without a version is inert and is reused by the next attempt (same hash).
"""

from __future__ import annotations

import contextlib
import io
import logging
import re
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable, Mapping
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from edgetrain.config.edge import AzureMLConfig
from edgetrain.contract import layout
from edgetrain.errors import ConfigError, EdgetrainError
from edgetrain.registry.base import Candidate, ModelVersion, Registry, version_key
from edgetrain.registry.errors import (
    RegistryAuthError,
    RegistryError,
    RegistryNetworkError,
    RegistryNotFoundError,
    RegistryPermissionError,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

MODEL_TYPE = "custom_model"
RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})
_PLACEHOLDER_SUB = re.compile(r"^0{8}-0{4}-0{4}-0{4}-0{12}$")


def default_credential() -> Any:
    """OIDC / Azure CLI / workload identity only: no client secret, no browser, no managed identity probe."""
    from azure.identity import DefaultAzureCredential  # noqa: PLC0415 - azure SDKs load only when the registry is called

    return DefaultAzureCredential(
        exclude_environment_credential=True,  # would read AZURE_CLIENT_SECRET
        exclude_managed_identity_credential=True,  # the edge VM has none in Azure's cloud
        exclude_shared_token_cache_credential=True,
        exclude_visual_studio_code_credential=True,
        exclude_powershell_credential=True,
        exclude_interactive_browser_credential=True,
    )


def _first_line(exc: BaseException) -> str:
    text = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    line = str(text).strip().splitlines()[0] if str(text).strip() else type(exc).__name__
    return line[:300]


def translate(exc: Exception, what: str, where: str) -> EdgetrainError | None:
    """Map an azure-core / azure-identity / azure-ai-ml exception to one of ours (None: not ours)."""
    from azure.core.exceptions import (  # noqa: PLC0415 - azure SDK loads only when a service is called
        ClientAuthenticationError,
        HttpResponseError,
        ResourceNotFoundError,
        ServiceRequestError,
        ServiceResponseError,
    )
    from azure.identity import CredentialUnavailableError  # noqa: PLC0415 - azure SDKs load only when the registry is called

    if isinstance(exc, CredentialUnavailableError):
        return RegistryAuthError(
            f"{what}: no Azure login available (run `az login`, or azure/login with OIDC "
            f"in the workflow): {_first_line(exc)}"
        )
    if isinstance(exc, HttpResponseError) and exc.status_code == 401:
        return RegistryAuthError(f"{what}: token refused by {where}: {_first_line(exc)}")
    if isinstance(exc, ClientAuthenticationError):
        return RegistryAuthError(
            f"{what}: Azure login failed (run `az login`, or azure/login with OIDC in the workflow): "
            f"{_first_line(exc)}"
        )
    if isinstance(exc, ResourceNotFoundError):
        return RegistryNotFoundError(f"{what}: not found in {where}: {_first_line(exc)}")
    if isinstance(exc, HttpResponseError) and exc.status_code == 403:
        return RegistryPermissionError(
            f"{what}: permission denied on {where} (the identity needs the "
            f"AzureML Data Scientist role): {_first_line(exc)}"
        )
    if isinstance(exc, ServiceRequestError | ServiceResponseError | ConnectionError):
        return RegistryNetworkError(f"{what}: cannot reach {where}: {_first_line(exc)}")
    if isinstance(exc, HttpResponseError):
        return RegistryError(f"{what}: {where} replied HTTP {exc.status_code}: {_first_line(exc)}")
    return None


def _retryable(exc: Exception) -> bool:
    from azure.core.exceptions import HttpResponseError, ServiceRequestError, ServiceResponseError  # noqa: PLC0415 - azure SDKs load only when the registry is called

    if isinstance(exc, ServiceRequestError | ServiceResponseError | ConnectionError):
        return True
    return isinstance(exc, HttpResponseError) and exc.status_code in RETRYABLE_STATUS


def _to_version(model: Any) -> ModelVersion:
    created = getattr(getattr(model, "creation_context", None), "created_at", None)
    return ModelVersion(
        name=str(model.name),
        version=str(model.version),
        tags={str(k): str(v) for k, v in (model.tags or {}).items()},
        properties={str(k): str(v) for k, v in (model.properties or {}).items()},
        description=model.description or "",
        location=str(model.path or model.id or ""),
        created=created.isoformat(timespec="seconds") if isinstance(created, datetime) else created,
    )


class AzureMLRegistry(Registry):
    backend = "azureml"
    #: Extra ``MLClient`` keywords for every instance (e.g. a custom ``cloud``/``cloud_metadata``).
    client_kwargs: ClassVar[dict[str, Any]] = {}
    #: Tries per call (an instance may lower it: doctor's one-shot check).
    attempts: int = 4
    backoff_s: ClassVar[float] = 1.0

    def __init__(
        self,
        cfg: AzureMLConfig,
        *,
        credential: Any = None,
        client_kwargs: Mapping[str, Any] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(cfg.model_name)
        if _PLACEHOLDER_SUB.match(cfg.subscription_id):
            raise ConfigError(
                "config/edge.yaml: azureml.subscription_id: still the placeholder; set your "
                "subscription, resource_group and workspace"
            )
        self.cfg = cfg
        self._credential = credential
        self._client_kwargs = {**self.client_kwargs, **(client_kwargs or {})}
        self._sleep = sleep

    def where(self) -> str:
        return f"Azure ML workspace {self.cfg.workspace} (resource group {self.cfg.resource_group})"

    @cached_property
    def client(self) -> Any:
        from azure.ai.ml import MLClient  # noqa: PLC0415 - azure-ai-ml takes seconds to import: only when used

        # The SDK logs each failed call (telemetry, identity chain) at WARNING/ERROR; we report one line.
        verbose = logging.getLogger().isEnabledFor(logging.INFO)
        logging.getLogger("azure").setLevel(logging.WARNING if verbose else logging.CRITICAL)

        credential = self._credential if self._credential is not None else default_credential()
        kwargs: dict[str, Any] = {"enable_telemetry": False, "show_progress": False, "retry_total": 0}
        kwargs.update(self._client_kwargs)
        return MLClient(
            credential, self.cfg.subscription_id, self.cfg.resource_group, self.cfg.workspace, **kwargs
        )

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        delay = self.backoff_s
        for attempt in range(1, self.attempts + 1):
            try:
                return fn()
            except EdgetrainError:
                raise
            except Exception as exc:
                if attempt < self.attempts and _retryable(exc):
                    log.warning(
                        "%s failed (%s); retry %d/%d in %.1fs",
                        what,
                        _first_line(exc),
                        attempt,
                        self.attempts - 1,
                        delay,
                    )
                    self._sleep(delay)
                    delay *= 2
                    continue
                mapped = translate(exc, what, self.where())
                if mapped is None:
                    mapped = RegistryError(f"{what}: {type(exc).__name__}: {_first_line(exc)}")
                if isinstance(mapped, RegistryNetworkError):
                    mapped = RegistryNetworkError(f"{mapped} (gave up after {attempt} attempts)")
                raise mapped from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def list_versions(self) -> list[ModelVersion]:
        try:
            models = self._call(
                "list model versions", lambda: list(self.client.models.list(name=self.model_name))
            )
        except RegistryNotFoundError:
            self._call("get workspace", lambda: self.client.workspaces.get(self.cfg.workspace))
            return []  # the workspace exists; the model has no versions yet
        return sorted((_to_version(m) for m in models), key=version_key)

    def create(self, candidate: Candidate) -> tuple[ModelVersion, bool]:
        from azure.ai.ml.entities import Model  # noqa: PLC0415 - azure-ai-ml takes seconds to import: only when used

        versions = self.list_versions()
        for found in versions:
            if found.matches(candidate.git_commit, candidate.model_md5):
                return found, False
        number = max((int(v.version) for v in versions if v.version.isdigit()), default=0) + 1
        with tempfile.TemporaryDirectory(prefix="edgetrain-model-") as tmp:
            folder = Path(tmp) / "model"
            folder.mkdir()
            for src in candidate.files:
                shutil.copyfile(src, folder / src.name)
            model = Model(
                path=str(folder),
                type=MODEL_TYPE,
                name=self.model_name,
                version=str(number),
                tags=dict(candidate.tags),
                properties=dict(candidate.properties),
                description=candidate.description,
            )
            with contextlib.redirect_stderr(io.StringIO()):  # the SDK prints a colour reset after uploads
                created = self._call(
                    f"register {self.model_name} version {number}",
                    lambda: self.client.models.create_or_update(model),
                )
        log.info("registered %s version %d in %s", self.model_name, number, self.where())
        return _to_version(created), True

    def fetch(self, version: ModelVersion, dest: Path) -> Path:
        """Download the version's files (``<dest>/<name>/model/...``) and return their folder."""

        def download() -> None:
            with warnings.catch_warnings():  # azure-ai-ml's download calls deprecated azure-storage-blob APIs
                warnings.simplefilter("ignore", DeprecationWarning)
                self.client.models.download(self.model_name, version.version, download_path=str(dest))

        self._call(f"download {self.model_name} version {version.version}", download)
        found = sorted(p.parent for p in dest.rglob(layout.METADATA_NAME))
        if not found:
            raise RegistryError(f"{self.model_name} version {version.version}: no metadata.json downloaded")
        return found[0]

    def set_tags(self, version: ModelVersion, tags: Mapping[str, str | None]) -> ModelVersion:
        model = self._call(
            f"get {self.model_name} version {version.version}",
            lambda: self.client.models.get(name=self.model_name, version=version.version),
        )
        current = dict(model.tags or {})
        for key, value in tags.items():
            if value is None:
                current.pop(key, None)
            else:
                current[key] = value
        model.tags = current
        updated = self._call(
            f"update tags of {self.model_name} version {version.version}",
            lambda: self.client.models.create_or_update(model),
        )
        return _to_version(updated)
