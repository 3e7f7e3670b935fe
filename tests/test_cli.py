"""The CLI entry points: ``edgetrain`` (console script), ``python -m edgetrain`` and ``main(argv)``."""

from __future__ import annotations

import subprocess
import sys

import pytest
from tests.conftest import REPO_ROOT, subprocess_env

from edgetrain import __version__
from edgetrain.cli import main

AREAS = ("storage", "prepare", "train", "evaluate", "package", "serve", "register", "models")


@pytest.mark.parametrize(
    "argv", [[str(REPO_ROOT / ".venv" / "bin" / "edgetrain")], [sys.executable, "-m", "edgetrain"]]
)
def test_console_script_and_module_agree(argv: list[str]) -> None:
    done = subprocess.run(
        [*argv, "--help"], env=subprocess_env(), capture_output=True, text=True, timeout=60, check=True
    )
    for command in AREAS:
        assert command in done.stdout
    version = subprocess.run(
        [*argv, "--version"], env=subprocess_env(), capture_output=True, text=True, timeout=60, check=True
    )
    assert version.stdout.strip() == f"edgetrain {__version__}"


def test_unknown_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["trian"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'trian'" in capsys.readouterr().err
