"""A throwaway project (config, params, DVC config, data.dvc, workflows) wired to the strict stand-in."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from tests.conftest import REPO_ROOT

RAW, CACHE = "doctor-raw", "doctor-cache"
DOCTOR_TIMEOUT_S = 180


@dataclass
class Project:
    path: Path
    env: dict[str, str]

    def edit_edge(self, change: Callable[[dict], None]) -> None:
        path = self.path / "config" / "edge.yaml"
        data = yaml.safe_load(path.read_text())
        change(data)
        path.write_text(yaml.safe_dump(data, sort_keys=False))

    def set_remote_url(self, remote: str, url: str) -> None:
        subprocess.run(
            [str(REPO_ROOT / ".venv" / "bin" / "dvc"), "remote", "modify", remote, "url", url],
            cwd=self.path,
            check=True,
            capture_output=True,
            timeout=60,
            env=self.env,
        )

    def doctor(self) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(REPO_ROOT / ".venv" / "bin" / "edgetrain"), "doctor"],
            cwd=self.path,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=DOCTOR_TIMEOUT_S,
            stdin=subprocess.DEVNULL,
            check=False,
        )


def lines(done: subprocess.CompletedProcess[str], status: str, name: str) -> list[str]:
    return [ln for ln in done.stdout.splitlines() if ln.startswith(f"{status} {name}:")]


@pytest.fixture(scope="session")
def doctor_containers(standin) -> None:  # type: ignore[no-untyped-def]
    from azure.storage.blob import BlobServiceClient

    service = BlobServiceClient.from_connection_string(standin.connection_string, api_version="2019-07-07")
    for name in (RAW, CACHE):
        if not service.get_container_client(name).exists():
            service.create_container(name)


@pytest.fixture
def project(tmp_path: Path, standin, doctor_containers) -> Project:  # type: ignore[no-untyped-def]
    root = tmp_path / "repo"
    (root / "config").mkdir(parents=True)
    (root / ".github" / "workflows").mkdir(parents=True)
    shutil.copy(REPO_ROOT / "params.yaml", root / "params.yaml")
    shutil.copy(REPO_ROOT / "data.dvc", root / "data.dvc")
    shutil.copytree(
        REPO_ROOT / ".dvc", root / ".dvc", ignore=shutil.ignore_patterns("config.local", "tmp", "cache")
    )
    for flow in (REPO_ROOT / ".github" / "workflows").glob("*.yml"):
        shutil.copy(flow, root / ".github" / "workflows" / flow.name)
    edge = yaml.safe_load((REPO_ROOT / "config" / "edge.yaml").read_text())
    edge["storage"].update(blob_endpoint=standin.blob_endpoint, raw_container=RAW, dvc_container=CACHE)
    (root / "config" / "edge.yaml").write_text(yaml.safe_dump(edge, sort_keys=False))
    # Only what a runner has: the project venv and git (no Azure CLI, so no ambient Azure login).
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    git = shutil.which("git")
    assert git is not None
    (bin_dir / "git").symlink_to(git)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AZURE_", "AZUREML_", "EDGETRAIN_", "IDENTITY_", "MSI_")) and k not in {"PATH"}
    }
    env.update(
        PATH=f"{REPO_ROOT / '.venv' / 'bin'}{os.pathsep}{bin_dir}",
        HOME=str(tmp_path / "home"),
        AZURE_STORAGE_CONNECTION_STRING=standin.connection_string,
    )
    proj = Project(root, env)
    proj.set_remote_url("stackhub-raw", f"azure://{RAW}")
    proj.set_remote_url("stackhub-cache", f"azure://{CACHE}")
    return proj
