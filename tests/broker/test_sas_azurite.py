"""Test 3 against the real Azurite behind the strict proxy (which enforces SAS permissions and versions).

A pull-request job's credential cannot write, overwrite or delete anything in the DVC remote or the raw
container, only in its own pull-request container; release and refresh credentials can write the DVC remote.
The first test is the attack on the old design (the account key every job had) succeeding.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError
from azure.storage.blob import (
    BlobServiceClient,
    ContainerClient,
    ContainerSasPermissions,
    generate_container_sas,
)
from tests.broker.conftest import Claims, make_broker
from tests.conftest import STACK_HUB_VERSION
from tests.rehearsal.oidc import Issuer

from edgetrain.broker.oidc import Verifier
from edgetrain.broker.policy import Policy
from edgetrain.broker.sas import container_sas, sas_connection_string
from edgetrain.storage.azurite import DEV_ACCOUNT, DEV_KEY
from edgetrain.storage.private_standin import Standin

OBJECT = "files/md5/ab/cdef"  # a DVC object path


@pytest.fixture
def containers(standin: Standin) -> dict[str, str]:
    """Fresh raw, DVC and pull-request containers, each holding one object."""
    suffix = uuid.uuid4().hex[:6]
    names = {"raw": f"raw-{suffix}", "dvc-cache": f"cache-{suffix}", "dvc-pr": f"pr-{suffix}"}
    service = BlobServiceClient.from_connection_string(
        standin.connection_string, api_version=STACK_HUB_VERSION
    )
    for name in names.values():
        service.create_container(name).upload_blob(OBJECT, b"reviewed model")
    return names


def _policy_for(policy: Policy, names: dict[str, str]) -> Policy:
    rules = [
        r.model_copy(update={"grants": {names[c]: p for c, p in r.grants.items()}}) for r in policy.rules
    ]
    return policy.model_copy(update={"rules": rules})


def _client(standin: Standin, grant: dict[str, Any], container: str) -> ContainerClient:
    sas = grant["containers"][container]["sas"]
    conn = sas_connection_string(standin.blob_endpoint, sas)
    return BlobServiceClient.from_connection_string(conn, api_version=STACK_HUB_VERSION).get_container_client(
        container
    )


def _denied(action: Callable[[], object]) -> bool:
    try:
        action()
    except HttpResponseError as err:
        status = err.status_code
    else:
        return False
    assert status == 403
    return True


def _attempts(client: ContainerClient) -> dict[str, Callable[[], object]]:
    return {
        "write": lambda: client.upload_blob(f"new-{uuid.uuid4().hex}", b"x"),
        "overwrite": lambda: client.upload_blob(OBJECT, b"tampered", overwrite=True),
        "delete": lambda: client.delete_blob(OBJECT),
    }


def test_the_account_key_every_job_had_could_overwrite_the_reviewed_model(
    standin: Standin, containers: dict[str, str]
) -> None:
    """The attack on the old design: with the runner's account key a pull request rewrites the DVC remote."""
    service = BlobServiceClient.from_connection_string(
        standin.connection_string, api_version=STACK_HUB_VERSION
    )
    cache = service.get_container_client(containers["dvc-cache"])
    cache.upload_blob(OBJECT, b"tampered", overwrite=True)
    assert cache.download_blob(OBJECT).readall() == b"tampered"


def test_pull_request_credential_cannot_write_overwrite_or_delete_outside_its_container(  # noqa: PLR0917 - fixtures
    standin: Standin,
    containers: dict[str, str],
    policy: Policy,
    verifier: Verifier,
    issuer: Issuer,
    claims: Claims,
) -> None:
    broker = make_broker(_policy_for(policy, containers), verifier, standin.blob_endpoint)
    grant = broker.issue({"token": issuer.token(claims())})
    for role in ("raw", "dvc-cache"):
        client = _client(standin, grant, containers[role])
        assert [b.name for b in client.list_blobs()] == [OBJECT]  # it may read what it trains on
        assert client.download_blob(OBJECT).readall() == b"reviewed model"
        for what, attempt in _attempts(client).items():
            assert _denied(attempt), f"{what} in {role} was allowed"
        assert [b.name for b in client.list_blobs()] == [OBJECT]
        assert client.download_blob(OBJECT).readall() == b"reviewed model"
    own = _client(standin, grant, containers["dvc-pr"])
    own.upload_blob("files/md5/12/3456", b"pr output")
    assert own.download_blob("files/md5/12/3456").readall() == b"pr output"
    assert _denied(lambda: own.delete_blob(OBJECT))  # no delete, even in its own container
    # its SAS for one container opens no other
    stolen = grant["containers"][containers["dvc-pr"]]["sas"]
    conn = sas_connection_string(standin.blob_endpoint, stolen)
    other = BlobServiceClient.from_connection_string(conn, api_version=STACK_HUB_VERSION)
    assert _denied(lambda: other.get_container_client(containers["dvc-cache"]).upload_blob("x", b"x"))


