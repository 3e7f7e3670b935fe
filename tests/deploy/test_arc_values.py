"""deploy/arc/values.yaml (Actions Runner Controller, when one edge VM is not enough) against the schema
written for it, offline with check-jsonschema: the committed values pass, and each fence's breach is
refused."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from tests.conftest import REPO_ROOT

ARC = REPO_ROOT / "deploy" / "arc"
CHECK = shutil.which("check-jsonschema") or str(REPO_ROOT / ".venv" / "bin" / "check-jsonschema")


def _check(values: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CHECK, "--schemafile", str(ARC / "values.schema.json"), str(values)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_committed_values_pass() -> None:
    done = _check(ARC / "values.yaml")
    assert done.returncode == 0, done.stdout + done.stderr


def _runner(doc: dict) -> dict:
    return doc["template"]["spec"]["containers"][0]


BREACHES = {
    "image by tag": lambda d: _runner(d).update(image="ghcr.io/actions/actions-runner:latest"),
    "privileged": lambda d: _runner(d)["securityContext"].update(privileged=True),
    "privilege escalation": lambda d: _runner(d)["securityContext"].update(allowPrivilegeEscalation=True),
    "root": lambda d: d["template"]["spec"]["securityContext"].update(runAsNonRoot=False),
    "host path": lambda d: d["template"]["spec"]["volumes"].append({"name": "h", "hostPath": {"path": "/"}}),
    "inline credential": lambda d: d.update(githubConfigSecret={"github_token": "ghp_x"}),
    "docker in docker": lambda d: d.update(containerMode={"type": "dind"}),
    "storage key in env": lambda d: _runner(d)["env"].append(
        {"name": "AZURE_STORAGE_CONNECTION_STRING", "value": "AccountKey=x"}
    ),
}


@pytest.mark.parametrize("breach", sorted(BREACHES))
def test_a_breached_fence_is_refused(breach: str, tmp_path: Path) -> None:
    doc = yaml.safe_load((ARC / "values.yaml").read_text())
    BREACHES[breach](doc)
    values = tmp_path / "values.yaml"
    values.write_text(yaml.safe_dump(doc))
    done = _check(values)
    assert done.returncode == 1, f"{breach}: {done.stdout}"
    assert "Schema validation errors" in done.stdout + done.stderr
