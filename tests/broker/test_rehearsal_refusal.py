"""Test 2 in the act rehearsal: a job without ``environment: stackhub``, one from an unexpected workflow file
and one without ``id-token: write`` get no storage credential from the broker (or GitHub)."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.rehearsal.act import Rehearsal

from edgetrain.storage.private_standin import Standin

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

STEP = "      - run: .venv/bin/edgetrain broker credential\n"
WORKFLOW = f"""name: exfiltrate
on: [push]
permissions: {{}}
jobs:
  no-environment:
    runs-on: [self-hosted, linux, x64, stackhub]
    permissions: {{contents: read, id-token: write}}
    steps:
      - uses: actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1
{STEP}  unexpected-workflow:
    needs: no-environment
    if: always()
    runs-on: [self-hosted, linux, x64, stackhub]
    environment: stackhub
    permissions: {{contents: read, id-token: write}}
    steps:
      - uses: actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1
{STEP}  no-id-token:
    needs: unexpected-workflow
    if: always()
    runs-on: [self-hosted, linux, x64, stackhub]
    environment: stackhub
    permissions: {{contents: read}}
    steps:
      - uses: actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1
{STEP}"""


def test_jobs_outside_the_policy_get_no_storage_credential(tmp_path: Path, standin: Standin) -> None:
    with Rehearsal(tmp_path / "r", standin=standin) as r:
        r.commit("main", {".github/workflows/exfiltrate.yml": WORKFLOW}, "a workflow nobody reviewed")
        run = r.run("exfiltrate.yml", "push", r.push_event())
        grants = [c for c in r.github.state.calls if c.path == "/_oidc/token"]
    assert not run.ok
    for job in ("no-environment", "unexpected-workflow", "no-id-token"):
        assert run.ran(job), run.output[-4000:]
    log = run.output
    assert "the storage broker refused: environment: missing" in run.job_log("no-environment")
    assert "the storage broker refused: job_workflow_ref: " in run.job_log("unexpected-workflow")
    assert "GitHub refused the OIDC token request: HTTP 403" in run.job_log("no-id-token")
    assert [c.status for c in grants] == [200, 200, 403]
    assert "storage credential:" not in log  # no job got one
    assert "SharedAccessSignature" not in log
