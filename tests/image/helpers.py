"""Helpers for image and packaging tests: tools (a failure in CI, a skip elsewhere), the real command line,
a committed git project holding a trained model, and the rehearsal scripts loaded from tests/rehearsal/."""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest
from tests.serving.helpers import REPO, TrainedModel, train_model


def load_rehearsal(name: str) -> ModuleType:
    """``tests/rehearsal/<name>.py``, the workflow and image rehearsal harness."""
    return importlib.import_module(f"tests.rehearsal.{name}")


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


#: Commit time of test projects: an old day, so timestamps taken from the clock would show.
COMMIT_DATE = "2024-01-02T03:04:05Z"
COMMIT_EPOCH = 1704164645


def git(root: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args],
        cwd=root,
        env={**os.environ, "GIT_AUTHOR_DATE": COMMIT_DATE, "GIT_COMMITTER_DATE": COMMIT_DATE},
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
    shutil.rmtree(root / "build")  # train_model packages; each test packages with its own options
    (root / ".gitignore").write_text("artifacts/\nbuild/\n")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "model project")
    return Project(model, git(root, "rev-parse", "HEAD"))
