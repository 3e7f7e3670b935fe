"""End to end: clone the repository, run `make demo` there, check the model, metrics, plots and git status.

Another process listens on 127.0.0.1:10000 (``standin.port``) the whole time, as another checkout's
stand-in would: the clone's stand-in takes a free port, every command follows it, and nothing in git
changes (the port lives in the git-ignored .edgetrain/standin and .dvc/config.local). `make demo` builds
the clone's own .venv from uv.lock, as on a fresh machine (uv's cache makes that quick); only the pinned uv
and Azurite installs are shared. Sharing this checkout's .venv would point its editable install at the
clone.
"""

from __future__ import annotations

import json
import socket
import subprocess
from pathlib import Path

import pytest
import yaml
from tests.conftest import REPO_ROOT, subprocess_env

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
    squatter = socket.socket()
    try:
        squatter.bind(("127.0.0.1", 10000))  # another checkout's stand-in, or anything else
        squatter.listen()
    except OSError:
        squatter.close()  # something already listens there: the same situation
    try:
        run = sh("make", "demo", cwd=clone)
        yield clone, run
    finally:
        squatter.close()
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


def test_demo_takes_a_free_port_and_leaves_git_clean(demo) -> None:  # type: ignore[no-untyped-def]
    """Port 10000 taken: the demo says so and uses another; the data, model and metrics it makes are
    exactly what the commit records, and git sees no change at all."""
    clone, run = demo
    port = json.loads((clone / ".edgetrain" / "standin" / "endpoint.json").read_text())["port"]
    assert port != 10000
    assert f"port 10000 (standin.port) is taken: using free port {port} instead" in run.stdout
    assert f"PASS stand-in identity: http://127.0.0.1:{port}/devstoreaccount1" in run.stdout
    assert (
        f"BlobEndpoint=http://127.0.0.1:{port}/devstoreaccount1;"
        in (clone / ".dvc" / "config.local").read_text()
    )
    assert sh("git", "status", "--porcelain", cwd=clone).stdout == ""


def test_second_repro_is_a_no_op(demo) -> None:  # type: ignore[no-untyped-def]
    clone, _ = demo
    again = sh("dvc", "repro", cwd=clone)
    assert "Running stage" not in again.stdout
    assert "up to date" in again.stdout
    assert "changed" not in sh("dvc", "status", cwd=clone).stdout
