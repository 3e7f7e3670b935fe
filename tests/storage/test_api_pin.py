"""The API-version pin: where the version comes from and what it does to azure-storage-blob."""

from __future__ import annotations

import subprocess
import sys
import types
from pathlib import Path

import pytest
from tests.conftest import REPO_ROOT, subprocess_env

from edgetrain.storage import api_pin

CONFIG = """storage:
  account_name: acct
  # api_version: "2001-01-01"  (a comment must not count)
  api_version: "2019-02-02"   # Stack Hub 2005
azureml:
  api_version: "2099-01-01"
"""


def test_version_comes_from_nearest_config_storage_section(
    tmp_path: Path, clean_env: pytest.MonkeyPatch
) -> None:
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "edge.yaml").write_text(CONFIG)
    nested = tmp_path / "a" / "b"
    nested.mkdir(parents=True)
    assert api_pin.configured_version(nested) == "2019-02-02"


def test_env_var_wins_and_off_disables(tmp_path: Path, clean_env: pytest.MonkeyPatch) -> None:
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "edge.yaml").write_text(CONFIG)
    clean_env.setenv(api_pin.ENV_VAR, "2019-07-07")
    assert api_pin.configured_version(tmp_path) == "2019-07-07"
    clean_env.setenv(api_pin.ENV_VAR, "off")
    assert api_pin.configured_version(tmp_path) is None


def test_no_config_means_no_pin(tmp_path: Path, clean_env: pytest.MonkeyPatch) -> None:
    assert api_pin.configured_version(tmp_path) is None


def test_apply_makes_version_the_newest_in_place() -> None:
    versions = ["2019-02-02", "2019-07-07", "2019-12-12", "2026-10-06"]
    module = types.SimpleNamespace(_SUPPORTED_API_VERSIONS=versions)
    api_pin.apply(module, "2019-07-07")  # type: ignore[arg-type]
    assert versions == ["2019-02-02", "2019-07-07"]
    api_pin.apply(module, "2019-05-05")  # type: ignore[arg-type]
    assert versions[-1] == "2019-05-05"
    with pytest.raises(ValueError, match="not an API version"):
        api_pin.apply(module, "latest")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("cwd_config", "env", "expected"),
    [
        (True, None, "2019-07-07"),
        (True, "2019-02-02", "2019-02-02"),
        (False, None, "newest"),
    ],
)
def test_every_interpreter_of_the_venv_is_pinned(
    tmp_path: Path, cwd_config: bool, env: str | None, expected: str
) -> None:
    """The .pth hook pins clients in any process of the venv (dvc included), with no project import."""
    cwd = REPO_ROOT if cwd_config else tmp_path
    extra = {api_pin.ENV_VAR: env} if env else {}
    code = (
        "from azure.storage.blob import BlobServiceClient as C; import azure.storage.blob._serialize as s;"
        "c = C('http://127.0.0.1:1/acct'); print(c.api_version, s._SUPPORTED_API_VERSIONS[-1])"
    )
    out = subprocess.run(
        [str(REPO_ROOT / ".venv" / "bin" / "python"), "-c", code],
        cwd=cwd,
        env=subprocess_env(**extra),
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    version, newest = out.stdout.split()
    assert version == newest
    if expected == "newest":
        assert version > "2020-01-01"
    else:
        assert version == expected
    assert "edgetrain" not in sys.modules.get("__main__", types.SimpleNamespace(__file__="")).__file__
