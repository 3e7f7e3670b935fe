"""The API-version pin: where the version comes from and what it does to azure-storage-blob."""

from __future__ import annotations

import subprocess
import types
from pathlib import Path

import pytest
import yaml
from tests.conftest import REPO_ROOT, subprocess_env

from edgetrain.config.edge import load_edge_config
from edgetrain.storage import api_pin

PROJECT_VERSION = load_edge_config(REPO_ROOT / "config" / "edge.yaml").storage.api_version
REST = """azureml: {subscription_id: s, resource_group: g, workspace: w, model_name: m}
acr: {login_server: acr.example}
runner: {labels: [self-hosted]}
"""
#: Ways of writing (or not writing) the key; the hook must agree with the project's loader on each.
VARIANTS = {
    "omitted": "storage:\n  account_name: acct\n  endpoint_suffix: x.example\n",
    "quoted_key": (
        'storage:\n  account_name: acct\n  endpoint_suffix: x.example\n  "api_version": "2019-02-02"\n'
    ),
    "flow": "storage: {account_name: acct, endpoint_suffix: x.example, api_version: '2019-02-02'}\n",
    "commented_line": (
        "storage:\n  account_name: acct\n  endpoint_suffix: x.example\n"
        '  # api_version: "2001-01-01"\n  api_version: "2019-02-02"   # Stack Hub 2005\n'
    ),
}


def project(tmp_path: Path, edge_yaml: str) -> Path:
    (tmp_path / "config").mkdir(parents=True, exist_ok=True)
    (tmp_path / "config" / "edge.yaml").write_text(edge_yaml + REST)
    return tmp_path


def test_the_project_is_where_this_package_is_installed_from() -> None:
    assert api_pin.project_root() == REPO_ROOT
    assert api_pin.project_root(REPO_ROOT / ".venv" / "lib" / "edgetrain" / "storage" / "api_pin.py") is None


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_hook_and_project_read_the_same_version(tmp_path: Path, clean_env, variant: str) -> None:  # type: ignore[no-untyped-def]
    root = project(tmp_path, VARIANTS[variant])
    expected = load_edge_config(root / "config" / "edge.yaml").storage.api_version
    assert api_pin.configured_version(root) == expected


def test_a_stray_config_elsewhere_does_not_count(tmp_path: Path, clean_env) -> None:  # type: ignore[no-untyped-def]
    stray = project(tmp_path, VARIANTS["flow"])  # 2019-02-02, a valid config of another project
    nested = stray / "a" / "b"
    nested.mkdir(parents=True)
    clean_env.chdir(nested)
    assert api_pin.configured_version() == PROJECT_VERSION


def test_an_invalid_project_config_is_one_line_naming_file_and_key(tmp_path: Path, clean_env) -> None:  # type: ignore[no-untyped-def]
    root = project(tmp_path, "storage: {account_name: acct, endpoint_suffix: x, api_versoin: '2019-02-02'}\n")
    with pytest.raises(api_pin.PinError, match=r"config/edge\.yaml: storage\.api_versoin: unknown key"):
        api_pin.configured_version(root)


def test_override_wins_says_so_and_off_disables(tmp_path: Path, clean_env, capsys) -> None:  # type: ignore[no-untyped-def]
    root = project(tmp_path, VARIANTS["omitted"])
    clean_env.setenv(api_pin.ENV_VAR, "2019-02-02")
    assert api_pin.configured_version(root) == "2019-02-02"
    assert api_pin.effective("2019-07-07") == "2019-02-02"
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1
    assert f"{api_pin.ENV_VAR}=2019-02-02 overrides storage.api_version 2019-07-07" in err[0]
    clean_env.setenv(api_pin.ENV_VAR, "off")
    assert api_pin.configured_version(root) is None
    assert api_pin.effective("2019-07-07") == "2019-07-07"
    clean_env.setenv(api_pin.ENV_VAR, "latest")
    with pytest.raises(api_pin.PinError, match=rf"^{api_pin.ENV_VAR}='latest' is not a storage API version"):
        api_pin.configured_version(root)


def test_apply_makes_version_the_default_and_keeps_explicit_ones_selectable() -> None:
    versions = ["2019-02-02", "2019-07-07", "2019-12-12", "2026-10-06"]
    module = types.SimpleNamespace(_SUPPORTED_API_VERSIONS=versions)
    api_pin.apply(module, "2019-07-07")  # type: ignore[arg-type]
    assert versions == ["2019-02-02", "2019-12-12", "2026-10-06", "2019-07-07"]
    api_pin.apply(module, "2019-05-05")  # type: ignore[arg-type]
    assert versions[-1] == "2019-05-05"
    assert "2019-07-07" in versions
    with pytest.raises(ValueError, match="not a storage API version"):
        api_pin.apply(module, "latest")  # type: ignore[arg-type]


CLIENT = (
    "import azure.storage.blob._serialize as s; from azure.storage.blob import BlobServiceClient as C;"
    "print(C('http://127.0.0.1:1/acct').api_version, C('http://127.0.0.1:1/a', api_version='2021-08-06')"
    ".api_version)"
)


@pytest.mark.parametrize(
    ("where", "env", "expected"),
    [
        ("repo", None, PROJECT_VERSION),
        ("elsewhere", None, PROJECT_VERSION),
        ("stray", None, PROJECT_VERSION),
        ("elsewhere", "2019-02-02", "2019-02-02"),
        ("elsewhere", "off", "newest"),
    ],
)
def test_every_interpreter_of_the_venv_is_pinned_wherever_it_runs(
    tmp_path: Path, where: str, env: str | None, expected: str
) -> None:
    """The .pth hook pins clients in any process of the venv (dvc included), from any folder."""
    cwd = {"repo": REPO_ROOT, "elsewhere": tmp_path, "stray": project(tmp_path, VARIANTS["flow"])}[where]
    extra = {api_pin.ENV_VAR: env} if env else {}
    out = subprocess.run(
        [str(REPO_ROOT / ".venv" / "bin" / "python"), "-c", CLIENT],
        cwd=cwd,
        env=subprocess_env(**extra),
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    default, explicit = out.stdout.split()
    assert explicit == "2021-08-06"  # an explicit version is never refused
    if expected == "newest":
        assert default > "2020-01-01"
    else:
        assert default == expected


def test_importing_the_sdk_before_changing_into_the_repository_is_pinned(tmp_path: Path) -> None:
    code = (
        f"import os; from azure.storage.blob import BlobServiceClient as C; os.chdir({str(REPO_ROOT)!r});"
        "print(C('http://127.0.0.1:1/acct').api_version)"
    )
    out = subprocess.run(
        [str(REPO_ROOT / ".venv" / "bin" / "python"), "-c", code],
        cwd=tmp_path,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert out.stdout.strip() == PROJECT_VERSION


def test_start_up_stays_cheap() -> None:
    """The hook imports no config machinery until the SDK is imported."""
    heavy = ("yaml", "pydantic", "edgetrain.config")
    code = f"import sys; print(sorted(m for m in {heavy!r} if m in sys.modules))"
    out = subprocess.run(
        [str(REPO_ROOT / ".venv" / "bin" / "python"), "-c", code],
        env=subprocess_env(),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert yaml.safe_load(out.stdout) == []
