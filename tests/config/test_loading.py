"""config/edge.yaml and params.yaml: every problem is one line naming the file and the key, exit code 2."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from tests.conftest import REPO_ROOT

from edgetrain.cli import main
from edgetrain.config.edge import load_edge_config
from edgetrain.config.params import load_params
from edgetrain.errors import ConfigError

EDGE = yaml.safe_load((REPO_ROOT / "config" / "edge.yaml").read_text())
PARAMS = yaml.safe_load((REPO_ROOT / "params.yaml").read_text())


def write(tmp_path: Path, name: str, data: object) -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data) if not isinstance(data, str) else data)
    return path


def test_shipped_files_are_valid() -> None:
    edge = load_edge_config(REPO_ROOT / "config" / "edge.yaml")
    assert edge.storage.api_version == "2019-07-07"
    assert EDGE["storage"]["blob_endpoint"] == "standin"  # the address follows this checkout's stand-in
    assert edge.standin_managed
    assert load_params(REPO_ROOT / "params.yaml").task == "binary"


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda d: d["storage"].update(acount_name="x"), "storage.acount_name: unknown key"),
        (lambda d: d["storage"].pop("account_name"), "storage.account_name: missing required key"),
        (lambda d: d["standin"].update(port="10000"), "standin.port: Input should be a valid integer"),
        (lambda d: d["storage"].update(api_version="latest"), "storage.api_version: String should match"),
        (lambda d: d["runner"].update(labels=[]), "runner.labels: List should have at least 1 item"),
        (
            lambda d: d["storage"].update(blob_endpoint="ftp://x"),
            "storage.blob_endpoint: must start with http:// or https://",
        ),
    ],
)
def test_edge_config_errors_name_the_key(tmp_path: Path, mutate, expected: str) -> None:  # type: ignore[no-untyped-def]
    data = yaml.safe_load(yaml.safe_dump(EDGE))
    mutate(data)
    path = write(tmp_path, "edge.yaml", data)
    with pytest.raises(ConfigError) as err:
        load_edge_config(path)
    assert str(err.value).startswith(f"{path}: {expected}")
    assert "\n" not in str(err.value)


def test_endpoint_is_required(tmp_path: Path) -> None:
    data = yaml.safe_load(yaml.safe_dump(EDGE))
    data["storage"].pop("blob_endpoint")
    with pytest.raises(ConfigError, match=re.escape("set storage.endpoint_suffix or storage.blob_endpoint")):
        load_edge_config(write(tmp_path, "edge.yaml", data))


def test_endpoint_suffix_builds_stack_hub_url(tmp_path: Path) -> None:
    data = yaml.safe_load(yaml.safe_dump(EDGE))
    data["storage"].pop("blob_endpoint")
    data["storage"]["endpoint_suffix"] = "redmond.azurestack.corp"
    cfg = load_edge_config(write(tmp_path, "edge.yaml", data))
    assert cfg.storage.blob_url == "https://devstoreaccount1.blob.redmond.azurestack.corp"


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda d: d["train"].update(objective="multi:softprob"), "does not fit task 'binary'"),
        (lambda d: d["train"].update(eta="0.1"), "train.eta: Input should be a valid number"),
        (lambda d: d["train"].update(device="tpu"), "train.device: Input should be 'cpu' or 'cuda'"),
        (lambda d: d["split"].update(test_fraction=0.9), "valid_fraction + test_fraction must be below 1"),
        (
            lambda d: d["data"].update(categorical=["colour"]),
            "categorical column 'colour' is not in features",
        ),
        (lambda d: d["evaluate"].update(primary_metric="rmse"), "not computed for task 'binary'"),
        (lambda d: d.update(tasks="binary"), "tasks: unknown key"),
    ],
)
def test_params_errors_name_the_key(tmp_path: Path, mutate, expected: str) -> None:  # type: ignore[no-untyped-def]
    data = yaml.safe_load(yaml.safe_dump(PARAMS))
    mutate(data)
    with pytest.raises(ConfigError, match=re.escape(expected)):
        load_params(write(tmp_path, "params.yaml", data))


@pytest.mark.parametrize(
    ("text", "expected"),
    [("storage: [unclosed", "line 1"), ("- a\n- b\n", "top level must be a mapping")],
)
def test_malformed_yaml(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(ConfigError, match=expected):
        load_edge_config(write(tmp_path, "edge.yaml", text))


def test_cli_exit_code_2_and_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = yaml.safe_load(yaml.safe_dump(EDGE))
    data["azureml"]["workspace_name"] = "oops"
    path = write(tmp_path, "edge.yaml", data)
    assert main(["storage", "--config", str(path), "status"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"edgetrain: error: {path}: azureml.workspace_name: unknown key"]


def test_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["storage", "--config", str(tmp_path / "nope.yaml"), "status"]) == 2
    assert "nope.yaml: file not found" in capsys.readouterr().err
