"""One setting for the stand-in's address: ``blob_endpoint: standin`` follows the port ``up`` recorded."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from tests.conftest import REPO_ROOT

from edgetrain.cli import main
from edgetrain.config.edge import load_edge_config
from edgetrain.errors import ConfigError

EDGE = yaml.safe_load((REPO_ROOT / "config" / "edge.yaml").read_text())


def project(tmp_path: Path, **standin: object) -> Path:
    data = yaml.safe_load(yaml.safe_dump(EDGE))
    data["standin"].update(standin)
    path = tmp_path / "config" / "edge.yaml"
    path.parent.mkdir(parents=True)
    path.write_text(yaml.safe_dump(data))
    return path


def test_endpoint_follows_standin_port_until_up_records_one(tmp_path: Path) -> None:
    path = project(tmp_path, port=12345)
    cfg = load_edge_config(path)
    assert cfg.storage.blob_url == "http://127.0.0.1:12345/devstoreaccount1"
    assert Path(cfg.standin.data_dir) == tmp_path / ".edgetrain" / "standin"  # in the project, any cwd
    (tmp_path / ".edgetrain" / "standin").mkdir(parents=True)
    (tmp_path / ".edgetrain" / "standin" / "endpoint.json").write_text(json.dumps({"port": 40001, "id": "x"}))
    assert load_edge_config(path).storage.blob_url == "http://127.0.0.1:40001/devstoreaccount1"


@pytest.mark.parametrize("content", ["{not json", '{"port": "10"}', '{"port": 70000}', "[]"])
def test_a_broken_record_falls_back_to_standin_port(tmp_path: Path, content: str) -> None:
    path = project(tmp_path, port=12345)
    (tmp_path / ".edgetrain" / "standin").mkdir(parents=True)
    (tmp_path / ".edgetrain" / "standin" / "endpoint.json").write_text(content)
    assert load_edge_config(path).storage.blob_url == "http://127.0.0.1:12345/devstoreaccount1"


def test_a_literal_endpoint_is_left_alone(tmp_path: Path) -> None:
    path = project(tmp_path)
    data = yaml.safe_load(path.read_text())
    data["storage"]["blob_endpoint"] = "http://127.0.0.1:23456/devstoreaccount1"
    path.write_text(yaml.safe_dump(data))
    (tmp_path / ".edgetrain" / "standin").mkdir(parents=True)
    (tmp_path / ".edgetrain" / "standin" / "endpoint.json").write_text(json.dumps({"port": 40001, "id": "x"}))
    cfg = load_edge_config(path)
    assert cfg.storage.blob_url == "http://127.0.0.1:23456/devstoreaccount1"
    assert not cfg.standin_managed


def test_standin_needs_the_dev_account(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = project(tmp_path)
    data = yaml.safe_load(path.read_text())
    data["storage"]["account_name"] = "edgedata"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(
        ConfigError,
        match=r"edge.yaml: storage: blob_endpoint: standin .* needs account_name: devstoreaccount1$",
    ):
        load_edge_config(path)
    assert main(["storage", "--config", str(path), "status"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err
    assert err.startswith(f"edgetrain: error: {path}: ")
