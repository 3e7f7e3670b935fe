"""The ``azureml`` backend through the real azure-ai-ml code path, against a loopback stand-in.

These are contract tests: MLClient is pointed through its custom-cloud support at
``azureml_standin.py`` (TLS on 127.0.0.1) and the workspace's blob datastore is Azurite, so they
show which requests the SDK sends (model version PUT with our tags/properties, blob upload of the
model files, version listing for idempotency). They do not prove the real service accepts them.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from edgetrain.cli import main

pytestmark = [
    pytest.mark.integration,
    # azure-ai-ml 1.35 builds its marshmallow schemas with options marshmallow 4 deprecates; not ours to fix.
    pytest.mark.filterwarnings("ignore::marshmallow.warnings.Marshmallow4Warning"),
]

VERSIONS = "/models/edgetrain-xgb/versions"


def register(repo: Any, *extra: str) -> int:
    return main(["register", "--backend", "azureml", "--repo", str(repo.path), *extra])


def models(*args: str) -> int:
    return main(["models", *args, "--backend", "azureml"])


def arm(aml: Any, method: str, suffix: str) -> list[Any]:
    return [c for c in aml.log if not c.is_blob and c.method == method and c.path.endswith(suffix)]


def test_register_uploads_model_and_puts_version_with_lineage(
    model_repo: Any, azureml: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    commit = model_repo.release(auc=0.9)
    assert register(model_repo, "--json") == 0
    out = json.loads(capsys.readouterr().out)
    assert out["status"] == "registered"
    assert out["version"] == "1"

    blob_puts = [c for c in azureml.log if c.is_blob and c.method == "PUT" and not c.query]
    uploaded = sorted(Path(c.path).name for c in blob_puts)
    assert uploaded == ["metadata.json", "model.ubj"]
    model_put = next(c for c in blob_puts if c.path.endswith("/model.ubj"))
    assert model_put.host == "devstoreaccount1.blob.core.edgetrain.test"
    assert model_put.path.startswith("/azureml-blobstore-standin/LocalUpload/")
    assert model_put.headers["x-ms-version"]  # whichever version the storage SDK (or the project pin) sends
    blob_path = model_put.path.split("/", 2)[2]
    assert azureml.blob(blob_path) == model_repo.model_bytes(3)

    (put,) = arm(azureml, "PUT", f"{VERSIONS}/1")
    assert put.headers["Authorization"] == "Bearer standin-token"
    body = put.body["properties"]
    assert body["modelType"] == "custom_model"
    assert body["modelUri"].startswith("azureml://subscriptions/11111111-2222-3333-4444-555555555555/")
    assert "/datastores/workspaceblobstore/paths/LocalUpload/" in body["modelUri"]
    model_md5 = hashlib.md5(model_repo.model_bytes(3)).hexdigest()
    for section in ("tags", "properties"):
        assert "reproduced" not in body[section]  # registered outside a release: no claim either way
        assert body[section]["git_commit"] == commit
        assert body[section]["model_md5"] == model_md5
        assert body[section]["metric_auc"] == "0.9"
        assert body[section]["data_source"] == "remote://stackhub-raw/raw"
    assert commit[:12] in body["description"]
    # MLClient asks for an ARM token for the custom cloud's resource manager.
    assert set(azureml.credential.scopes) == {(f"{azureml.state.arm_url}/.default",)}


@pytest.mark.parametrize("reproduced", ["true", "false"])
def test_the_release_records_whether_it_reproduced_the_model(
    model_repo: Any, azureml: Any, reproduced: str
) -> None:
    model_repo.release()
    assert register(model_repo, "--reproduced", reproduced) == 0
    (put,) = arm(azureml, "PUT", f"{VERSIONS}/1")
    body = put.body["properties"]
    assert body["tags"]["reproduced"] == body["properties"]["reproduced"] == reproduced
    assert ("Not reproduced by the release" in body["description"]) == (reproduced == "false")


def test_register_again_is_idempotent(
    model_repo: Any, azureml: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    model_repo.release()
    assert register(model_repo) == 0
    azureml.log.clear()
    capsys.readouterr()
    assert register(model_repo) == 0
    assert "already registered" in capsys.readouterr().out
    assert arm(azureml, "GET", VERSIONS)  # looked up by listing versions
    assert not [c for c in azureml.log if c.method in {"PUT", "POST"}]  # nothing written, nothing uploaded


def test_gate_promote_list_show(model_repo: Any, azureml: Any, capsys: pytest.CaptureFixture[str]) -> None:
    model_repo.release(rounds=3, auc=0.9)
    assert register(model_repo) == 0
    assert models("promote", "1") == 0
    (tag_put,) = arm(azureml, "PUT", f"{VERSIONS}/1")[1:]
    assert tag_put.body["properties"]["tags"]["stage"] == "production"

    model_repo.release(rounds=4, auc=0.7, message="worse")
    capsys.readouterr()
    azureml.log.clear()
    assert register(model_repo) == 5
    assert "candidate auc=0.7 vs production v1 auc=0.9" in capsys.readouterr().err
    assert not arm(azureml, "PUT", "")
    assert register(model_repo, "--force", "--reason", "known regression, see #12") == 0
    (put,) = arm(azureml, "PUT", f"{VERSIONS}/2")
    assert put.body["properties"]["properties"]["force_reason"] == "known regression, see #12"

    azureml.log.clear()
    assert models("promote", "2") == 0
    puts = {c.path.rsplit("/", 1)[1]: c.body["properties"]["tags"] for c in arm(azureml, "PUT", "")}
    assert puts["2"]["stage"] == "production"
    assert "stage" not in puts["1"]

    capsys.readouterr()
    assert models("list") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("VERSION")
    assert lines[2].split()[:2] == ["2", "production"]
    assert models("show", "--production", "--json") == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["version"] == "2"
    assert shown["tags"]["git_commit"] == model_repo.commits[-1]
    assert models("show", "1") == 0
    assert model_repo.commits[0] in capsys.readouterr().out


def test_transient_errors_are_retried(
    model_repo: Any, azureml: Any, caplog: pytest.LogCaptureFixture
) -> None:
    model_repo.release()
    azureml.fail("GET", VERSIONS + "$", 503, "ServiceUnavailable", times=2)
    assert register(model_repo) == 0
    assert sum("retry" in r.getMessage() for r in caplog.records) == 2


@pytest.mark.parametrize(
    "case",
    [
        (403, "AuthorizationFailed", 10, "permission denied"),
        (401, "InvalidAuthenticationToken", 8, "token refused by Azure ML workspace mlw-edgetrain"),
        (400, "UserError", 7, "HTTP 400"),
    ],
)
def test_service_errors_give_one_line_and_exit_code(
    model_repo: Any, azureml: Any, capsys: pytest.CaptureFixture[str], case: tuple[int, str, int, str]
) -> None:
    status, code, exit_code, words = case
    model_repo.release()
    azureml.fail("PUT", f"{VERSIONS}/1$", status, code)
    capsys.readouterr()
    assert register(model_repo) == exit_code
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert words in err
    assert models("list", "--json") == 0
    assert json.loads(capsys.readouterr().out) == []  # nothing half registered


def test_workspace_not_found(model_repo: Any, azureml: Any, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = model_repo.path / "config" / "edge.yaml"
    cfg.write_text(cfg.read_text().replace("workspace: mlw-edgetrain", "workspace: mlw-missing"))
    assert models("list") == 9
    err = capsys.readouterr().err
    assert "get workspace: not found" in err
    assert "mlw-missing" in err


def test_login_failures(model_repo: Any, azureml: Any, capsys: pytest.CaptureFixture[str]) -> None:
    from azure.core.exceptions import ClientAuthenticationError
    from azure.identity import CredentialUnavailableError

    azureml.credential.error = CredentialUnavailableError("Please run 'az login' to set up an account")
    assert models("list") == 8
    assert "no Azure login available" in capsys.readouterr().err
    azureml.credential.error = ClientAuthenticationError(
        "AADSTS700213: No matching federated identity record"
    )
    assert models("list") == 8
    assert "AADSTS700213" in capsys.readouterr().err


def test_network_failure_retries_then_one_line(
    model_repo: Any, azureml: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from socket import socket

    from edgetrain.registry import azureml as backend

    with socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = sock.getsockname()[1]  # closed once the block ends: connections are refused
    kwargs = azureml.cloud_kwargs()
    kwargs["cloud"] = f"EdgetrainLoopbackDead{dead}"
    kwargs["cloud_metadata"] = {**kwargs["cloud_metadata"], "resource_manager": f"https://127.0.0.1:{dead}/"}
    monkeypatch.setattr(backend.AzureMLRegistry, "client_kwargs", kwargs)
    assert models("list") == 11
    err = capsys.readouterr().err
    assert "cannot reach" in err
    assert "after 4 attempts" in err
    assert len(err.strip().splitlines()) == 1


def test_placeholder_or_missing_workspace_config(model_repo: Any, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = model_repo.path / "config" / "edge.yaml"
    text = cfg.read_text()
    cfg.write_text(
        text.replace("11111111-2222-3333-4444-555555555555", "00000000-0000-0000-0000-000000000000")
    )
    assert models("list") == 2
    assert "placeholder" in capsys.readouterr().err
    cfg.write_text(text.replace("  workspace: mlw-edgetrain\n", ""))
    assert models("list") == 2
    assert "azureml.workspace: missing required key" in capsys.readouterr().err
