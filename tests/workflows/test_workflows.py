"""Static checks of the GitHub workflows (no machine here reaches GitHub): pins, guards, labels."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from tests.conftest import REPO_ROOT

from edgetrain.config.edge import load_edge_config

WORKFLOWS = sorted((REPO_ROOT / ".github" / "workflows").glob("*.yml"))
#: The reviewed list of action pins (full SHA and tag), kept in the repository; bump it with the workflows.
PINS_FILE = REPO_ROOT / ".github" / "action-pins.md"
USES = re.compile(r"^\s*(?:-\s*)?uses:\s*(?P<action>[^@\s]+)@(?P<ref>\S+)(?:\s*#\s*(?P<tag>\S+))?", re.M)


def _load(path: Path) -> dict:
    # PyYAML reads the key `on` as True; normalise it back.
    data = yaml.safe_load(path.read_text())
    if True in data:
        data["on"] = data.pop(True)
    return data


def test_there_are_workflows() -> None:
    assert WORKFLOWS


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_actions_are_pinned_to_full_commit_shas(path: Path) -> None:
    uses = list(USES.finditer(path.read_text()))
    assert uses
    for use in uses:
        assert re.fullmatch(r"[0-9a-f]{40}", use["ref"]), f"{path.name}: {use['action']} not pinned to a SHA"
        assert use["tag"], f"{path.name}: {use['action']} pin lacks its tag comment"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_pins_match_the_shared_list(path: Path) -> None:
    shas = {
        sha: tag for tag, sha in re.findall(r"\|\s*(v[\d.]+)\s*\|\s*`([0-9a-f]{40})`", PINS_FILE.read_text())
    }
    assert shas
    for use in USES.finditer(path.read_text()):
        assert use["ref"] in shas, f"{path.name}: {use['action']}@{use['ref']} is not in {PINS_FILE.name}"
        assert shas[use["ref"]] == use["tag"]


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_least_privilege_and_no_pull_request_target(path: Path) -> None:
    flow = _load(path)
    assert "pull_request_target" not in flow["on"]
    assert flow.get("permissions") == {}, "top-level permissions must be empty; grant per job"
    for job in flow["jobs"].values():
        for step in job["steps"]:
            if "actions/checkout" in step.get("uses", ""):
                assert step["with"]["persist-credentials"] is False


def test_pr_training_runs_on_the_configured_edge_runner_with_a_read_only_token() -> None:
    flow = _load(REPO_ROOT / ".github" / "workflows" / "pr-train.yml")
    job = flow["jobs"]["train"]
    assert job["runs-on"] == load_edge_config(REPO_ROOT / "config" / "edge.yaml").runner.labels
    # id-token: write mints the job's OIDC token for the storage broker (no repository write)
    assert job["permissions"] == {"contents": "read", "id-token": "write"}
    assert job["needs"] == "decide"
    assert flow["jobs"]["decide"]["runs-on"] == "ubuntu-latest"
    script = "\n".join(step.get("run", "") for step in job["steps"])
    assert "dvc repro" in script
    assert "--no-run-cache" in script
    assert "--run-cache" not in script.replace("--no-run-cache", "")


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_no_event_expression_inside_run_or_scripts(path: Path) -> None:
    """``${{ github.event.* }}`` (or any expression) in a script is an injection; pass it through env."""
    for job in _load(path)["jobs"].values():
        for step in job["steps"]:
            for text in (step.get("run", ""), (step.get("with") or {}).get("script", "")):
                assert "${{" not in text, f"{path.name}: expression inside a script: {text[:80]}"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_only_github_hosted_jobs_can_write(path: Path) -> None:
    edge = set(load_edge_config(REPO_ROOT / "config" / "edge.yaml").runner.labels)
    for name, job in _load(path)["jobs"].items():
        perms = job.get("permissions")
        assert isinstance(perms, dict), f"{path.name}: {name} must declare its permissions"
        runs_on = job["runs-on"] if isinstance(job["runs-on"], list) else [job["runs-on"]]
        if edge & set(runs_on):
            # id-token: write is no write to the repository: it lets the job ask for its OIDC token, which the
            # storage broker exchanges for its policy's SAS (docs/storage-credentials.md)
            writes = {k for k, v in perms.items() if v != "read"}
            assert writes <= {"id-token"}, f"{path.name}: {name} runs PR code on the edge runner"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_edge_jobs_get_storage_only_from_the_broker(path: Path) -> None:
    """Each edge job asks the broker once, right after install, and holds no storage secret of its own."""
    edge = set(load_edge_config(REPO_ROOT / "config" / "edge.yaml").runner.labels)
    for name, job in _load(path)["jobs"].items():
        runs_on = job["runs-on"] if isinstance(job["runs-on"], list) else [job["runs-on"]]
        if not edge <= set(runs_on):  # the stackhub runner (an edge host's deploy runner holds no storage)
            continue
        assert job["permissions"].get("id-token") == "write", f"{path.name}: {name}"
        assert job.get("environment") == "stackhub", f"{path.name}: {name}"
        runs = [step.get("run", "") for step in job["steps"]]
        asks = [i for i, run in enumerate(runs) if "edgetrain broker credential" in run]
        install = next(i for i, run in enumerate(runs) if "make install" in run)
        assert asks == [install + 1], f"{path.name}: {name}"
        text = json.dumps(job)
        assert "AZURE_STORAGE_CONNECTION_STRING" not in text.replace("# ", "")
        assert "secrets." not in text, f"{path.name}: {name} takes a secret"


def test_every_dvc_remote_verifies_downloads() -> None:
    """A pull request can write to the DVC remote; every download is re-hashed (`verify = true`)."""
    import configparser

    config = configparser.ConfigParser()
    config.read(REPO_ROOT / ".dvc" / "config")
    remotes = [s for s in config.sections() if s.startswith("'remote")]
    assert remotes
    for section in remotes:
        assert config.getboolean(section, "verify", fallback=False), (
            f".dvc/config: {section} lacks verify = true"
        )


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_repository_variables_only_name_the_azure_identity(path: Path) -> None:
    """A repository variable is set outside review: it may say which Azure identity to log in as, never
    change what is built, trained or shipped (a variable once replaced the image's pinned base)."""
    used = set(re.findall(r"\$\{\{\s*vars\.([A-Za-z0-9_]+)", path.read_text(encoding="utf-8")))
    assert used <= {"AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_SUBSCRIPTION_ID"}, f"{path.name}: {used}"
