"""Released versions for the rollout tests: a trained project, versions in a local registry, and (for the
edge-host kind) their real scoring images built and pushed by digest to the loopback registry."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml
from tests.image.helpers import Project, committed_project, edgetrain

from edgetrain.registry.base import Candidate
from edgetrain.registry.local import LocalRegistry

MODEL_NAME = "edgetrain-xgb"


@dataclass(frozen=True)
class Released:
    version: str
    context: Path  # the packaged build context (model files + server), as `edgetrain serve` runs it
    image: str = ""  # registry/repository@sha256:... (empty until pushed)


def package(project: Project, version: str, *, broken: bool = False) -> Path:
    """``edgetrain package --model-version``; ``broken``: a model file the server cannot load."""
    out = project.root / "build" / f"v{version}"
    done = edgetrain("package", "--model-version", version, "-o", str(out), cwd=project.root)
    assert done.returncode == 0, done.stderr
    if broken:
        (out / "model" / "model.ubj").write_bytes(b"not a booster")
    return out


def register(registry_dir: Path, context: Path, n: int) -> str:
    """Store the context's model files as the next registry version (returns its number)."""
    files = (context / "model" / "model.ubj", context / "model" / "metadata.json")
    md5 = hashlib.md5(files[0].read_bytes()).hexdigest()
    candidate = Candidate(files, {"git_commit": f"{n:040x}", "model_md5": md5}, {}, f"release {n}")
    version, created = LocalRegistry(registry_dir, MODEL_NAME).create(candidate)
    assert created
    return version.version


def write_config(project: Project, targets: list[dict], registry_dir: Path) -> Path:
    config = yaml.safe_load((project.root / "config" / "edge.yaml").read_text())
    config["deploy"] = {"targets": targets}
    config["registry"] = {"backend": "local", "local_path": str(registry_dir)}
    path = project.root / "config" / "deploy-test.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def deploy(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return edgetrain("deploy", *args, cwd=cwd, env=env)


def status(config: Path, target: str, cwd: Path, env: dict[str, str] | None = None) -> dict:
    done = deploy("status", "--target", target, "--config", str(config), "--json", cwd=cwd, env=env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def show(config: Path, version: str, cwd: Path) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "edgetrain", "models", "show", version, "--config", str(config)],
        cwd=cwd, env=dict(os.environ), capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


__all__ = ["Project", "committed_project"]
