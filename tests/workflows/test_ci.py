"""Rehearsal of ci.yml (the template's own CI) with act.

What runs here is the workflow's wiring, not the test suite it starts: ``.ci/run`` ends in ``make test``,
which is this very suite (lint, every test, every workflow rehearsal, this file included), so running it
inside a test would nest the suite in itself (hours, and recursion). Instead the rehearsal commits a branch
whose ``.ci/run`` is a recorder and shows, with the real ci.yml, act and the actions/cache stand-in, that:
the checkout is the event's commit, ``.ci/run`` runs from the work tree's root with ``CI=true`` and the cache
folders the job names, no storage credentials reach it, the cache step saves those folders after a miss and
restores them on the next run (and does not save again on an exact hit). That ``.ci/run`` itself runs the
README's test command is checked statically in tests/test_docs.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.rehearsal.act import ActRun, Rehearsal

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

#: Stands in for .ci/run on the rehearsal branch: records how ci.yml started it, then leaves a file in the
#: uv cache folder so the next run can show the cache step restored it.
RECORDER = """#!/usr/bin/env bash
set -euo pipefail
python3 - "$@" <<'PY'
import json, os, sys
keys = ("CI", "UV_CACHE_DIR", "npm_config_cache", "GITHUB_WORKSPACE", "GITHUB_SHA",
        "AZURE_STORAGE_CONNECTION_STRING")
marker = os.path.join(os.environ["UV_CACHE_DIR"], "warm")
record = {
    "cwd": os.getcwd(),
    "argv": sys.argv[1:],
    "env": {k: os.environ.get(k) for k in keys},
    "restored": open(marker).read() if os.path.exists(marker) else None,
    "head": open(".git/HEAD").read().strip() if os.path.isfile(".git/HEAD") else None,
}
out = os.path.join(os.environ["EDGETRAIN_REHEARSAL_ARTIFACTS"], "ci-run.json")
with open(out, "w") as f:
    json.dump(record, f)
os.makedirs(os.environ["UV_CACHE_DIR"], exist_ok=True)
with open(marker, "w") as f:
    f.write(os.environ["GITHUB_SHA"])
PY
"""


@pytest.fixture(scope="module")
def rehearsal(tmp_path_factory: pytest.TempPathFactory, standin) -> Iterator[Rehearsal]:  # type: ignore[no-untyped-def]
    root = tmp_path_factory.mktemp("ci")
    with Rehearsal(root / "r", standin=standin) as r:
        yield r


@pytest.fixture(scope="module")
def runs(rehearsal: Rehearsal) -> tuple[ActRun, ActRun, str, Path]:
    r = rehearsal
    sha = r.commit("ci-wiring", {".ci/run": RECORDER}, "CI rehearsal: record how ci.yml starts .ci/run")
    cache = r.root / "actions-cache"
    # A hosted runner has no storage credentials: the rehearsal's edge-runner .env does not apply here.
    env = {"EDGETRAIN_REHEARSAL_CACHE": str(cache), "AZURE_STORAGE_CONNECTION_STRING": ""}
    first = r.run("ci.yml", "pull_request", r.pull_request_event("ci-wiring", number=7), env=env)
    second = r.run("ci.yml", "pull_request", r.pull_request_event("ci-wiring", number=8), env=env)
    return first, second, sha, cache


def _record(run: ActRun) -> dict:
    return json.loads((run.artifacts / "ci-run.json").read_text())


def test_ci_runs_dot_ci_run_from_the_checkout_with_ci_true(runs) -> None:  # type: ignore[no-untyped-def]
    first, _, sha, _ = runs
    assert first.ok, first.output[-5000:]
    assert first.ran("test")
    record = _record(first)
    workspace = record["env"]["GITHUB_WORKSPACE"]
    assert record["cwd"] == workspace
    assert record["argv"] == []
    assert record["env"]["CI"] == "true"
    assert record["env"]["UV_CACHE_DIR"] == f"{workspace}/.edgetrain/cache/uv"
    assert record["env"]["npm_config_cache"] == f"{workspace}/.edgetrain/cache/npm"
    assert record["env"]["GITHUB_SHA"] == sha
    assert not record["env"]["AZURE_STORAGE_CONNECTION_STRING"]


def test_the_cache_step_saves_after_a_miss_and_restores_on_the_next_run(runs) -> None:  # type: ignore[no-untyped-def]
    first, second, sha, cache = runs
    assert first.ok, first.output[-5000:]
    assert second.ok, second.output[-5000:]
    assert _record(first)["restored"] is None
    assert "Cache not found for input keys: ci-" in first.job_log("test")
    assert "Cache saved with key: ci-" in first.job_log("test")
    assert len(list(cache.glob("*.tar"))) == 1
    assert _record(second)["restored"] == sha
    assert "Cache restored from key: ci-" in second.job_log("test")
    assert "not saving cache" in second.job_log("test")
    assert len(list(cache.glob("*.tar"))) == 1
