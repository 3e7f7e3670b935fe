"""``config/edge.yaml``: where things are (``params.yaml`` says what to train).

It never holds secrets. Stack Hub storage has no Azure AD auth: its connection string comes from the
``AZURE_STORAGE_CONNECTION_STRING`` environment variable (which DVC reads too) or DVC's git-ignored
``.dvc/config.local``. Azure ML uses OIDC / Azure CLI login through azure-identity.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, PrivateAttr, StringConstraints, field_validator, model_validator

from edgetrain.config.deploy import DeployConfig
from edgetrain.config.loader import Name, StrictModel, load_model
from edgetrain.contract import layout

DEFAULT_EDGE_CONFIG = Path(layout.EDGE_CONFIG)

#: REST API versions Azure Stack Hub blob storage speaks (2019-07-07 on builds 2008+, 2019-02-02 on 2005).
STACK_HUB_API_VERSIONS = ("2019-02-02", "2019-07-07")

#: ``storage.blob_endpoint: standin``: the embedded stand-in, wherever ``edgetrain storage up`` runs it.
STANDIN = "standin"
#: In ``standin.data_dir`` (git-ignored): the stand-in's port and identity, written by ``up``.
STANDIN_ENDPOINT_FILE = "endpoint.json"
STANDIN_ACCOUNT = "devstoreaccount1"

ContainerName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9](?:-?[a-z0-9]){2,62}$")]


class StorageConfig(StrictModel):
    """The Stack Hub storage account that holds raw data and the DVC remote."""

    account_name: Annotated[str, StringConstraints(pattern=r"^[a-z0-9]{3,24}$")]
    endpoint_suffix: Name | None = Field(
        default=None, description="e.g. local.azurestack.external -> https://<account>.blob.<suffix>"
    )
    blob_endpoint: Name | None = Field(default=None, description="full blob endpoint; wins over the suffix")
    protocol: Literal["https", "http"] = "https"
    api_version: Annotated[str, StringConstraints(pattern=r"^\d{4}-\d{2}-\d{2}$")] = "2019-07-07"
    raw_container: ContainerName = "raw"
    raw_prefix: Name = "raw"
    dvc_container: ContainerName = "dvc-cache"
    #: Where pull-request jobs push (DVC remote ``pr``); no release or refresh ever reads it.
    pr_container: ContainerName = "dvc-pr"

    @model_validator(mode="after")
    def _one_endpoint(self) -> StorageConfig:
        if not self.endpoint_suffix and not self.blob_endpoint:
            raise ValueError("set storage.endpoint_suffix or storage.blob_endpoint")
        if self.blob_endpoint == STANDIN and self.account_name != STANDIN_ACCOUNT:
            raise ValueError(
                f"blob_endpoint: standin (the local stand-in) needs account_name: {STANDIN_ACCOUNT}"
            )
        return self

    @field_validator("blob_endpoint")
    @classmethod
    def _endpoint_is_url(cls, value: str | None) -> str | None:
        if value == STANDIN:
            return value
        if value is not None and not re.match(r"^https?://[^/\s]+", value):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/") if value else value

    @property
    def blob_url(self) -> str:
        """The account's blob endpoint, e.g. ``https://acct.blob.local.azurestack.external``."""
        if self.blob_endpoint:
            return self.blob_endpoint
        return f"{self.protocol}://{self.account_name}.blob.{self.endpoint_suffix}"


class StandinConfig(StrictModel):
    """The embedded Stack Hub stand-in (Azurite behind a strict API-version gate) for laptops and CI."""

    azurite_version: Name = "3.37.0"
    port: Annotated[int, Field(ge=1, le=65535)] = 10000
    data_dir: Name = ".edgetrain/standin"


class AzureMLConfig(StrictModel):
    """Where merged models are registered (azure-ai-ml)."""

    subscription_id: Name
    resource_group: Name
    workspace: Name
    model_name: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$")]


class RegistryConfig(StrictModel):
    """Which model registry ``edgetrain register`` writes to."""

    backend: Literal["local", "azureml"] = "local"
    #: Relative paths are inside the project (the folder holding ``config/``): one registry per fork.
    local_path: Name = ".edgetrain/registry"
    gate_tolerance: Annotated[float, Field(ge=0)] = 0.01


class ContainerRegistryConfig(StrictModel):
    """Azure Container Registry that receives the scoring image."""

    login_server: Name
    repository: Name = "edgetrain-scoring"


class RunnerConfig(StrictModel):
    """The GitHub Actions self-hosted runner on the Stack Hub edge VM."""

    labels: list[Name] = Field(min_length=1)


