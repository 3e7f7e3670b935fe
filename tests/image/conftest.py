"""Fixtures for the real image tests: tools (a failure in CI, a skip elsewhere), a private buildah storage
with the cached base stand-in, the loopback registry, and a committed project with a trained model."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest
from tests.serving.helpers import REPO, TrainedModel, train_model

from edgetrain.serving.image import Buildah


def load_rehearsal(name: str) -> ModuleType:
    """``rehearsal/<name>.py`` (the repository's rehearsal scripts are not an installed package)."""
    qualified = f"rehearsal.{name}"
    if qualified in sys.modules:
        return sys.modules[qualified]
    spec = importlib.util.spec_from_file_location(qualified, REPO / "rehearsal" / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[qualified] = module
    spec.loader.exec_module(module)
    return module


base_image = load_rehearsal("base_image")
registry_module = load_rehearsal("registry")

TOOLS = ("buildah", "skopeo", "podman", "mmdebstrap", "docker-registry")
ORIGIN = "git@github.com:acme/edgetrain-fork.git"
SOURCE = "https://github.com/acme/edgetrain-fork"
#: Persistent test storage: the imported base stand-in survives between runs (built images are removed).
STORAGE = REPO / ".edgetrain" / "containers" / "tests"


def need_tools(*tools: str) -> None:
    """In CI (``CI=true``) a missing tool fails the test; on a laptop it skips it with the install line."""
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if not missing:
        return
    message = f"missing {', '.join(missing)}: apt-get install {' '.join(missing)}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


def edgetrain(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The real command line, as a workflow runs it."""
    return subprocess.run(
        [sys.executable, "-m", "edgetrain", *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )


def git(root: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return done.stdout.strip()


@dataclass(frozen=True)
class Project:
    model: TrainedModel
    commit: str

    @property
    def root(self) -> Path:
        return self.model.root


def committed_project(root: Path, origin: str = ORIGIN) -> Project:
    """A git checkout (origin ``origin``) holding a trained binary model; artifacts and build git-ignored."""
    root.mkdir(parents=True, exist_ok=True)
    git(root, "init", "-q", "-b", "main")
    git(root, "remote", "add", "origin", origin)
    model = train_model(root, "binary")
    (root / ".gitignore").write_text("artifacts/\nbuild/\n")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "model project")
    return Project(model, git(root, "rev-parse", "HEAD"))


@pytest.fixture(scope="session")
def buildah_storage() -> Buildah:
    need_tools(*TOOLS)
    return Buildah.from_env(root=STORAGE, env={})


@pytest.fixture(scope="session")
def standin(buildah_storage: Buildah) -> base_image.StandIn:
    """The base stand-in in the test storage and the wheelhouse (both cached under .edgetrain/)."""
    return base_image.prepare(buildah_storage, base_image.CACHE)


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[registry_module.LoopbackRegistry]:
    need_tools("docker-registry")
    with registry_module.LoopbackRegistry(tmp_path_factory.mktemp("registry")) as running:
        yield running
