"""Per-job tokens in the GitHub API stand-in, against the committed workflow files (no act: fast).

Each case starts the stand-in for one workflow and calls it from a child process that carries a job's
``GITHUB_JOB``/``GITHUB_WORKFLOW`` (how the stand-in tells act's jobs apart, tests/rehearsal/caller.py). For
every permission a job declares, the call that needs it passes with the file as committed and gets the
stand-in's 403 once that one permission is removed. The rehearsals (test_pr_train.py ...) show the jobs
really make those calls, and one act run fails on the 403.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.conftest import REPO_ROOT
from tests.rehearsal.github_api import GitHubAPI
from tests.rehearsal.permissions import (
    ROUTES,
    SERVED_ELSEWHERE,
    job_permissions,
    load_workflow,
    refusal,
)

WORKFLOWS = sorted((REPO_ROOT / ".github" / "workflows").glob("*.yml"))
OWNER, REPO = "o", "r"
_CLIENT = """
import json, os, sys, urllib.request, urllib.error
method, url, token = sys.argv[1:4]
req = urllib.request.Request(url, method=method, data=b"{}" if method != "GET" else None,
                             headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"})
try:
    with urllib.request.urlopen(req, timeout=20) as resp:
        print(json.dumps([resp.status, resp.read().decode()]))
except urllib.error.HTTPError as err:
    print(json.dumps([err.code, err.read().decode()]))
"""


def _declared() -> list[tuple[str, str, str, str]]:
    out = []
    for path in WORKFLOWS:
        flow = load_workflow(path)
        for job in flow["jobs"]:
            for scope, level in job_permissions(flow, job).items():
                out.append((path.name, job, scope, level))
    return out


DECLARED = _declared()


def _sample_path(pattern: str) -> str:
    """A concrete path matching a route pattern of the table."""
    return pattern.replace(r"\d+", "7").replace("[0-9a-f]{40}", "a" * 40).replace(".+", "x")


def _route_for(scope: str, level: str) -> tuple[str, str]:
    for method, pattern, scopes in ROUTES:
        if (scope, level) in scopes:
            return method, _sample_path(pattern)
    raise AssertionError(f"no route of the stand-in needs {scope}: {level}")


@pytest.fixture
def api(tmp_path: Path) -> Iterator[GitHubAPI]:
    git_dir = tmp_path / "repo.git"
    subprocess.run(["git", "init", "-q", "--bare", str(git_dir)], check=True)
    with GitHubAPI(OWNER, REPO, git_dir) as running:
        yield running


def _call_as(api: GitHubAPI, job: str | None, workflow: str, method: str, rest: str) -> tuple[int, Any]:
    env = {"PATH": "/usr/bin:/bin"}
    if job is not None:
        env |= {"GITHUB_JOB": job, "GITHUB_WORKFLOW": workflow}
    done = subprocess.run(
        [sys.executable, "-c", _CLIENT, method, f"{api.url}/repos/{OWNER}/{REPO}{rest}", api.token],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    status, body = json.loads(done.stdout)
    return status, json.loads(body)


def _without(path: Path, job: str, scope: str, tmp: Path) -> Path:
    flow = yaml.safe_load(path.read_text())
    perms = dict(flow["jobs"][job]["permissions"])
    del perms[scope]
    flow["jobs"][job]["permissions"] = perms
    out = tmp / path.name
    out.write_text(yaml.safe_dump(flow, sort_keys=False))
    return out


@pytest.mark.parametrize(
    ("workflow", "job", "scope", "level"),
    [d for d in DECLARED if d[2] not in SERVED_ELSEWHERE],
    ids=str,
)
def test_removing_a_declared_permission_gets_the_stand_ins_403(  # noqa: PLR0917 - pytest parameters
    api: GitHubAPI, tmp_path: Path, workflow: str, job: str, scope: str, level: str
) -> None:
    path = REPO_ROOT / ".github" / "workflows" / workflow
    name = load_workflow(path)["name"]
    method, rest = _route_for(scope, level)
    api.start_run(path, "push", {})
    status, _ = _call_as(api, job, name, method, rest)
    assert status != 403, f"{workflow} {job} declares {scope}: {level} but {method} {rest} was refused"
    api.start_run(_without(path, job, scope, tmp_path), "push", {})
    status, body = _call_as(api, job, name, method, rest)
    assert status == 403, body
    assert "Resource not accessible by integration" in body["message"]
    assert f"{scope}: {level}" in body["message"]
    assert api.calls[-1].job == job


def test_every_declared_permission_is_one_the_stand_ins_enforce() -> None:
    known = {scope for _, _, scopes in ROUTES for scope, _ in scopes} | SERVED_ELSEWHERE
    for workflow, job, scope, _ in DECLARED:
        assert scope in known, f"{workflow} {job}: {scope} is enforced by no stand-in"


def test_empty_permissions_grant_nothing_and_a_job_block_replaces_the_workflow_one() -> None:
    flow = {"permissions": {"contents": "write"}, "jobs": {"a": {"permissions": {}}, "b": {}}}
    assert job_permissions(flow, "a") == {}
    assert job_permissions(flow, "b") == {"contents": "write"}
    assert job_permissions({"jobs": {"c": {}}}, "c") == {"contents": "read", "packages": "read"}
    assert refusal({}, "GET", "/contents/x") is not None
    assert refusal({"contents": "write"}, "GET", "/contents/x") is None  # write includes read
    assert refusal({"contents": "read"}, "PUT", "/contents/x") is not None
    assert refusal({"contents": "write"}, "DELETE", "/contents/x") is not None  # unknown route: refused


def test_a_fork_pull_requests_token_is_read_only(api: GitHubAPI, tmp_path: Path) -> None:
    path = tmp_path / "flow.yml"
    job = {"runs-on": "ubuntu-latest", "permissions": {"statuses": "write"}, "steps": []}
    path.write_text(yaml.safe_dump({"name": "flow", "on": "pull_request", "jobs": {"j": job}}))
    fork = {"pull_request": {"head": {"repo": {"full_name": "someone/r"}}}}
    api.start_run(path, "pull_request", fork)
    status, body = _call_as(api, "j", "flow", "POST", "/statuses/" + "a" * 40)
    assert status == 403, body
    assert "statuses: write" in body["message"]
    same = {"pull_request": {"head": {"repo": {"full_name": f"{OWNER}/{REPO}"}}}}
    api.start_run(path, "pull_request", same)
    assert _call_as(api, "j", "flow", "POST", "/statuses/" + "a" * 40)[0] != 403


def test_an_unidentifiable_caller_or_a_call_outside_a_run_is_refused(api: GitHubAPI) -> None:
    path = REPO_ROOT / ".github" / "workflows" / "pr-publish.yml"
    name = load_workflow(path)["name"]
    status, body = _call_as(api, "publish", name, "GET", "/pulls")
    assert (status, "no workflow run in progress" in body["message"]) == (403, True)
    api.start_run(path, "push", {})
    status, body = _call_as(api, None, name, "GET", "/pulls")  # no GITHUB_JOB: not a job's process
    assert status == 403
    assert "could not be identified" in body["message"]
    status, body = _call_as(api, "nosuchjob", name, "GET", "/pulls")
    assert status == 403
    status, body = _call_as(api, "publish", "another-workflow", "GET", "/pulls")
    assert status == 403
    assert "not of the run in progress" in body["message"]
