"""Rehearsal of pr-train.yml and pr-publish.yml with act: fork pull requests never reach the edge runner; a
same-repository pull request trains there, and the privileged pr-publish (workflow_run, default-branch files
only) commits dvc.lock, comments and sets a status."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import re
import subprocess

import pytest
import yaml
from tests.conftest import REPO_ROOT
from tests.rehearsal.act import ActRun, Rehearsal
from tests.rehearsal.github_api import BOT_LOGIN
from tests.rehearsal.leaks import leaks
from tests.rehearsal.permissions import unused_permissions

pytestmark = [pytest.mark.integration, pytest.mark.e2e]
MARKER = "<!-- edgetrain:pr-train -->"


@pytest.fixture(scope="module")
def fork_run(rehearsal_base: Rehearsal) -> tuple[ActRun, int]:
    r = rehearsal_base
    params = yaml.safe_load(r.show("main", "params.yaml"))
    params["train"]["eta"] = 0.3
    r.commit("fork-change", {"params.yaml": yaml.safe_dump(params, sort_keys=False)}, "Fork: tune eta")
    run = r.pull_request_round("fork-change", number=2, fork="someone/edgetrain")
    return run, len(run.storage_requests)


@pytest.fixture(scope="module")
def pr_run(trained_pr: ActRun) -> ActRun:
    return trained_pr


def test_fork_pull_request_never_reaches_the_edge_runner(fork_run, rehearsal_base: Rehearsal) -> None:  # type: ignore[no-untyped-def]
    run, storage_requests = fork_run
    assert run.ok, run.output[-5000:]
    assert run.ran("decide")
    assert not run.ran("train"), run.job_log("train")
    assert run.then is not None
    assert not run.then.ran("publish"), run.then.output[-3000:]  # pr-train succeeded without training
    assert storage_requests == 0
    assert not any(run.artifacts.iterdir())
    # a fork's token is read-only on GitHub: the note is in the run's summary, not a comment
    assert not [c for c in rehearsal_base.github.state.comments if c["issue_number"] == 2]
    assert "forks never run on the edge runner" in run.summaries["decide"]


def test_pull_request_trains_on_the_edge_and_comments(pr_run: ActRun, rehearsal_base: Rehearsal) -> None:
    assert pr_run.ok, pr_run.output[-8000:]
    assert pr_run.then is not None
    assert pr_run.then.ok, pr_run.then.output[-8000:]
    for job in ("decide", "train"):
        assert pr_run.ran(job), job
    assert pr_run.then.ran("publish")
    assert "Running stage 'train'" in pr_run.job_log("train")
    comments = [c for c in rehearsal_base.github.state.comments if c["issue_number"] == 1]
    assert len(comments) == 1
    body = comments[0]["body"]
    assert comments[0]["user"]["login"] == BOT_LOGIN
    assert body.startswith(MARKER)
    assert "| auc |" in body
    assert "| train.max&#95;depth | 6 | 4 |" in body
    assert body.count("```mermaid") >= 3
    assert "xychart-beta" in body
    model_md5 = (pr_run.artifacts / "pr-train-handoff" / "model.md5").read_text().strip()
    assert model_md5 in body


def test_no_raw_row_in_the_comment_or_any_committed_file(pr_run: ActRun, rehearsal_base: Rehearsal) -> None:
    """Every row of every drop against the comment, the hand-off and every file committed to the branch."""
    from edgetrain.config.edge import load_edge_config
    from edgetrain.storage.connection import blob_service

    r = rehearsal_base
    body = next(c["body"] for c in r.github.state.comments if c["issue_number"] == 1)
    work = r.checkout("main", "rows")
    cfg = load_edge_config(work / "config" / "edge.yaml")
    container = blob_service(cfg.storage, r.standin.connection_string).get_container_client(
        cfg.storage.raw_container
    )
    drops = {b.name: container.download_blob(b.name).readall() for b in container.list_blobs()}
    assert len(drops) >= 2
    features = yaml.safe_load(r.show("main", "params.yaml"))["data"]["features"]
    head = r.rev("tune-depth")
    committed = subprocess.run(
        ["git", "--git-dir", str(r.origin), "diff", "--name-only", f"{head}~1", head],
        capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    assert "dvc.lock" in committed
    texts = {"comment": body} | {f"branch:{p}": r.show(head, p) for p in committed}
    texts |= {
        f"hand-off:{p.relative_to(pr_run.artifacts)}": p.read_text()
        for p in pr_run.artifacts.rglob("*")
        if p.is_file()
    }
    assert leaks(texts, drops, features) == []
    # the check itself finds a row, however it is formatted
    row = next(csv.DictReader(io.StringIO(next(iter(drops.values())).decode())))
    planted = " | ".join(row[f] for f in features[-3:])
    assert leaks({"comment": f"{body}\n| {planted} |"}, drops, features)


def test_dvc_lock_committed_to_the_branch_with_a_status(pr_run: ActRun, rehearsal_base: Rehearsal) -> None:
    r = rehearsal_base
    head = r.rev("tune-depth")
    log = r.show(head, "dvc.lock")
    lock = yaml.safe_load(log)
    assert lock["stages"]["train"]["params"]["params.yaml"]["train"]["max_depth"] == 4
    handoff = pr_run.artifacts / "pr-train-handoff"
    assert r.show(head, "dvc.lock") == (handoff / "dvc.lock").read_text()
    assert json.loads(r.show(head, "artifacts/metrics.json")) == json.loads(
        (handoff / "artifacts" / "metrics.json").read_text()
    )
    # one commit by the workflow token's bot, on top of the commit that was trained
    log = subprocess.run(
        ["git", "--git-dir", str(r.origin), "log", "-2", "--format=%an|%s", head],
        capture_output=True, text=True, check=True,
    ).stdout.splitlines()  # fmt: skip
    assert log[0].startswith(f"{BOT_LOGIN}|pr-train: dvc.lock")
    assert log[1] == "rehearsal|Tune max_depth"
    for plot in ("roc", "precision_recall", "importance", "confusion"):
        path = f"artifacts/plots/{plot}.json"
        assert r.show(head, path) == (handoff / path).read_text()
    statuses = [s for s in r.github.state.statuses if s["sha"] == head]
    assert [s["state"] for s in statuses] == ["success"]
    assert statuses[0]["context"] == "edgetrain/pr-train"
    # outputs went to the DVC remote by content hash; no run cache from a pull request
    paths = [getattr(q, "path", "") or str(q) for q in pr_run.storage_requests]
    assert any("/files/md5/" in p for p in paths)
    assert not any("/runs/" in p for p in paths)


def test_rerun_updates_the_one_comment_and_commits_nothing(pr_run: ActRun, rehearsal_base: Rehearsal) -> None:
    r = rehearsal_base
    assert pr_run.ok
    head = r.rev("tune-depth")
    again = r.pull_request_round("tune-depth", number=1)
    assert again.ok, again.output[-8000:]
    assert again.then is not None
    assert again.then.ok, again.then.output[-8000:]
    assert "Running stage" not in again.job_log("train")  # dvc.lock on the branch already records it
    assert r.rev("tune-depth") == head
    comments = [c for c in r.github.state.comments if c["issue_number"] == 1]
    assert len(comments) == 1
    assert comments[0]["updates"] == 1
    assert "already records this result" in comments[0]["body"]
    assert [s["state"] for s in r.github.state.statuses if s["sha"] == head] == ["success", "success"]


def test_every_job_uses_every_permission_it_declares(pr_run: ActRun, rehearsal_base: Rehearsal) -> None:
    """Each declared permission is needed by a call the job made (without it: the stand-in's 403)."""
    assert pr_run.ok
    for name in ("pr-train.yml", "pr-publish.yml"):
        workflow = REPO_ROOT / ".github" / "workflows" / name
        assert unused_permissions(workflow, rehearsal_base.github.calls) == {}, name


def test_a_job_without_a_permission_it_needs_fails_on_the_stand_ins_403(
    pr_run: ActRun, rehearsal_base: Rehearsal
) -> None:
    """pr-publish with `statuses: write` taken away (on the default branch: the copy a workflow_run runs)."""
    r = rehearsal_base
    assert pr_run.ok
    main = r.rev("main")
    # by text: a YAML round trip would turn the key `on:` into `true:`
    flow = r.show("main", ".github/workflows/pr-publish.yml")
    text, removed = re.subn(r"(?m)^      statuses: write.*\n", "", flow)
    assert removed == 1
    r.commit("main", {".github/workflows/pr-publish.yml": text}, "no statuses")
    seen = len(r.github.calls)
    try:
        # the branch tip (publish committed there): nothing to commit, straight to comment and status
        tip = dataclasses.replace(pr_run, event=r.pull_request_event("tune-depth", number=1))
        run = r.run("pr-publish.yml", "workflow_run", r.workflow_run_event(tip, "pr-train"), ref="main")
    finally:
        r.reset_branch("main", main)
    assert not run.ok
    assert run.ran("publish")
    log = run.job_log("publish")
    assert "Resource not accessible by integration" in log, log[-3000:]
    assert "statuses: write" in log
    refused = [c for c in r.github.calls[seen:] if c.status == 403]
    assert [(c.job, c.method, c.path.rsplit("/", 2)[-2]) for c in refused] == [
        ("publish", "POST", "statuses")
    ]


def test_pull_request_files_cannot_change_what_is_committed_or_posted(
    pr_run: ActRun, rehearsal_base: Rehearsal
) -> None:
    """A pull request rewrites `edgetrain report`, the Makefile and its hand-off: publish runs none."""
    r = rehearsal_base
    assert pr_run.ok
    makefile = r.show("main", "Makefile").replace(
        "install: .venv/.synced ## create",
        "install: .venv/.synced\n\t@echo PWNED-BY-MAKEFILE\n\ninstall-x: ## create",
    )
    comment_py = r.show("main", "src/edgetrain/report/comment.py").replace(
        'return "\\n".join(lines).rstrip() + "\\n"',
        'return "\\n".join(lines).rstrip() + "\\n## Security review: passed\\n"',
    )
    workflow = r.show("main", ".github/workflows/pr-train.yml").replace(
        "cp dvc.lock handoff/\n",
        "cp dvc.lock handoff/\n          echo '# leaked row 298.1,308.6,1551' >> handoff/dvc.lock\n",
    )
    assert "PWNED" in makefile
    assert "Security review" in comment_py
    assert "leaked row" in workflow
    head = r.commit(
        "attack",
        {
            "Makefile": makefile,
            "src/edgetrain/report/comment.py": comment_py,
            ".github/workflows/pr-train.yml": workflow,
        },
        "Harmless refactor",
    )
    run = r.pull_request_round("attack", number=6)
    assert run.ok, run.output[-5000:]
    assert "PWNED-BY-MAKEFILE" in run.job_log("train")  # the pull request's own job runs its files ...
    assert "leaked row" in (run.artifacts / "pr-train-handoff" / "dvc.lock").read_text()
    assert run.then is not None
    assert run.then.ok, run.then.output[-5000:]
    assert "PWNED-BY-MAKEFILE" not in run.then.output  # ... the privileged one none of them
    [posted] = [c["body"] for c in r.github.state.comments if c["issue_number"] == 6]
    assert "Security review" not in posted
    assert posted.startswith(MARKER)
    # the lock the edge handed over carries a comment; the branch gets the lock re-serialised from its values
    tip = r.rev("attack")
    assert "leaked row" not in r.show(tip, "dvc.lock")
    assert tip == head  # main's dvc.lock already records this tree: nothing to commit
    assert [s["state"] for s in r.github.state.statuses if s["sha"] == head] == ["success"]


def test_a_hand_off_off_schema_stops_publish_with_one_line_and_nothing_posted(
    pr_run: ActRun, rehearsal_base: Rehearsal
) -> None:
    """The pull request's hand-off step adds a file: pr-publish names it, commits and posts nothing."""
    r = rehearsal_base
    assert pr_run.ok
    workflow = r.show("main", ".github/workflows/pr-train.yml").replace(
        "cp dvc.lock handoff/\n", "cp dvc.lock handoff/\n          echo 'udi,torque' > handoff/rows.csv\n"
    )
    assert "rows.csv" in workflow
    head = r.commit("extra-file", {".github/workflows/pr-train.yml": workflow}, "Hand over more")
    calls = len(r.github.calls)
    run = r.pull_request_round("extra-file", number=7)
    assert run.ok, run.output[-5000:]
    assert run.then is not None
    assert not run.then.ok
    log = run.then.job_log("publish")
    assert "unexpected file in the hand-off: rows.csv" in log, log[-3000:]
    assert r.rev("extra-file") == head
    assert not [c for c in r.github.state.comments if c["issue_number"] == 7]
    assert not [s for s in r.github.state.statuses if s["sha"] == head]
    assert not [c for c in r.github.calls[calls:] if c.method != "GET"]


def test_a_run_that_names_no_pull_request_at_its_head_publishes_nothing(
    pr_run: ActRun, rehearsal_base: Rehearsal
) -> None:
    """The triggering run, not the artifact, says which pull request: one whose head moved is refused."""
    r = rehearsal_base
    assert pr_run.ok
    event = r.workflow_run_event(pr_run, "pr-train")
    event["workflow_run"]["pull_requests"][0]["head"]["sha"] = "f" * 40  # the branch moved on since
    calls = len(r.github.calls)
    run = r.run("pr-publish.yml", "workflow_run", event, ref="main")
    assert not run.ok
    assert "not one pull request of" in run.job_log("publish")
    assert not [c for c in r.github.calls[calls:] if c.method != "GET"]
