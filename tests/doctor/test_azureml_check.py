"""The Azure ML check with the real azure-ai-ml client against the loopback workspace stand-in."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml
from tests.conftest import REPO_ROOT

from edgetrain.doctor.remote import check_azureml
from edgetrain.doctor.result import Context

pytestmark = [
    pytest.mark.integration,
    # azure-ai-ml 1.35 builds its marshmallow schemas with options marshmallow 4 deprecates; not ours to fix.
    pytest.mark.filterwarnings("ignore::marshmallow.warnings.Marshmallow4Warning"),
]


class Token:
    def __init__(self, error: Exception | None = None) -> None:
        self.error = error

    def get_token(self, *scopes: str, **kwargs: object):  # type: ignore[no-untyped-def]
        import time

        from azure.core.credentials import AccessToken

        if self.error is not None:
            raise self.error
        return AccessToken("standin-token", int(time.time()) + 3600)


def _context(tmp_path: Path, workspace: str) -> Context:
    from edgetrain.config.edge import EdgeConfig

    edge = yaml.safe_load((REPO_ROOT / "config" / "edge.yaml").read_text())
    edge["registry"]["backend"] = "azureml"
    edge["azureml"].update(subscription_id="11111111-2222-3333-4444-555555555555", workspace=workspace)
    return Context(
        repo=tmp_path, config_path=tmp_path, params_path=tmp_path, edge=EdgeConfig.model_validate(edge)
    )


@pytest.fixture
def workspace(standin, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    from edgetrain.storage.azurite import DEV_KEY

    folder = tmp_path / "aml"
    folder.mkdir()
    from tests.rehearsal.azureml_standin import AzureMLStandin

    with AzureMLStandin(
        folder,
        standin.azurite_endpoint,
        DEV_KEY,
        subscription="11111111-2222-3333-4444-555555555555",
        resource_group="rg-edgetrain",
        workspace="mlw-edgetrain",
    ) as aml:
        for key, value in aml.env().items():
            monkeypatch.setenv(key, value)
        monkeypatch.delenv("AZUREML_CURRENT_CLOUD", raising=False)
        yield aml
    os.environ.pop("AZUREML_CURRENT_CLOUD", None)  # MLClient sets it process-wide
    from azure.ai.ml import _azure_environments

    for name in [n for n in _azure_environments._environments if n.startswith("EdgetrainLoopback")]:
        del _azure_environments._environments[name]


def test_logged_in_and_the_workspace_answers(workspace, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ctx = _context(tmp_path, "mlw-edgetrain")
    ctx.azureml_credential, ctx.azureml_client_kwargs = Token(), workspace.cloud_kwargs()
    [result] = check_azureml(ctx)
    assert result.ok, result.line()
    assert "workspace 'mlw-edgetrain' answers" in result.detail
    assert any(call.path.endswith("/workspaces/mlw-edgetrain") for call in workspace.log)


def test_a_workspace_that_does_not_exist(workspace, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ctx = _context(tmp_path, "mlw-typo")
    ctx.azureml_credential, ctx.azureml_client_kwargs = Token(), workspace.cloud_kwargs()
    [result] = check_azureml(ctx)
    assert not result.ok
    assert "not found" in result.detail
    assert "azureml.subscription_id, resource_group and workspace" in result.fix


def test_a_refused_login(workspace, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from azure.core.exceptions import ClientAuthenticationError

    ctx = _context(tmp_path, "mlw-edgetrain")
    ctx.azureml_credential = Token(ClientAuthenticationError("AADSTS700016: application not found"))
    ctx.azureml_client_kwargs = workspace.cloud_kwargs()
    [result] = check_azureml(ctx)
    assert not result.ok
    assert "az login" in result.fix


def test_the_edge_runner_leaves_azure_ml_out(tmp_path: Path) -> None:
    """The edge runner has no Azure login by design: its doctor run passes the check without trying."""
    ctx = _context(tmp_path, "no-such-workspace")
    ctx.edge_runner = True
    (result,) = check_azureml(ctx)
    assert result.ok
    assert "no Azure credentials" in result.line()
