"""data-refresh.yml: who may do what, in which order, and the hosted job's hand-off gate (run for real)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml
from tests.conftest import REPO_ROOT

from edgetrain.config.edge import load_edge_config

FLOW_PATH = REPO_ROOT / ".github" / "workflows" / "data-refresh.yml"


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
    assert paths == ["data.dvc", "dvc.lock", "artifacts/metrics.json", "artifacts/plots/*.json"]


def _gate(tmp_path: Path, files: dict[str, bytes]) -> tuple[subprocess.CompletedProcess[str], Path]:
    handoff, workspace = tmp_path / "handoff", tmp_path / "ws"
    (workspace / "artifacts" / "plots").mkdir(parents=True)
    for name, payload in files.items():
        (handoff / name).parent.mkdir(parents=True, exist_ok=True)
        (handoff / name).write_bytes(payload)
    script = _step(_flow()["jobs"]["pull-request"], "Take exactly the expected files from the hand-off")[
        "run"
    ]
    done = subprocess.run(
        ["bash", "-e", "-c", script],
        env={**os.environ, "HANDOFF": str(handoff), "GITHUB_WORKSPACE": str(workspace)},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return done, workspace


GOOD = {
    "data.dvc": b"outs: []\n",
    "dvc.lock": b"schema: '2.0'\n",
    "data-report.md": b"report\n",
    "pr-comment.md": b"comment\n",
    "artifacts/metrics.json": b"{}\n",
    "artifacts/plots/roc.json": b"[]\n",
}


def test_hand_off_gate_copies_the_expected_files(tmp_path: Path) -> None:
    done, workspace = _gate(tmp_path, GOOD)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (workspace / "data.dvc").read_bytes() == GOOD["data.dvc"]
    assert (workspace / "artifacts" / "plots" / "roc.json").is_file()
    assert not (workspace / "data-report.md").exists()  # the report goes into the body, not the commit


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"data/2026-01-01.csv": b"a,b\n1,2\n"}, "unexpected file in the hand-off: data/2026-01-01.csv"),
        ({"artifacts/plots/x/y.json": b"[]"}, "unexpected file in the hand-off: artifacts/plots/x/y.json"),
        ({"artifacts/metrics.json": b"0" * (1 << 20 + 1)}, "artifacts/metrics.json: larger than 1 MiB"),
    ],
)
def test_hand_off_gate_refuses_anything_else(tmp_path: Path, extra: dict[str, bytes], message: str) -> None:
    done, workspace = _gate(tmp_path, {**GOOD, **extra})
    assert done.returncode != 0
    assert message in done.stdout
    assert not (workspace / "data.dvc").exists()


def test_hand_off_gate_wants_every_record(tmp_path: Path) -> None:
    done, _ = _gate(tmp_path, {k: v for k, v in GOOD.items() if k != "dvc.lock"})
    assert done.returncode != 0
    assert "missing from the hand-off: dvc.lock" in done.stdout
