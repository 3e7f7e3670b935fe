"""Rehearsal of data-refresh.yml with act against the strict Stack Hub stand-in and the GitHub API stand-in:
no new drop opens nothing; a new drop opens the data-refresh pull request with the data report and the sticky
metrics comment; a bad drop fails with one line naming blob and column and leaves the DVC remote and the
pull request as they were."""

from __future__ import annotations

import copy
import os
import subprocess
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from tests.conftest import REPO_ROOT
from tests.rehearsal.act import NAME, OWNER, ActRun, Rehearsal, RehearsalError, _run
from tests.rehearsal.permissions import unused_permissions

from edgetrain.config.edge import EdgeConfig, StorageConfig
from edgetrain.data.sample import generate, to_csv_bytes
from edgetrain.storage.connection import blob_service
from edgetrain.storage.seed import DEFAULT_START

# The module fixture is four act runs and a training (the planted run cache): more than the default timeout.
pytestmark = [pytest.mark.integration, pytest.mark.e2e, pytest.mark.timeout(2400)]
COMMENT_MARKER = "<!-- edgetrain:pr-train -->"
REPORT_MARKER = "<!-- edgetrain:data-report -->"
BASE_DAYS = 2  # rehearsal_base lands DEFAULT_START and the day after
NEW_DAY, BAD_DAY = DEFAULT_START + timedelta(days=BASE_DAYS), DEFAULT_START + timedelta(days=BASE_DAYS + 1)
NEW_ROWS = 600
REDIRECT = Path(__file__).with_name("redirect_api_github_com.cjs")


@dataclass
class Seen:
    """What the world looked like after one run."""

    run: ActRun
    pulls: list[dict]
    comments: list[dict]
    cache_blobs: set[str]
    branch_sha: str | None


def _storage(r: Rehearsal) -> StorageConfig:
    return EdgeConfig.model_validate(yaml.safe_load(r.show("main", "config/edge.yaml"))).storage


def _cache_blobs(r: Rehearsal) -> set[str]:
    storage = _storage(r)
    container = blob_service(storage, r.standin.connection_string).get_container_client(storage.dvc_container)
    return {b.name for b in container.list_blobs()}


def _branch(r: Rehearsal, branch: str) -> str | None:
    try:
        return r.rev(branch)
    except RehearsalError:  # no such branch (yet)
        return None


def _plant_run_cache(r: Rehearsal) -> set[str]:
    """Push a run-cache entry for exactly the tree data-refresh will train (as a pull-request job could)."""
    work = r.checkout("main", "plant")
    env = {**r.admin_storage_env(), "PATH": f"{work / '.venv' / 'bin'}{os.pathsep}{os.environ['PATH']}"}
    _run(["make", "install"], work, env)
    dvc = str(work / ".venv" / "bin" / "dvc")
    _run([dvc, "update", "data.dvc"], work, env)
    _run([dvc, "repro"], work, env)
    _run([dvc, "push", "--run-cache"], work, env)
    return {b for b in _cache_blobs(r) if "/runs/" in f"/{b}"}


def _dispatch(r: Rehearsal) -> Seen:
    event = {
        "ref": "refs/heads/main",
        "inputs": {},
        "repository": {"full_name": f"{OWNER}/{NAME}", "name": NAME, "owner": {"login": OWNER}},
    }
    # The job gets what the edge runner's sandbox gives it: the credential broker's socket, never the account
    # key (its storage SAS comes from the broker, docs/storage-credentials.md); git pushes of
    # create-pull-request reach the bare "GitHub" repository.
    env = {
        **r.storage_env(),
        "GIT_CONFIG_COUNT": "1",
        "GIT_CONFIG_KEY_0": f"url.{r.origin}.insteadOf",
        "GIT_CONFIG_VALUE_0": f"https://github.com/{OWNER}/{NAME}.git",
        # ... and its REST calls (hard-coded to api.github.com) reach the GitHub API stand-in.
        "NODE_OPTIONS": f"--require {REDIRECT}",
        "HTTPS_PROXY": "",
        "https_proxy": "",
    }
    run = r.run("data-refresh.yml", "workflow_dispatch", event, ref="main", env=env)
    state = r.github.state
    return Seen(
        run,
        copy.deepcopy(state.pulls),
        copy.deepcopy(state.comments),
        _cache_blobs(r),
        _branch(r, "data-refresh"),
    )


@pytest.fixture(scope="module")
def refresh(rehearsal_base: Rehearsal):  # type: ignore[no-untyped-def]
    r = rehearsal_base
    before = Seen(None, copy.deepcopy(r.github.state.pulls), [], _cache_blobs(r), None)  # type: ignore[arg-type]
    nothing = _dispatch(r)
    frame = generate(NEW_ROWS, 8, NEW_DAY, 1)[NEW_DAY.isoformat()]
    good = to_csv_bytes(frame)
    r.land(NEW_DAY.isoformat(), good)
    planted = _plant_run_cache(r)
    opened = _dispatch(r)
    bad_name = r.land(BAD_DAY.isoformat(), good.replace(b"torque_nm", b"torque", 1))
    try:
        failed = _dispatch(r)
    finally:
        r.unland(bad_name)
    return {"before": before, "nothing": nothing, "opened": opened, "failed": failed, "planted": planted}


