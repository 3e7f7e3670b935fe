"""Shared fixtures. ``standin`` is a private Stack Hub stand-in (Azurite + strict proxy) on free ports."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from edgetrain.storage.azurite import TOOLS_DIR
from edgetrain.storage.private_standin import Standin

REPO_ROOT = Path(__file__).resolve().parents[1]
STACK_HUB_VERSION = "2019-07-07"


@pytest.fixture(scope="session")
def standin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Standin]:
    """Azurite on a free loopback port behind the strict x-ms-version proxy (session-wide)."""
    location = tmp_path_factory.mktemp("standin") / "azurite"
    with Standin(location, max_version=STACK_HUB_VERSION, tools_dir=REPO_ROOT / TOOLS_DIR) as running:
        yield running


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No ambient storage credentials or API-version overrides leak into a test."""
    for name in ("AZURE_STORAGE_CONNECTION_STRING", "EDGETRAIN_STORAGE_API_VERSION"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def subprocess_env(**extra: str) -> dict[str, str]:
    """The environment for CLI subprocesses: the venv's bin first, no ambient credentials."""
    env = {k: v for k, v in os.environ.items() if k not in {"AZURE_STORAGE_CONNECTION_STRING"}}
    env["PATH"] = f"{REPO_ROOT / '.venv' / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env.update(extra)
    return env
