"""The import contracts in pyproject.toml (run by `make lint` as `lint-imports`) hold for src/, and they
are not vacuous: a planted import cycle or an area importing one above it breaks them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from tests.conftest import REPO_ROOT

LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint(root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(root / "src")}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        check=False,
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    shutil.copytree(REPO_ROOT / "src" / "edgetrain", tmp_path / "src" / "edgetrain")
    shutil.copy(REPO_ROOT / "pyproject.toml", tmp_path)
    return tmp_path


def _plant(copy: Path, module: str, statement: str) -> None:
    path = copy / "src" / Path(*module.split(".")).with_suffix(".py")
    path.write_text(path.read_text() + f"\n\ndef _planted() -> None:\n    {statement}\n")


def test_src_keeps_every_import_contract(copy: Path) -> None:
    done = _lint(copy)
    assert done.returncode == 0, done.stdout[-2000:]
    assert "0 broken" in done.stdout


def test_a_cycle_between_siblings_is_caught(copy: Path) -> None:
    _plant(copy, "edgetrain.doctor.result", "from edgetrain.doctor import local")
    done = _lint(copy)
    assert done.returncode != 0
    assert "No cycles are allowed in edgetrain.doctor" in done.stdout


def test_the_ground_floor_importing_an_area_is_caught(copy: Path) -> None:
    _plant(copy, "edgetrain.contract.layout", "import edgetrain.pipeline.train")
    done = _lint(copy)
    assert done.returncode != 0
    assert "edgetrain.contract.layout -> edgetrain.pipeline.train" in done.stdout


def test_the_scoring_server_importing_the_package_is_caught(copy: Path) -> None:
    _plant(copy, "edgetrain.serving.scoring_server.app", "from edgetrain.contract import layout")
    done = _lint(copy)
    assert done.returncode != 0
    assert "edgetrain.serving.scoring_server.app -> edgetrain.contract" in done.stdout