@pytest.mark.parametrize(("workflow", "event"), [("release.yml", "push"), ("data-refresh.yml", "schedule")])
def test_release_and_refresh_credentials_write_the_dvc_remote_only(  # noqa: PLR0917 - fixtures
    standin: Standin,
    containers: dict[str, str],
    policy: Policy,
    verifier: Verifier,
    issuer: Issuer,
    claims: Claims,
    workflow: str,
    event: str,
) -> None:
    broker = make_broker(_policy_for(policy, containers), verifier, standin.blob_endpoint)
    grant = broker.issue({"token": issuer.token(claims(workflow, event, "refs/heads/main"))})
    assert containers["dvc-pr"] not in grant["containers"]  # never reads what pull requests pushed
    cache = _client(standin, grant, containers["dvc-cache"])
    cache.upload_blob("files/md5/99/new", b"reproduced output")
    assert cache.download_blob("files/md5/99/new").readall() == b"reproduced output"
    raw = _client(standin, grant, containers["raw"])
    for what, attempt in _attempts(raw).items():
        assert _denied(attempt), f"{what} in raw was allowed"


def test_sas_expires(standin: Standin, containers: dict[str, str]) -> None:
    sas = container_sas(
        DEV_ACCOUNT,
        DEV_KEY,
        containers["raw"],
        "rl",
        lifetime=timedelta(minutes=1),
        now=datetime.now(UTC) - timedelta(minutes=30),
    )
    conn = sas_connection_string(standin.blob_endpoint, sas.token)
    client = BlobServiceClient.from_connection_string(conn, api_version=STACK_HUB_VERSION)
    assert _denied(lambda: list(client.get_container_client(containers["raw"]).list_blobs()))


def test_the_sdks_own_sas_with_the_pinned_version_is_refused(
    standin: Standin, containers: dict[str, str]
) -> None:
    """Why sas.py signs by hand: the SDK writes sv=2019-07-07 but signs its newest string-to-sign."""
    token = generate_container_sas(
        DEV_ACCOUNT,
        containers["raw"],
        account_key=DEV_KEY,
        permission=ContainerSasPermissions(read=True, list=True),
        expiry=datetime.now(UTC) + timedelta(minutes=5),
    )
    assert "sv=2019-07-07" in token  # the project's pin reaches the SDK's SAS version ...
    conn = sas_connection_string(standin.blob_endpoint, token)
    client = BlobServiceClient.from_connection_string(conn, api_version=STACK_HUB_VERSION)
    # ... but the signature is over a newer layout, so a service checking 2019-07-07 refuses it
    assert _denied(lambda: list(client.get_container_client(containers["raw"]).list_blobs()))


def test_strict_proxy_refuses_a_sas_signed_for_a_newer_version(
    standin: Standin, containers: dict[str, str]
) -> None:
    token = container_sas(DEV_ACCOUNT, DEV_KEY, containers["raw"], "rl", lifetime=timedelta(minutes=5))
    newer = token.token.replace("sv=2019-07-07", "sv=2025-01-05")
    client = BlobServiceClient.from_connection_string(
        sas_connection_string(standin.blob_endpoint, newer), api_version=STACK_HUB_VERSION
    )
    with pytest.raises(HttpResponseError) as err:
        list(client.get_container_client(containers["raw"]).list_blobs())
    assert err.value.status_code == 403
    assert err.value.error_code == "AuthenticationFailed"
    assert "2025-01-05" in str(err.value)
