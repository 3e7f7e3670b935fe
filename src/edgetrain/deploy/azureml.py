"""The Azure ML kinds: a managed online endpoint, or a Kubernetes online endpoint on an attached Arc cluster.

Entities only (``ManagedOnlineEndpoint/Deployment``, ``KubernetesOnlineEndpoint/Deployment``); azure-ai-ml
serializes and polls. A slot is a deployment named ``blue`` or ``green`` running the released image as a
custom container (``Environment(image=<digest ref>)`` with the scoring server's own liveness, readiness and
scoring routes); the model is inside the image, so the deployment names no model asset. Traffic and mirrored
traffic are the endpoint's. Scoring (smoke test) posts to the endpoint's scoring URI with its key or token,
one slot at a time through the ``azureml-model-deployment`` header, as any client would.
"""

from __future__ import annotations

import contextlib
import io
import logging
from functools import cached_property
from typing import Any, ClassVar

import httpx

from edgetrain.config.deploy import DeployTarget
from edgetrain.config.edge import AzureMLConfig
from edgetrain.deploy.errors import DeployError
from edgetrain.deploy.slots import SLOTS, Release, Slot, Target, TargetState
from edgetrain.errors import EdgetrainError
from edgetrain.serving.scoring_server.settings import Settings

log = logging.getLogger(__name__)
CONTAINER_PORT = 5001
VERSION_TAG = "model_version"
IMAGE_TAG = "image"


def routes() -> dict[str, dict[str, Any]]:
    """The scoring server's own routes (its defaults), as Azure ML's inference_config wants them."""
    own = Settings()
    return {
        "liveness_route": {"path": own.liveness_route, "port": CONTAINER_PORT},
        "readiness_route": {"path": own.readiness_route, "port": CONTAINER_PORT},
        "scoring_route": {"path": own.score_route, "port": CONTAINER_PORT},
    }


def endpoint_entity(cfg: DeployTarget) -> Any:
    from azure.ai.ml.entities import KubernetesOnlineEndpoint, ManagedOnlineEndpoint  # noqa: PLC0415 - azure-ai-ml loads only when a target is used

    common: dict[str, Any] = {
        "name": cfg.endpoint,
        "auth_mode": cfg.auth_mode,
        "tags": {"managed_by": "edgetrain"},
    }
    if cfg.kind == "azureml-kubernetes":
        return KubernetesOnlineEndpoint(compute=cfg.compute, **common)
    return ManagedOnlineEndpoint(**common)


def deployment_entity(cfg: DeployTarget, slot: str, release: Release) -> Any:
    from azure.ai.ml.entities import Environment, KubernetesOnlineDeployment, ManagedOnlineDeployment  # noqa: PLC0415 - azure-ai-ml loads only when a target is used

    environment = Environment(image=release.image, inference_config=routes())
    common: dict[str, Any] = {
        "name": slot,
        "endpoint_name": cfg.endpoint,
        "environment": environment,
        "instance_count": cfg.instance_count,
        "environment_variables": {"PORT": str(CONTAINER_PORT), "EDGETRAIN_DEPLOY_SLOT": slot},
        "tags": {VERSION_TAG: release.version, IMAGE_TAG: release.image},
    }
    if cfg.instance_type:
        common["instance_type"] = cfg.instance_type
    if cfg.kind == "azureml-kubernetes":
        from azure.ai.ml.entities import ResourceRequirementsSettings, ResourceSettings  # noqa: PLC0415 - azure-ai-ml loads only when a target is used

        size = ResourceSettings(cpu=f"{cfg.cpus:g}", memory=kubernetes_memory(cfg.memory))
        return KubernetesOnlineDeployment(
            resources=ResourceRequirementsSettings(requests=size, limits=size), **common
        )
    return ManagedOnlineDeployment(**common)


def kubernetes_memory(value: str) -> str:
    """``1g`` / ``512m`` (Podman's spelling, from config) as Kubernetes quantities ``1Gi`` / ``512Mi``."""
    unit = value[-1].lower()
    return f"{value[:-1]}{ {'k': 'Ki', 'm': 'Mi', 'g': 'Gi'}[unit] }" if unit.isalpha() else value


