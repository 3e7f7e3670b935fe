"""Storage failures: one line, exit code 4, nothing landed."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from tests.conftest import REPO_ROOT

from edgetrain.cli import main
from edgetrain.errors import StorageError
from edgetrain.storage import azurite
from edgetrain.storage.azurite import free_port

EDGE = yaml.safe_load((REPO_ROOT / "config" / "edge.yaml").read_text())


def edge_file(tmp_path: Path, **storage: object) -> Path:
    data = yaml.safe_load(yaml.safe_dump(EDGE))
    data["storage"].update(storage)
    data["storage"] = {k: v for k, v in data["storage"].items() if v is not None}
    path = tmp_path / "edge.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_missing_credentials_for_a_real_account(tmp_path: Path, clean_env, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)  # no .dvc/config.local here
    path = edge_file(
        tmp_path, account_name="edgedata", blob_endpoint=None, endpoint_suffix="local.azurestack.external"
    )
    assert main(["storage", "--config", str(path), "seed", "--rows", "10", "--days", "1"]) == 4
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "missing storage credentials for account 'edgedata'" in err[0]
    assert "AZURE_STORAGE_CONNECTION_STRING" in err[0]


def test_storage_unreachable(tmp_path: Path, clean_env, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    port = free_port()  # nothing listens there
    path = edge_file(tmp_path, blob_endpoint=f"http://127.0.0.1:{port}/devstoreaccount1")
    assert main(["storage", "--config", str(path), "seed", "--rows", "10", "--days", "1"]) == 4
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert f"storage unreachable at http://127.0.0.1:{port}/devstoreaccount1" in err[0]


def test_bad_connection_string(tmp_path: Path, clean_env, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    clean_env.setenv("AZURE_STORAGE_CONNECTION_STRING", "not-a-connection-string")
    path = edge_file(tmp_path, blob_endpoint=f"http://127.0.0.1:{free_port()}/devstoreaccount1")
    assert main(["storage", "--config", str(path), "seed", "--rows", "10", "--days", "1"]) == 4
    assert "invalid storage connection string" in capsys.readouterr().err


def test_no_node_says_what_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # neither node nor npm
    with pytest.raises(StorageError, match=r"Node.js is not installed.*apt-get install nodejs npm"):
        azurite.ensure_installed("3.37.0", tools_dir=tmp_path / "tools")
    assert not (tmp_path / "tools" / "azurite-3.37.0").exists()


def test_standin_up_refuses_a_real_account(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    path = edge_file(
        tmp_path, account_name="edgedata", blob_endpoint=None, endpoint_suffix="local.azurestack.external"
    )
    assert main(["storage", "--config", str(path), "up"]) == 4
    assert "only runs the local stand-in" in capsys.readouterr().err
