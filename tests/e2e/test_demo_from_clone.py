"""End to end: clone the repository, run `make demo` there, check the model, metrics, plots and git status.

The clone gets its own stand-in port (the one change to config/edge.yaml), so it never collides with a
running demo. `make demo` builds the clone's own .venv from uv.lock, as on a fresh machine (uv's cache makes
that quick); only the pinned uv and Azurite installs are shared. Sharing this checkout's .venv would point
its editable install at the clone.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml
from tests.conftest import REPO_ROOT, subprocess_env

from edgetrain.storage.azurite import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.integration]
DEMO_TIMEOUT_S = 900


def sh(*cmd: str, cwd: Path, timeout: int = DEMO_TIMEOUT_S) -> subprocess.CompletedProcess[str]:
    env = subprocess_env()
    env["PATH"] = f"{cwd / '.venv' / 'bin'}:{env['PATH']}"  # the clone's own venv once make demo built it
    done = subprocess.run(
        list(cmd), cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, (
        f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    )
    return done


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    clone = tmp_path_factory.mktemp("e2e") / "edgetrain"
    sh("git", "clone", "-q", str(REPO_ROOT), str(clone), cwd=REPO_ROOT)
    (clone / ".edgetrain").mkdir()
    (clone / ".edgetrain" / "tools").symlink_to(REPO_ROOT / ".edgetrain" / "tools")
    port = free_port()
    edge_path = clone / "config" / "edge.yaml"
    edge = edge_path.read_text()
    edge = edge.replace("127.0.0.1:10000", f"127.0.0.1:{port}").replace("port: 10000", f"port: {port}")
    edge_path.write_text(edge)
    # Stage it: same size as the original, written within the clone's second, so git's stat check misses it.
    sh("git", "add", "config/edge.yaml", cwd=clone)
    try:
        run = sh("make", "demo", cwd=clone)
        yield clone, run
    finally:
        subprocess.run(
            ["make", "down"], cwd=clone, env=subprocess_env(), capture_output=True, timeout=120, check=False
        )


def test_demo_prints_metrics_and_a_score(demo) -> None:  # type: ignore[no-untyped-def]
    _, run = demo
    assert "artifacts/metrics.json" in run.stdout
    assert "auc" in run.stdout
    assert "/score" in run.stdout or "score" in run.stdout.lower()


def test_model_metrics_and_plots(demo) -> None:  # type: ignore[no-untyped-def]
    clone, _ = demo
    meta = json.loads((clone / "artifacts" / "model" / "metadata.json").read_text())
    assert meta["task"] == "binary"
    assert meta["classes"] == [0, 1]
    assert [f["name"] for f in meta["features"]] == yaml.safe_load((clone / "params.yaml").read_text())[
        "data"
    ]["features"]
    assert (clone / "artifacts" / "model" / "model.ubj").stat().st_size > 1000
    metrics = json.loads((clone / "artifacts" / "metrics.json").read_text())
    assert 0.9 < metrics["auc"] <= 1.0
    for name in ("roc", "precision_recall", "confusion", "importance"):
        assert (clone / "artifacts" / "plots" / f"{name}.json").exists()
    assert (clone / "build" / "scoring" / "Dockerfile").exists()


def test_demo_leaves_git_clean_but_for_the_port(demo) -> None:  # type: ignore[no-untyped-def]
    """The data, model and metrics the demo makes are exactly what the commit records."""
    clone, _ = demo
    status = sh("git", "status", "--porcelain", cwd=clone).stdout.splitlines()
    assert status == ["M  config/edge.yaml"]


def test_second_repro_is_a_no_op(demo) -> None:  # type: ignore[no-untyped-def]
    clone, _ = demo
    again = sh("dvc", "repro", cwd=clone)
    assert "Running stage" not in again.stdout
    assert "up to date" in again.stdout
    assert "changed" not in sh("dvc", "status", cwd=clone).stdout