class ComputeConfig(StrictModel):
    """Where ``edgetrain train`` runs: here or on an existing Dask scheduler (environment, not params)."""

    scheduler: Annotated[str, StringConstraints(pattern=r"^(local|(tcp|tls)://[^\s/]+:\d+)$")] = Field(
        default="local", description="local, or a Dask scheduler address such as tcp://10.0.0.5:8786"
    )
    min_workers: Annotated[int, Field(ge=1)] = Field(default=1, description="wait for this many Dask workers")
    connect_timeout_s: Annotated[int, Field(ge=1)] = 30
    collective_timeout_s: Annotated[int, Field(ge=1)] = Field(
        default=120, description="an allreduce waiting longer than this fails the run (a lost worker)"
    )
    worker_data_dir: Name | None = Field(
        default=None, description="artifacts/prepared as the Dask workers see it (a shared mount)"
    )
    spill_dir: Name | None = Field(default=None, description="external-memory pages (default: temp dir)")

    @property
    def is_local(self) -> bool:
        return self.scheduler == "local"


class ReleaseConfig(StrictModel):
    """How a merge's release gets its model (docs/trust-chain.md)."""

    reproduce: bool = Field(
        default=True,
        description="train again from the merged commit and compare; false: ship the outputs the pull "
        "request recorded, registered as not reproduced (the broker's release rule must grant dvc-pr: rl)",
    )


def standin_url(port: int) -> str:
    """The stand-in's blob endpoint on loopback ``port``."""
    return f"http://127.0.0.1:{port}/{STANDIN_ACCOUNT}"


class EdgeConfig(StrictModel):
    storage: StorageConfig
    standin: StandinConfig = StandinConfig()
    azureml: AzureMLConfig
    registry: RegistryConfig = RegistryConfig()
    acr: ContainerRegistryConfig
    runner: RunnerConfig
    compute: ComputeConfig = ComputeConfig()
    release: ReleaseConfig = ReleaseConfig()
    deploy: DeployConfig = DeployConfig()
    #: ``storage.blob_endpoint: standin``: the address follows the stand-in this checkout runs.
    _standin_managed: bool = PrivateAttr(default=False)

    @model_validator(mode="after")
    def _standin_address(self) -> EdgeConfig:
        if self.storage.blob_endpoint != STANDIN:
            return self
        self._standin_managed = True
        # Frozen model: the one place the endpoint is filled in (standin.port until `up` records another).
        object.__setattr__(self, "storage", self._at_port(self.standin.port))
        return self

    def _at_port(self, port: int) -> StorageConfig:
        return self.storage.model_copy(update={"blob_endpoint": standin_url(port)})

    @property
    def standin_managed(self) -> bool:
        """``storage.blob_endpoint: standin``: storage is this checkout's own stand-in."""
        return self._standin_managed

    def with_standin(self, port: int, data_dir: Path) -> EdgeConfig:
        """This config with the stand-in at ``port`` and its state in ``data_dir`` (an absolute path)."""
        return self.model_copy(
            update={
                "storage": self._at_port(port),
                "standin": self.standin.model_copy(update={"data_dir": str(data_dir)}),
            }
        )


def project_dir(config_path: Path | str) -> Path:
    """The project a config file belongs to: the folder holding its ``config/`` folder."""
    folder = Path(config_path).resolve().parent
    return folder.parent if folder.name == "config" else folder


def recorded_standin(data_dir: Path) -> dict[str, Any] | None:
    """``{"port", "id"}`` the last ``edgetrain storage up`` recorded in ``data_dir``, if any."""
    try:
        found = json.loads((data_dir / STANDIN_ENDPOINT_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    port = found.get("port") if isinstance(found, dict) else None
    return found if isinstance(port, int) and 0 < port < 65536 else None


def load_edge_config(path: Path | str = DEFAULT_EDGE_CONFIG) -> EdgeConfig:
    """Load and validate ``config/edge.yaml`` (exit code 2 with one line on any problem).

    With ``storage.blob_endpoint: standin`` the endpoint is this checkout's stand-in: the port the last
    ``edgetrain storage up`` recorded in ``standin.data_dir`` (it picks a free one when ``standin.port``
    is taken), else ``standin.port``; ``standin.data_dir`` comes back as an absolute path in the project.
    """
    cfg = load_model(path, EdgeConfig)
    if not cfg.standin_managed:
        return cfg
    data_dir = Path(cfg.standin.data_dir).expanduser()
    data_dir = data_dir if data_dir.is_absolute() else project_dir(path) / data_dir
    recorded = recorded_standin(data_dir)
    return cfg.with_standin(recorded["port"] if recorded else cfg.standin.port, data_dir)


def load_compute_config(path: Path | str = DEFAULT_EDGE_CONFIG) -> ComputeConfig:
    """The ``compute`` section; training runs locally when the default file does not exist."""
    if Path(path) == DEFAULT_EDGE_CONFIG and not Path(path).exists():
        return ComputeConfig()
    return load_edge_config(path).compute
