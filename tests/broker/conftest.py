"""Broker fixtures: the stand-in OIDC issuer (tests/rehearsal/oidc.py), the repository's policy, a broker."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import REPO_ROOT
from tests.rehearsal.oidc import Issuer

from edgetrain.broker.oidc import JwksCache, Verifier
from edgetrain.broker.policy import DEFAULT_POLICY, Policy, load_policy
from edgetrain.broker.server import Broker, BrokerThread, Storage
from edgetrain.storage.azurite import DEV_ACCOUNT, DEV_KEY

REPOSITORY = "acme/edgetrain"
BLOB_ENDPOINT = "http://127.0.0.1:1/devstoreaccount1"


@pytest.fixture(scope="session")
def issuer() -> Issuer:
    return Issuer()


@pytest.fixture
def policy() -> Policy:
    """The repository's own policy file, for repository ``acme/edgetrain``."""
    return load_policy(REPO_ROOT / DEFAULT_POLICY).model_copy(update={"repository": REPOSITORY})


@pytest.fixture
def verifier(issuer: Issuer, policy: Policy) -> Verifier:
    return Verifier(
        policy.issuer, policy.audience, JwksCache("https://jwks.invalid", fetch=lambda _: issuer.jwks)
    )


Claims = Callable[..., dict[str, Any]]


@pytest.fixture
def claims(issuer: Issuer, policy: Policy) -> Claims:
    """``claims(workflow, event_name, ref, environment="stackhub", **overrides)``: a job's claims."""

    def make(
        workflow: str = "pr-train.yml",
        event_name: str = "pull_request",
        ref: str = "refs/pull/7/merge",
        environment: str | None = "stackhub",
        **overrides: Any,
    ) -> dict[str, Any]:
        out = issuer.job_claims(
            repository=REPOSITORY,
            workflow=workflow,
            event_name=event_name,
            ref=ref,
            environment=environment,
            audience=policy.audience,
        )
        out.update(overrides)
        return out

    return make


def make_broker(policy: Policy, verifier: Verifier, blob_endpoint: str = BLOB_ENDPOINT) -> Broker:
    return Broker(policy, verifier, Storage(DEV_ACCOUNT, DEV_KEY, blob_endpoint))


@pytest.fixture
def broker(policy: Policy, verifier: Verifier) -> Broker:
    return make_broker(policy, verifier)


@pytest.fixture
def socket_path(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A short socket path (AF_UNIX paths are limited to ~100 bytes)."""
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="etb-t-", dir="/tmp"))
    yield folder / "b.sock"
    import shutil

    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def serving(broker: Broker, socket_path: Path) -> Iterator[Path]:
    with BrokerThread(socket_path, broker):
        yield socket_path
