"""data-refresh.yml: who may do what, in which order, and the hosted job's hand-off gate (run for real)."""

from __future__ import annotations

import json

import yaml
from tests.conftest import REPO_ROOT

from edgetrain.config.edge import load_edge_config

FLOW_PATH = REPO_ROOT / ".github" / "workflows" / "data-refresh.yml"
PUBLISH_PATH = REPO_ROOT / ".github" / "workflows" / "pr-publish.yml"


def _flow() -> dict:
    flow = yaml.safe_load(FLOW_PATH.read_text())
    flow["on"] = flow.pop(True)
    return flow


def _step(job: dict, name: str) -> dict:
    [step] = [s for s in job["steps"] if s.get("name") == name]
    return step


def test_triggers_and_least_privilege() -> None:
    flow = _flow()
    assert set(flow["on"]) == {"schedule", "workflow_dispatch"}
    assert flow["permissions"] == {}
    edge, hosted = flow["jobs"]["refresh"], flow["jobs"]["pull-request"]
    assert edge["runs-on"] == load_edge_config(REPO_ROOT / "config" / "edge.yaml").runner.labels
    assert edge["permissions"] == {"contents": "read", "id-token": "write"}  # id-token: the storage broker
    assert hosted["runs-on"] == "ubuntu-latest"
    assert hosted["permissions"] == {"contents": "write", "pull-requests": "write", "statuses": "write"}
    assert hosted["needs"] == "refresh"
    assert "needs.refresh.outputs.changed == 'true'" in hosted["if"]


def test_the_edge_job_validates_before_it_records_anything() -> None:
    script = "\n".join(s.get("run", "") for s in _flow()["jobs"]["refresh"]["steps"])
    order = [
        "edgetrain doctor",
        "edgetrain refresh check",
        "dvc update data.dvc",
        "no new drops",
        "dvc repro --pull --allow-missing --no-run-cache",
        "dvc push",
        "edgetrain refresh report",
    ]
    positions = [script.index(marker) for marker in order]
    assert positions == sorted(positions)
    assert "--run-cache" not in script.replace("--no-run-cache", "")


def test_the_pull_request_carries_only_pipeline_records() -> None:
    hosted = _flow()["jobs"]["pull-request"]
    [create] = [s for s in hosted["steps"] if "create-pull-request" in s.get("uses", "")]
    assert create["with"]["branch"] == "data-refresh"
    paths = create["with"]["add-paths"].split()
    assert paths == [
        "data.dvc",
        "dvc.lock",
        "artifacts/metrics.json",
        "artifacts/model/run.json",  # the sha256 the release compares its own training with
        "artifacts/plots/*.json",
    ]
    assert create["with"]["body-path"].endswith("/publish/pr-body.md")  # rendered here, not on the edge


def test_the_hand_off_is_checked_and_rendered_by_the_default_branchs_code_as_pr_publish_does() -> None:
    hosted = _flow()["jobs"]["pull-request"]
    check = _step(hosted, "Check the hand-off with this branch's code; render the comment and the body")
    run = check["run"]
    assert '.venv/bin/edgetrain report comment --refresh --handoff "$HANDOFF"' in run
    # what reaches the work tree (and the branch) is what the check wrote from the parsed values
    assert 'cp -R "$OUT/commit/." "$GITHUB_WORKSPACE/"' in run
    every = "\n".join(str(s.get("run", "")) + json.dumps(s.get("with", {})) for s in hosted["steps"])
    assert every.count("$HANDOFF") == 1  # the received folder is read by the check only
    uses = [s.get("uses", "").split("@")[0] for s in hosted["steps"]]
    assert uses.index("actions/download-artifact") < uses.index("peter-evans/create-pull-request")
    steps = [s.get("name", s.get("uses", "")) for s in hosted["steps"]]
    assert steps.index("Install (uv.lock)") < steps.index(check["name"])
    # one sticky-comment upsert for both workflows
    for flow, name in ((FLOW_PATH, "Sticky metrics comment with the data report"), (PUBLISH_PATH, None)):
        text = flow.read_text()
        assert "require(`${process.env.GITHUB_WORKSPACE}/.github/scripts/sticky-comment.cjs`)" in text
        assert "updateComment" not in text
        if name:
            assert _step(hosted, name)["uses"].startswith("actions/github-script@")