def test_no_new_drop_opens_nothing(refresh) -> None:  # type: ignore[no-untyped-def]
    before, seen = refresh["before"], refresh["nothing"]
    assert seen.run.ok, seen.run.output[-6000:]
    log = seen.run.job_log("refresh")
    assert "PASS storage endpoint" in log  # doctor ran first
    assert "no new drops" in log
    assert not seen.run.ran("pull-request")
    assert seen.pulls == before.pulls
    assert seen.branch_sha is None
    assert seen.cache_blobs == before.cache_blobs


def test_a_new_drop_opens_the_pull_request_with_report_and_comment(
    refresh, rehearsal_base: Rehearsal
) -> None:  # type: ignore[no-untyped-def]
    r, seen = rehearsal_base, refresh["opened"]
    assert seen.run.ok, seen.run.output[-8000:]
    log = seen.run.job_log("refresh")
    assert f"1 new drop(s), all valid: raw/raw/{NEW_DAY}.csv ({NEW_ROWS} rows)" in log
    assert "Running stage 'train'" in log
    assert seen.run.ran("pull-request")
    [pull] = [p for p in seen.pulls if p["head"]["ref"] == "data-refresh"]
    assert pull["base"]["ref"] == "main"
    assert pull["body"].startswith(REPORT_MARKER)
    assert f"| {NEW_DAY}.csv | {NEW_ROWS} |" in pull["body"]
    assert "Label balance" in pull["body"]
    [comment] = [c for c in seen.comments if c["issue_number"] == pull["number"]]
    assert comment["body"].startswith(COMMENT_MARKER)
    assert "Metrics (test split)" in comment["body"]
    assert REPORT_MARKER in comment["body"]
    # the branch carries exactly the pipeline's records, with the new data version
    changed = set(r.show("data-refresh", "data.dvc").splitlines()) ^ set(
        r.show("main", "data.dvc").splitlines()
    )
    assert any(line.strip().startswith("- md5:") for line in changed)
    names = subprocess.run(
        ["git", "--git-dir", str(r.origin), "diff", "--name-only", "main", "data-refresh"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert "data.dvc" in names
    assert "dvc.lock" in names
    assert "artifacts/model/run.json" in names  # the new model's sha256, which the release reproduces
    assert all(
        n in {"data.dvc", "dvc.lock", "artifacts/metrics.json", "artifacts/model/run.json"}
        or n.startswith("artifacts/plots/")
        for n in names
    )
    # what was committed is what the default branch's check wrote from the parsed values
    assert yaml.safe_load(r.show("data-refresh", "dvc.lock"))["stages"]
    lock_md5 = {
        d["md5"]
        for stage in yaml.safe_load(r.show("data-refresh", "dvc.lock"))["stages"].values()
        for d in stage.get("deps", [])
        if d["path"] == "data"
    }
    assert lock_md5 == {yaml.safe_load(r.show("data-refresh", "data.dvc"))["outs"][0]["md5"]}
    # rendered by the hosted job (edgetrain report comment --refresh), the same renderer as pr-publish's
    handed = seen.run.artifacts / "data-refresh-handoff"
    assert (handed / "data-report.json").is_file()
    assert not list(handed.rglob("*.md"))  # the edge hands over JSON aggregates, no Markdown
    [committed] = [ln for ln in seen.run.job_log("pull-request").splitlines() if "files to commit:" in ln]
    assert "artifacts/model/run.json" in committed
    assert "data.dvc" in committed
    # the new data and outputs were pushed to the DVC remote
    assert seen.cache_blobs > refresh["nothing"].cache_blobs
    # the pull request carries the required status, from the run that trained exactly its tree
    statuses = [s for s in r.github.state.statuses if s["sha"] == seen.branch_sha]
    assert [(s["state"], s["context"]) for s in statuses] == [("success", "edgetrain/pr-train")]


def test_a_planted_run_cache_entry_is_not_restored(refresh) -> None:  # type: ignore[no-untyped-def]
    seen = refresh["opened"]
    assert refresh["planted"]  # the remote held a run-cache entry for this very tree before the run
    log = seen.run.job_log("refresh")
    assert "Running stage 'train'" in log
    assert "is cached - skipping run" not in log
    paths = [getattr(q, "path", "") or str(q) for q in seen.run.storage_requests]
    assert not any("/runs/" in p for p in paths)


def test_a_bad_drop_fails_with_one_line_and_changes_nothing(refresh) -> None:  # type: ignore[no-untyped-def]
    opened, seen = refresh["opened"], refresh["failed"]
    assert not seen.run.ok
    log = seen.run.job_log("refresh")
    assert f"raw/raw/{BAD_DAY}.csv: missing feature column 'torque_nm' (named in params data.features)" in log
    assert "Importing 'remote://stackhub-raw/raw'" not in log  # dvc update never ran
    assert not seen.run.ran("pull-request")
    assert seen.cache_blobs == opened.cache_blobs
    assert seen.pulls == opened.pulls
    assert seen.comments == opened.comments
    assert seen.branch_sha == opened.branch_sha


def test_every_job_uses_every_permission_it_declares(refresh, rehearsal_base: Rehearsal) -> None:  # type: ignore[no-untyped-def]
    assert refresh["opened"].run.ok
    workflow = REPO_ROOT / ".github" / "workflows" / "data-refresh.yml"
    assert unused_permissions(workflow, rehearsal_base.github.calls) == {}
