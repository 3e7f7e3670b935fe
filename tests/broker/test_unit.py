"""The broker's systemd unit: verifies offline, runs as root with no capability, kills its whole group."""

from __future__ import annotations

import configparser
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from tests.conftest import REPO_ROOT

UNIT = REPO_ROOT / "deploy" / "edge-runner" / "edgetrain-broker.service"


def _unit() -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser(strict=False)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(UNIT.read_text())
    return parser


def test_unit_is_hardened() -> None:
    service = _unit()["Service"]
    assert service["KillMode"] == "control-group"
    assert service["User"] == "root"
    assert service["CapabilityBoundingSet"] == ""
    for key in ("NoNewPrivileges", "ProtectHome", "PrivateTmp", "RestrictSUIDSGID"):
        assert service[key] == "yes", key
    assert service["ProtectSystem"] == "strict"
    assert service["ProtectProc"] == "invisible"
    assert "--account-key-file /etc/edgetrain/storage-account.key" in service["ExecStart"]
    assert "/run/edgetrain-broker/broker.sock" in service["ExecStart"]
    assert service["RuntimeDirectory"] == "edgetrain-broker"


def test_unit_verifies(tmp_path: Path) -> None:
    tool = shutil.which("systemd-analyze")
    if tool is None:
        if os.environ.get("CI") == "true":
            pytest.fail("systemd-analyze is missing (CI=true: a missing tool is a failure)")
        pytest.skip("systemd-analyze not installed")
    fake = tmp_path / "venv" / "bin" / "edgetrain"
    fake.parent.mkdir(parents=True)
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    check = tmp_path / "edgetrain-broker.service"
    check.write_text(UNIT.read_text().replace("/opt/edgetrain-broker/venv", str(tmp_path / "venv")))
    done = subprocess.run(
        [tool, "verify", str(check)], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout + done.stderr == ""
