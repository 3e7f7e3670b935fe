"""The stand-in's online endpoints refuse what the service refuses (4xx JSON), with azure-ai-ml's own
entities serializing the requests: so the rollout tests can fail for the right reasons."""

from __future__ import annotations

from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError

from edgetrain.config.deploy import DeployTarget
from edgetrain.config.edge import AzureMLConfig
from edgetrain.deploy.azureml import AzureMLTarget, deployment_entity, endpoint_entity
from edgetrain.deploy.slots import Release

pytestmark = pytest.mark.filterwarnings("ignore::marshmallow.warnings.Marshmallow4Warning")
WORKSPACE = AzureMLConfig(
    subscription_id="11111111-2222-3333-4444-555555555555",
    resource_group="rg-edgetrain",
    workspace="mlw-edgetrain",
    model_name="edgetrain-xgb",
)
IMAGE = "127.0.0.1:5000/edgetrain-scoring@sha256:" + "c" * 64


def client(target: DeployTarget) -> Any:
    return AzureMLTarget(target, WORKSPACE).client


def managed() -> DeployTarget:
    return DeployTarget(
        name="cloud", kind="azureml-managed", endpoint="ep-cloud", instance_type="Standard_DS3_v2"
    )


def refused(call: Any) -> HttpResponseError:
    with pytest.raises(HttpResponseError) as err:
        call()
    assert err.value.status_code is not None
    assert 400 <= err.value.status_code < 500
    return err.value


def test_endpoint_traffic_must_name_deployments_and_add_up(azureml: Any) -> None:
    ml = client(managed())
    ml.online_endpoints.begin_create_or_update(endpoint_entity(managed())).result()
    endpoint = ml.online_endpoints.get("ep-cloud")
    assert endpoint.scoring_uri.startswith("http://127.0.0.1:")
    endpoint.traffic = {"blue": 100}
    assert "does not exist" in str(
        refused(lambda: ml.online_endpoints.begin_create_or_update(endpoint).result())
    )


def test_kubernetes_endpoint_needs_an_attached_compute(azureml: Any) -> None:
    target = DeployTarget(name="onprem", kind="azureml-kubernetes", endpoint="ep-k8s", compute="not-attached")
    ml = client(target)
    err = refused(lambda: ml.online_endpoints.begin_create_or_update(endpoint_entity(target)).result())
    assert "not a Kubernetes compute attached" in str(err)


def test_a_custom_container_needs_its_routes_and_a_matching_compute_type(azureml: Any) -> None:
    from azure.ai.ml.entities import Environment

    ml = client(managed())
    ml.online_endpoints.begin_create_or_update(endpoint_entity(managed())).result()
    deployment = deployment_entity(managed(), "blue", Release("1", IMAGE))
    deployment.environment = Environment(image=IMAGE)  # no inference_config
    err = refused(lambda: ml.online_deployments.begin_create_or_update(deployment).result())
    assert "inferenceConfig" in str(err)
    k8s = DeployTarget(name="onprem", kind="azureml-kubernetes", endpoint="ep-cloud", compute="arc")
    wrong = deployment_entity(k8s, "blue", Release("1", IMAGE))
    err = refused(lambda: ml.online_deployments.begin_create_or_update(wrong).result())
    assert "endpointComputeType" in str(err)


def test_an_image_the_registry_lacks_fails_the_deployment(azureml: Any) -> None:
    ml = client(managed())
    ml.online_endpoints.begin_create_or_update(endpoint_entity(managed())).result()
    deployment = deployment_entity(managed(), "blue", Release("1", IMAGE))
    with pytest.raises(HttpResponseError, match="ImagePullFailure"):
        ml.online_deployments.begin_create_or_update(deployment).result()


def test_management_calls_need_a_token_it_accepts(azureml: Any) -> None:
    azureml.state.accept_token = lambda token: token == "another-token"
    ml = client(managed())
    err = refused(lambda: ml.online_endpoints.get("ep-cloud"))
    assert err.status_code == 401
