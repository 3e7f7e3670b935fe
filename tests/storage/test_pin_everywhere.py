"""The pin holds for every process of the venv, wherever it runs, against the strict stand-in.

Each call is a real subprocess (``dvc`` or ``python``) started outside the repository, talking to the
strict Stack Hub stand-in that refuses any ``x-ms-version`` newer than 2019-07-07 with
``400 InvalidHeaderValue``. Only the project's own ``config/edge.yaml`` (or the env override) decides.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from tests.conftest import REPO_ROOT, STACK_HUB_VERSION
from tests.storage.conftest import commit, make_repo, run

from edgetrain.storage import api_pin
from edgetrain.storage.seed import seed

pytestmark = pytest.mark.integration
PYTHON = str(REPO_ROOT / ".venv" / "bin" / "python")
EDGE = yaml.safe_load((REPO_ROOT / "config" / "edge.yaml").read_text())


def mine(standin, start: int, *containers: str) -> list:  # type: ignore[no-untyped-def]
    """Requests since ``start`` that touched these containers (other tests share the stand-in)."""
    return [r for r in standin.requests[start:] if any(f"/{c}" in r.path for c in containers)]


def assert_all_pinned(seen: list, version: str = STACK_HUB_VERSION) -> None:
    assert seen
    assert {r.version for r in seen} == {version}
    assert not [r for r in seen if r.status == 400]


@pytest.fixture
def landed(standin, storage, tmp_path: Path):  # type: ignore[no-untyped-def]
    seed(storage, rows=200, days=2, seed_value=5, conn_str=standin.connection_string)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    return elsewhere


def test_dvc_ls_url_from_another_folder(standin, storage, landed: Path) -> None:  # type: ignore[no-untyped-def]
    start = len(standin.requests)
    done = run(
        "dvc",
        "ls-url",
        f"azure://{storage.raw_container}/raw",
        cwd=landed,
        AZURE_STORAGE_CONNECTION_STRING=standin.connection_string,
    )
    assert "2026-11-01.csv" in done.stdout
    assert_all_pinned(mine(standin, start, storage.raw_container))


def test_python_elsewhere_importing_the_project_and_sdk_first(standin, storage, landed: Path) -> None:  # type: ignore[no-untyped-def]
    code = (
        "import os, sys; from azure.storage.blob import BlobServiceClient as C; import edgetrain.config;"
        "os.chdir(sys.argv[3]);"
        "c = C.from_connection_string(sys.argv[1]).get_container_client(sys.argv[2]);"
        "print(sorted(b.name for b in c.list_blobs()))"
    )
    start = len(standin.requests)
    done = run(
        PYTHON, "-c", code, standin.connection_string, storage.raw_container, str(REPO_ROOT), cwd=landed
    )
    assert "raw/2026-11-02.csv" in done.stdout
    assert_all_pinned(mine(standin, start, storage.raw_container))


def test_dvc_get_import_and_api_read_of_the_repository_from_another_folder(
    standin, storage, tmp_path: Path, landed: Path
) -> None:  # type: ignore[no-untyped-def]
    conn = standin.connection_string
    repo = make_repo(tmp_path / "repo", storage, conn)
    run("dvc", "import-url", "remote://stackhub-raw/raw", "data", cwd=repo)
    run("dvc", "push", cwd=repo)
    run("git", "add", "-A", cwd=repo)
    commit(repo, "import")
    expected = (repo / "data" / "2026-11-01.csv").read_bytes()
    shutil.rmtree(repo / ".dvc" / "cache")  # nothing local to copy from: the data must come from the remote
    shutil.rmtree(repo / "data")
    env = {"AZURE_STORAGE_CONNECTION_STRING": conn}  # a clone has no .dvc/config.local
    start = len(standin.requests)

    run("dvc", "get", str(repo), "data", "-o", "got", cwd=landed, **env)
    assert (landed / "got" / "2026-11-01.csv").read_bytes() == expected

    consumer = landed / "consumer"
    consumer.mkdir()
    run("git", "init", "-q", cwd=consumer)
    run("dvc", "init", "-q", cwd=consumer)
    run("dvc", "import", str(repo), "data", "-o", "imported", cwd=consumer, **env)
    assert (consumer / "imported" / "2026-11-02.csv").is_file()

    code = "import sys, dvc.api; sys.stdout.write(dvc.api.read('data/2026-11-01.csv', repo=sys.argv[1]))"
    read = run(PYTHON, "-c", code, str(repo), cwd=landed, **env)
    assert read.stdout.encode() == expected
    assert_all_pinned(mine(standin, start, storage.dvc_container, storage.raw_container))


def copy_project(tmp_path: Path, storage_yaml: str) -> Path:
    """This project's package in another checkout whose config says ``storage_yaml``."""
    root = tmp_path / "project"
    shutil.copytree(REPO_ROOT / "src", root / "src", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO_ROOT / "pyproject.toml", root / "pyproject.toml")
    rest = {k: v for k, v in EDGE.items() if k != "storage"}
    (root / "config").mkdir()
    (root / "config" / "edge.yaml").write_text(storage_yaml + yaml.safe_dump(rest))
    return root