class AzureMLTarget(Target):
    #: Extra ``MLClient`` keywords (the rehearsal's custom cloud), as for the registry.
    client_kwargs: ClassVar[dict[str, Any]] = {}

    def __init__(self, cfg: DeployTarget, workspace: AzureMLConfig, *, credential: Any = None) -> None:
        self.cfg = cfg
        self.name = cfg.name
        self.kind = cfg.kind
        self.workspace = workspace
        self._credential = credential

    @cached_property
    def _registry(self) -> Any:
        from edgetrain.registry.azureml import AzureMLRegistry  # noqa: PLC0415 - azure-ai-ml loads only when a target is used

        return AzureMLRegistry(self.workspace, credential=self._credential, client_kwargs=self.client_kwargs)

    @property
    def client(self) -> Any:
        return self._registry.client

    def _call(self, what: str, fn: Any) -> Any:
        try:
            # azure-ai-ml's polling prints dots to stdout and its operations log progress to stderr.
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                return self._registry._call(what, fn)
        except EdgetrainError as err:
            raise DeployError(str(err)) from None

    @property
    def endpoint(self) -> str:
        return str(self.cfg.endpoint)

    def _endpoint(self) -> Any | None:
        from azure.core.exceptions import ResourceNotFoundError  # noqa: PLC0415 - azure-ai-ml loads only when a target is used

        try:
            return self.client.online_endpoints.get(self.cfg.endpoint)
        except ResourceNotFoundError:
            return None

    def state(self) -> TargetState:
        endpoint = self._call(f"get endpoint {self.cfg.endpoint}", self._endpoint)
        if endpoint is None:
            return TargetState()
        found = self._call(
            f"list deployments of {self.cfg.endpoint}",
            lambda: list(self.client.online_deployments.list(self.cfg.endpoint)),
        )
        slots = {}
        for deployment in found:
            tags = deployment.tags or {}
            if deployment.name in SLOTS and VERSION_TAG in tags and IMAGE_TAG in tags:
                slots[deployment.name] = Slot(deployment.name, str(tags[VERSION_TAG]), str(tags[IMAGE_TAG]))
        traffic = {k: int(v) for k, v in (endpoint.traffic or {}).items() if int(v)}
        mirror = {k: int(v) for k, v in (endpoint.mirror_traffic or {}).items() if int(v)}
        return TargetState(slots, traffic, mirror)

    def create_slot(self, slot: str, release: Release, timeout_s: float) -> None:
        if self._call(f"get endpoint {self.cfg.endpoint}", self._endpoint) is None:
            self._call(
                f"create endpoint {self.cfg.endpoint}",
                lambda: self.client.online_endpoints.begin_create_or_update(endpoint_entity(self.cfg)).result(
                    timeout=timeout_s
                ),
            )
        deployment = deployment_entity(self.cfg, slot, release)
        result = self._call(
            f"create deployment {slot} on {self.cfg.endpoint}",
            lambda: self.client.online_deployments.begin_create_or_update(deployment).result(
                timeout=timeout_s
            ),
        )
        state = getattr(result, "provisioning_state", None)
        state = getattr(state, "value", state)  # an enum in some azure-ai-ml versions
        if state and str(state).lower() != "succeeded":
            raise DeployError(f"deployment {slot} on {self.cfg.endpoint} ended {state}")

    def remove_slot(self, slot: str) -> None:
        self._call(
            f"delete deployment {slot} of {self.cfg.endpoint}",
            lambda: self.client.online_deployments.begin_delete(
                name=slot, endpoint_name=self.cfg.endpoint
            ).result(),
        )

    def set_traffic(self, traffic: dict[str, int], mirror: dict[str, int]) -> None:
        endpoint = self._call(f"get endpoint {self.cfg.endpoint}", self._endpoint)
        if endpoint is None:
            raise DeployError(f"endpoint {self.cfg.endpoint} does not exist")
        endpoint.traffic = dict(traffic)
        endpoint.mirror_traffic = dict(mirror)
        self._call(
            f"update traffic of {self.cfg.endpoint}",
            lambda: self.client.online_endpoints.begin_create_or_update(endpoint).result(),
        )

    def score(self, slot: str | None, body: bytes, timeout_s: float) -> tuple[int, bytes]:
        endpoint = self._call(f"get endpoint {self.cfg.endpoint}", self._endpoint)
        if endpoint is None or not endpoint.scoring_uri:
            raise DeployError(f"endpoint {self.cfg.endpoint} has no scoring URI")
        keys = self._call(
            f"get keys of {self.cfg.endpoint}",
            lambda: self.client.online_endpoints.get_keys(self.cfg.endpoint),
        )
        secret = getattr(keys, "primary_key", None) or getattr(keys, "access_token", None) or ""
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {secret}"}
        if slot is not None:
            headers["azureml-model-deployment"] = slot
        try:
            answer = httpx.post(str(endpoint.scoring_uri), content=body, headers=headers, timeout=timeout_s)
        except httpx.HTTPError as exc:
            raise OSError(f"{endpoint.scoring_uri}: {exc}") from None
        return answer.status_code, answer.content
