"""``edgetrain doctor --edge-runner`` fails when the job can see a storage account key, wherever it is."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgetrain.doctor.credentials import check_no_account_key
from edgetrain.doctor.result import Context

KEY_CONN = "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=c2VjcmV0;EndpointSuffix=x"
SAS_CONN = "BlobEndpoint=https://acct.blob.x;SharedAccessSignature=sv=2019-07-07&sr=c&sp=rl&sig=abc"


def _results(repo: Path, edge_runner: bool = True) -> list[tuple[bool, str]]:
    ctx = Context(repo=repo, config_path=repo / "c", params_path=repo / "p", edge_runner=edge_runner)
    return [(r.ok, r.line()) for r in check_no_account_key(ctx)]


@pytest.mark.parametrize("variable", ["AZURE_STORAGE_CONNECTION_STRING", "SOME_OTHER_SECRET"])
def test_an_account_key_in_any_variable_fails(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, variable: str
) -> None:
    monkeypatch.setenv(variable, KEY_CONN)
    [(ok, line)] = _results(tmp_path)
    assert not ok
    assert variable in line
    assert "c2VjcmV0" not in line  # names where, never the value
    assert "edgetrain broker credential" in line


def test_an_account_key_in_a_dvc_config_fails(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("AZURE_STORAGE_CONNECTION_STRING", raising=False)
    monkeypatch.setenv("DVC_GLOBAL_CONFIG_DIR", str(tmp_path / "g"))
    (tmp_path / "g").mkdir()
    (tmp_path / "g" / "config").write_text(
        f"['remote \"stackhub-cache\"']\n    connection_string = {KEY_CONN}\n"
    )
    [(ok, line)] = _results(tmp_path)
    assert not ok
    assert str(tmp_path / "g" / "config") in line


def test_a_sas_only_job_passes_and_laptops_are_not_checked(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", SAS_CONN)
    monkeypatch.delenv("DVC_GLOBAL_CONFIG_DIR", raising=False)
    assert [ok for ok, _ in _results(tmp_path)] == [True]
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", KEY_CONN)
    assert _results(tmp_path, edge_runner=False) == []  # a laptop uses its account key on purpose
