"""pytest fixtures for workflow rehearsals: ``from tests.rehearsal.fixtures import *`` in a conftest.

- ``rehearsal_base`` (session): a :class:`~rehearsal.act.Rehearsal` whose ``main`` has the rehearsal drops
  imported, trained and pushed to the strict Stack Hub stand-in (the ``standin`` fixture of
  ``tests/conftest.py``), ``config/edge.yaml`` pointing ACR at a loopback registry and Azure ML at the
  loopback stand-in (``.registry`` and ``.aml`` on the object). Cases share it and add branches, so the
  training on ``main`` happens once.
- ``trained_pr`` (session): pull request #1 (``tune-depth``, ``train.max_depth`` 6 -> 4) run through
  ``pr-train.yml`` (trained on the edge runner), then ``pr-publish.yml`` on its ``workflow_run`` event
  (``.then``: dvc.lock committed back, commented, status set).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest
import yaml
from tests.rehearsal.act import ActRun, Rehearsal

BASE_ROWS = 3000
SUBSCRIPTION = "11111111-2222-3333-4444-555555555555"
TENANT = "99999999-8888-7777-6666-555555555555"
CLIENT = "44444444-3333-2222-1111-000000000000"
PR_BRANCH, PR_NUMBER = "tune-depth", 1


def aml_env(aml) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """The Azure ML stand-in's client environment; its HTTPS proxy only for the workspace's blob host."""
    env = aml.subprocess_env()
    for key in ("NO_PROXY", "no_proxy"):
        env[key] = f"{env[key]},pypi.org,files.pythonhosted.org"
    return env


@pytest.fixture(scope="session")
def rehearsal_base(tmp_path_factory: pytest.TempPathFactory, standin) -> Iterator[Rehearsal]:  # type: ignore[no-untyped-def]
    from tests.rehearsal.azureml_standin import AzureMLStandin
    from tests.rehearsal.registry import LoopbackRegistry

    from edgetrain.storage.azurite import DEV_KEY

    root = tmp_path_factory.mktemp("rehearsal")
    (root / "registry").mkdir()
    (root / "aml").mkdir()
    # ACR asks every client to log in; its password is only handed out for an Azure access token.
    login = ("00000000-0000-0000-0000-000000000000", secrets.token_urlsafe(24))
    with (
        LoopbackRegistry(root / "registry", login=login) as registry,
        AzureMLStandin(
            root / "aml",
            standin.azurite_endpoint,
            DEV_KEY,
            subscription=SUBSCRIPTION,
            resource_group="rg-edgetrain",
            workspace="mlw-edgetrain",
        ) as aml,
    ):
        registries_conf = root / "registries.conf"
        # buildah login / skopeo talk plain HTTP to the loopback registry only.
        registries_conf.write_text(f'[[registry]]\nlocation = "{registry.address}"\ninsecure = true\n')
        r = Rehearsal(
            root / "r",
            standin=standin,
            config={"login_server": registry.address, "subscription_id": SUBSCRIPTION},
            variables={
                "AZURE_CLIENT_ID": CLIENT,
                "AZURE_TENANT_ID": TENANT,
                "AZURE_SUBSCRIPTION_ID": SUBSCRIPTION,
            },
            extra_env={**aml_env(aml), "CONTAINERS_REGISTRIES_CONF": str(registries_conf)},
        )
        with r:
            r.extra_env["EDGETRAIN_REHEARSAL_ENTRA_URL"] = f"{r.github.url}/_entra"
            r.extra_env["EDGETRAIN_REHEARSAL_ACR_EXCHANGE_URL"] = f"{r.github.url}/_acr/exchange"
            r.github.state.acr_password = login[1]
            aml.state.accept_token = lambda token: token in r.github.state.access_tokens
            r.registry = registry  # type: ignore[attr-defined]
            r.aml = aml  # type: ignore[attr-defined]
            r.seed_base(rows=BASE_ROWS)
            yield r


@pytest.fixture(scope="session")
def trained_pr(rehearsal_base: Rehearsal) -> ActRun:
    r = rehearsal_base
    params = yaml.safe_load(r.show("main", "params.yaml"))
    params["train"]["max_depth"] = 4
    r.commit(PR_BRANCH, {"params.yaml": yaml.safe_dump(params, sort_keys=False)}, "Tune max_depth")
    return r.pull_request_round(PR_BRANCH, number=PR_NUMBER)
