"""``config/edge.yaml`` ``deploy:``: where ``edgetrain deploy`` sends a release, and its smoke test."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints, field_validator, model_validator

from edgetrain.config.loader import Name, StrictModel

DeployKind = Literal["azureml-managed", "azureml-kubernetes", "edge-host"]
TargetName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9-]{0,30}[a-z0-9]$")]
Port = Annotated[int, Field(ge=1, le=65535)]


class SmokeConfig(StrictModel):
    """The smoke test a new slot passes before it takes traffic (synthetic rows from metadata.json)."""

    requests: Annotated[int, Field(ge=1, le=1000)] = 10
    rows: Annotated[int, Field(ge=1, le=1000)] = 8
    max_latency_ms: Annotated[float, Field(gt=0)] = 2000.0
    ready_timeout_s: Annotated[float, Field(gt=0)] = 180.0


class DeployTarget(StrictModel):
    """One place the released image serves: an Azure ML online endpoint or a Stack Hub VM."""

    name: TargetName
    kind: DeployKind
    # Azure ML kinds
    endpoint: Annotated[str, StringConstraints(pattern=r"^[a-zA-Z][a-zA-Z0-9-]{1,30}[a-zA-Z0-9]$")] | None = (
        None
    )
    auth_mode: Literal["key", "aml_token", "aad_token"] = "key"
    instance_type: Name | None = None
    instance_count: Annotated[int, Field(ge=1)] = 1
    compute: Name | None = Field(default=None, description="azureml-kubernetes: the attached Arc cluster")
    # Traffic: the percentages the new slot takes, in order (the last must be 100), and an optional
    # mirrored share before the first step (Azure ML kinds only).
    steps: list[Annotated[int, Field(ge=1, le=100)]] = Field(default_factory=lambda: [100], min_length=1)
    mirror_percent: Annotated[int, Field(ge=0, le=50)] = 0
    # edge-host kind
    port: Port = 8080
    slot_ports: list[Port] = Field(default_factory=lambda: [8081, 8082], min_length=2, max_length=2)
    podman_version: Annotated[str, StringConstraints(pattern=r"^\d+\.\d+(\.\d+)?$")] = "4.9"
    user: Name = "edgetrain"
    memory: Annotated[str, StringConstraints(pattern=r"^\d+[kmgKMG]?$")] = "1g"
    cpus: Annotated[float, Field(gt=0, le=64)] = 1.0
    unit_dir: Name = "/etc/systemd/system"
    runtime: Literal["systemd", "loopback"] = Field(
        default="systemd", description="loopback: buildah run + systemd-socket-proxyd on 127.0.0.1 (tests)"
    )
    state_dir: Name = Field(default="/var/lib/edgetrain/deploy", description="edge-host: slots and digests")
    smoke: SmokeConfig = SmokeConfig()

    @model_validator(mode="after")
    def _fits_kind(self) -> DeployTarget:
        if self.steps[-1] != 100 or self.steps != sorted(set(self.steps)):
            raise ValueError("steps: increasing percentages ending at 100, e.g. [10, 100]")
        if self.kind == "edge-host":
            if self.steps != [100] or self.mirror_percent:
                raise ValueError("edge-host switches all traffic at once: steps [100], mirror_percent 0")
            if len({self.port, *self.slot_ports}) != 3:
                raise ValueError("port and slot_ports: three different ports")
        else:
            if self.endpoint is None:
                raise ValueError(f"{self.kind}: set endpoint (the online endpoint's name)")
            if self.kind == "azureml-kubernetes" and self.compute is None:
                raise ValueError("azureml-kubernetes: set compute (the attached Kubernetes compute target)")
            if self.kind == "azureml-managed" and self.instance_type is None:
                raise ValueError("azureml-managed: set instance_type, e.g. Standard_DS3_v2")
        return self


class DeployConfig(StrictModel):
    """Where ``edgetrain deploy`` sends a released version (``deploy.targets``)."""

    targets: list[DeployTarget] = Field(default_factory=list)

    @field_validator("targets")
    @classmethod
    def _unique(cls, targets: list[DeployTarget]) -> list[DeployTarget]:
        names = [t.name for t in targets]
        for name in names:
            if names.count(name) > 1:
                raise ValueError(f"target name {name!r} appears twice")
        return targets
