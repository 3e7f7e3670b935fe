"""release.yml's deploy jobs and rollback.yml: where each runs, what it may hold, what it is gated by."""

from __future__ import annotations

import base64
import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
RELEASE = REPO / ".github" / "workflows" / "release.yml"
ROLLBACK = REPO / ".github" / "workflows" / "rollback.yml"


def jobs(path: Path) -> dict:
    return yaml.safe_load(path.read_text())["jobs"]


def runs(job: dict) -> str:
    return "\n".join(step.get("run", "") for step in job["steps"])


def uses(job: dict) -> list[str]:
    return [step["uses"].split("@")[0] for step in job["steps"] if "uses" in step]


def test_deploy_runs_after_ship_per_target() -> None:
    flow = jobs(RELEASE)
    names = list(flow)
    assert names[names.index("ship") + 1 :] == [
        "deploy-plan",
        "deploy-azureml",
        "deploy-edge",
        "deploy-edge-record",
    ]
    assert flow["deploy-plan"]["needs"] == "ship"
    assert flow["deploy-azureml"]["needs"] == flow["deploy-edge"]["needs"] == "deploy-plan"
    assert (
        flow["deploy-azureml"]["strategy"]["matrix"]["target"]
        == "${{ fromJSON(needs.deploy-plan.outputs.azureml) }}"
    )
    assert (
        flow["deploy-edge"]["strategy"]["matrix"]["target"]
        == "${{ fromJSON(needs.deploy-plan.outputs.edge) }}"
    )


def test_azure_only_in_hosted_production_jobs() -> None:
    for path in (RELEASE, ROLLBACK):
        for name, job in jobs(path).items():
            if not name.startswith(("deploy", "rollback")):
                continue
            hosted = job["runs-on"] == "ubuntu-latest"
            if "azure/login" in uses(job) or job["permissions"].get("id-token"):
                assert hosted, name
                assert job["environment"] == "production", name
                assert job["permissions"]["id-token"] == "write", name
            if not hosted:  # the edge host: its own runner and approval environment, nothing but read
                assert job["runs-on"][0] == "self-hosted", name
                assert job["runs-on"][1].startswith("edgetrain-${{"), name
                assert job["environment"].startswith("edge-${{"), name
                assert job["permissions"] == {"contents": "read"}, name
                assert "azure/login" not in uses(job), name


def test_steps_run_the_script_with_inputs_through_env() -> None:
    flow = jobs(RELEASE)
    assert "release-deploy.sh plan" in runs(flow["deploy-plan"])
    assert 'release-deploy.sh azureml "$TARGET"' in runs(flow["deploy-azureml"])
    assert 'release-deploy.sh edge "$TARGET"' in runs(flow["deploy-edge"])
    assert "deploy record --backend azureml" in runs(flow["deploy-edge-record"])
    rollback = jobs(ROLLBACK)
    assert 'release-deploy.sh azureml "$TARGET" rollback' in runs(rollback["rollback-azureml"])
    assert 'release-deploy.sh edge "$TARGET" rollback' in runs(rollback["rollback-edge"])


def _script(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """release-deploy.sh as a step runs it, with an `az` that hands out a fixed ACR token (TOKEN)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    az = bin_dir / "az"
    az.write_text(f"#!/bin/sh\necho {TOKEN}\n")
    az.chmod(0o755)
    full = {
        **os.environ,
        "HOME": str(tmp_path / "home"),
        "PATH": f"{bin_dir}{os.pathsep}{REPO / '.venv' / 'bin'}{os.pathsep}{os.environ['PATH']}",
        **(env or {}),
    }
    return subprocess.run(
        ["bash", str(REPO / "deploy" / "rollout" / "release-deploy.sh"), *args],
        cwd=tmp_path / "work" if (tmp_path / "work").is_dir() else REPO,
        env=full,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


TOKEN = "acr-refresh-token-0123456789"


def test_acr_login_masks_the_token_and_writes_the_docker_config_owner_only(tmp_path: Path) -> None:
    """The ACR token is masked before anything uses it (the ::add-mask:: line reaches the runner's stdout,
    not a variable) and lands only in ~/.docker/config.json, mode 0600, where the attestation reads it."""
    token = TOKEN
    home = tmp_path / "home"
    done = _script(tmp_path, "acr-login")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [f"::add-mask::{token}"]
    config = home / ".docker" / "config.json"
    assert config.stat().st_mode & 0o777 == 0o600
    (entry,) = json.loads(config.read_text())["auths"].values()
    assert base64.b64decode(entry["auth"]).decode() == f"00000000-0000-0000-0000-000000000000:{token}"
    ship = runs(jobs(RELEASE)["ship"])
    assert "release-deploy.sh acr-login\n" in ship  # not inside $(...)
    assert '--authfile "$HOME/.docker/config.json"' in ship


def _work(tmp_path: Path) -> Path:
    """A job's work tree: the template's config and venv (no deploy targets configured)."""
    work = tmp_path / "work"
    (work / "config").mkdir(parents=True)
    (work / "config" / "edge.yaml").write_bytes((REPO / "config" / "edge.yaml").read_bytes())
    (work / ".venv").symlink_to(REPO / ".venv")
    return work


@pytest.mark.parametrize("action", ["deploy", "rollback"])
def test_a_refused_deploy_is_one_line_in_the_job_summary_and_fails_the_step(
    tmp_path: Path, action: str
) -> None:
    """What the deploy job shows when `edgetrain deploy` refuses (here: a target config does not name)."""
    work = _work(tmp_path)
    summary = tmp_path / "summary.md"
    env = {"GITHUB_STEP_SUMMARY": str(summary), "VERSION": "1", "IMAGE": "acr.example/x@sha256:" + "0" * 64}
    done = _script(tmp_path, "azureml", "nope", action, env=env)
    assert done.returncode == 1
    line = "--target 'nope': not in config/edge.yaml deploy.targets (known: none)"
    assert summary.read_text() == f"### Deploy refused: nope\n\n{line}\n"
    assert done.stderr.strip().splitlines() == [f"edgetrain: error: {line}"]
    assert (work / "deploy.err").is_file()
    # the registry login does not outlive the step, refused or not
    assert not (tmp_path / "home" / ".docker" / "config.json").exists()
