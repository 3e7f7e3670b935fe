"""Helpers for storage tests: run commands in subprocesses, build template-like DVC repositories."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from pathlib import Path

import pytest
import yaml
from tests.conftest import STACK_HUB_VERSION, subprocess_env

from edgetrain.config.edge import StorageConfig
from edgetrain.storage.standin import create_containers, write_dvc_credentials

TIMEOUT_S = 300


def run(*cmd: str, cwd: Path, check: bool = True, **env: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        list(cmd),
        cwd=cwd,
        env=subprocess_env(**env),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )
    if check and done.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done


def commit(repo: Path, message: str) -> None:
    run("git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", message, cwd=repo)


def make_repo(path: Path, storage: StorageConfig, conn: str) -> Path:
    """A minimal repository wired like the template: config/edge.yaml + the two DVC remotes."""
    (path / "config").mkdir(parents=True)
    (path / "config" / "edge.yaml").write_text(
        yaml.safe_dump({"storage": storage.model_dump(exclude_none=True)})
    )
    run("git", "init", "-q", "-b", "main", cwd=path)
    run("dvc", "init", "-q", cwd=path)
    run("dvc", "remote", "add", "-d", "stackhub-cache", f"azure://{storage.dvc_container}", cwd=path)
    run("dvc", "remote", "add", "stackhub-raw", f"azure://{storage.raw_container}", cwd=path)
    write_dvc_credentials(conn, path)
    run("git", "add", "-A", cwd=path)
    commit(path, "init")
    return path


def clone(src: Path, dst: Path) -> Path:
    run("git", "clone", "-q", str(src), str(dst), cwd=src.parent)
    shutil.copy(src / ".dvc" / "config.local", dst / ".dvc" / "config.local")
    return dst


@pytest.fixture
def storage(standin) -> StorageConfig:  # type: ignore[no-untyped-def]
    """Fresh raw and cache containers on the shared strict stand-in."""
    suffix = uuid.uuid4().hex[:8]
    cfg = StorageConfig(
        account_name="devstoreaccount1",
        blob_endpoint=standin.blob_endpoint,
        api_version=STACK_HUB_VERSION,
        raw_container=f"raw-{suffix}",
        dvc_container=f"cache-{suffix}",
    )
    create_containers(cfg, standin.connection_string)
    return cfg