@pytest.mark.parametrize(
    ("storage_yaml", "version"),
    [
        ("storage:\n  account_name: devstoreaccount1\n  endpoint_suffix: x.example\n", "2019-07-07"),
        (
            "storage:\n  account_name: devstoreaccount1\n  endpoint_suffix: x.example\n"
            '  "api_version": "2019-02-02"\n',
            "2019-02-02",
        ),
    ],
    ids=["key-left-out-uses-schema-default", "quoted-key"],
)
def test_dvc_follows_the_validated_config(  # type: ignore[no-untyped-def]
    standin, storage, landed: Path, tmp_path: Path, *, storage_yaml: str, version: str
) -> None:
    root = copy_project(tmp_path, storage_yaml)
    start = len(standin.requests)
    done = run(
        "dvc",
        "ls-url",
        f"azure://{storage.raw_container}/raw",
        cwd=root,
        AZURE_STORAGE_CONNECTION_STRING=standin.connection_string,
        PYTHONPATH=str(root / "src"),  # the venv's hook now belongs to the copied project
    )
    assert "2026-11-01.csv" in done.stdout
    assert_all_pinned(mine(standin, start, storage.raw_container), version)


def edge_file(tmp_path: Path, storage, standin) -> Path:  # type: ignore[no-untyped-def]
    data = yaml.safe_load(yaml.safe_dump(EDGE))
    data["storage"].update(blob_endpoint=standin.blob_endpoint, raw_container=storage.raw_container)
    path = tmp_path / "edge.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_an_override_that_differs_from_the_config_is_used_and_named(  # type: ignore[no-untyped-def]
    standin, storage, landed: Path, tmp_path: Path
) -> None:
    config = edge_file(tmp_path, storage, standin)
    start = len(standin.requests)
    done = run(
        "edgetrain", "storage", "--config", str(config), "seed", "--rows", "20", "--days", "1",
        cwd=landed, **{api_pin.ENV_VAR: "2019-02-02"},
    )  # fmt: skip
    assert f"{api_pin.ENV_VAR}=2019-02-02 overrides storage.api_version 2019-07-07" in done.stderr
    assert_all_pinned(mine(standin, start, storage.raw_container), "2019-02-02")
    listed = run(
        "dvc", "ls-url", f"azure://{storage.raw_container}/raw", cwd=landed,
        AZURE_STORAGE_CONNECTION_STRING=standin.connection_string, **{api_pin.ENV_VAR: "2019-02-02"},
    )  # fmt: skip
    assert "2026-11-01.csv" in listed.stdout
    assert_all_pinned(mine(standin, start, storage.raw_container), "2019-02-02")


@pytest.mark.parametrize("command", ["dvc", "edgetrain"])
def test_an_invalid_override_is_one_line_naming_the_variable(  # type: ignore[no-untyped-def]
    standin, storage, landed: Path, tmp_path: Path, command: str
) -> None:
    args = {
        "dvc": ("dvc", "ls-url", f"azure://{storage.raw_container}/raw"),
        "edgetrain": ("edgetrain", "storage", "--config", str(edge_file(tmp_path, storage, standin)), "seed"),
    }[command]
    start = len(standin.requests)
    done = run(
        *args,
        cwd=landed,
        check=False,
        AZURE_STORAGE_CONNECTION_STRING=standin.connection_string,
        **{api_pin.ENV_VAR: "latest"},
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"edgetrain: error: {api_pin.ENV_VAR}='latest' is not a storage API version")
    assert "unexpected error" not in done.stderr
    assert not mine(standin, start, storage.raw_container)
