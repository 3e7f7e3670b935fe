"""``edgetrain storage up`` with ``standin.port`` taken: a free port, recorded where every command finds it.

Two checkouts, two stand-ins: the second one's commands never write to the first's storage (seed, land,
clear and pull check the stand-in's identity; doctor reports it).
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.conftest import REPO_ROOT, subprocess_env

from edgetrain.config.edge import load_edge_config
from edgetrain.storage.azurite import DEV_KEY, TOOLS_DIR

pytestmark = pytest.mark.integration
TIMEOUT_S = 300


def checkout(root: Path) -> Path:
    """What a clone holds that the stand-in commands read: config, params, DVC config, data.dvc."""
    (root / "config").mkdir(parents=True)
    shutil.copy(REPO_ROOT / "config" / "edge.yaml", root / "config" / "edge.yaml")
    shutil.copy(REPO_ROOT / "params.yaml", root / "params.yaml")
    shutil.copy(REPO_ROOT / "data.dvc", root / "data.dvc")
    shutil.copytree(
        REPO_ROOT / ".dvc", root / ".dvc", ignore=shutil.ignore_patterns("config.local", "tmp", "cache")
    )
    (root / ".edgetrain").mkdir()
    (root / ".edgetrain" / "tools").symlink_to(REPO_ROOT / TOOLS_DIR)
    return root


def edgetrain(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(REPO_ROOT / ".venv" / "bin" / "edgetrain"), *args],
        cwd=root,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def raw_blobs(root: Path) -> list[str]:
    from edgetrain.storage.connection import blob_service, build_connection_string

    cfg = load_edge_config(root / "config" / "edge.yaml")
    conn = build_connection_string(cfg.storage, DEV_KEY)
    container = blob_service(cfg.storage, conn).get_container_client(cfg.storage.raw_container)
    return [b.name for b in container.list_blobs()]


@pytest.fixture
def taken() -> Iterator[int]:
    """A loopback port another process listens on, written as standin.port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


@pytest.fixture
def first(tmp_path: Path, taken: int) -> Iterator[Path]:
    root = checkout(tmp_path / "first")
    edge = root / "config" / "edge.yaml"
    edge.write_text(edge.read_text().replace("port: 10000", f"port: {taken}", 1))
    try:
        yield root
    finally:
        edgetrain(root, "storage", "down")


def test_up_picks_a_free_port_and_everything_follows(first: Path, taken: int) -> None:
    up = edgetrain(first, "storage", "up")
    assert up.returncode == 0, up.stderr
    recorded = json.loads((first / ".edgetrain" / "standin" / "endpoint.json").read_text())
    port = recorded["port"]
    assert port != taken
    assert f"port {taken} (standin.port) is taken: using free port {port} instead" in up.stdout
    endpoint = f"http://127.0.0.1:{port}/devstoreaccount1"
    assert load_edge_config(first / "config" / "edge.yaml").storage.blob_url == endpoint
    assert f"BlobEndpoint={endpoint};" in (first / ".dvc" / "config.local").read_text()
    assert edgetrain(first, "storage", "status").stdout.startswith(f"stand-in running: {endpoint}")
    doctor = edgetrain(first, "doctor")
    assert f"PASS stand-in identity: {endpoint} is this checkout's stand-in" in doctor.stdout
    assert "PASS connection string" in doctor.stdout

    # Down and up again: the same port and identity, so .dvc/config.local stays right.
    assert edgetrain(first, "storage", "down").returncode == 0
    assert edgetrain(first, "storage", "status").returncode == 1
    assert edgetrain(first, "storage", "up").returncode == 0
    assert json.loads((first / ".edgetrain" / "standin" / "endpoint.json").read_text()) == recorded


def test_another_checkouts_standin_is_refused(first: Path, tmp_path: Path) -> None:
    assert edgetrain(first, "storage", "up").returncode == 0
    port = json.loads((first / ".edgetrain" / "standin" / "endpoint.json").read_text())["port"]
    # A second checkout whose recorded port now belongs to the first checkout's stand-in (its own stand-in
    # went down, the first one took the port): same address, other storage.
    second = checkout(tmp_path / "second")
    state = second / ".edgetrain" / "standin"
    state.mkdir(parents=True)
    (state / "endpoint.json").write_text(json.dumps({"port": port, "id": "0" * 32}))
    doctor = edgetrain(second, "doctor")
    assert doctor.returncode == 1
    (line,) = [ln for ln in doctor.stdout.splitlines() if ln.startswith("FAIL stand-in identity:")]
    assert f"http://127.0.0.1:{port}/devstoreaccount1 is not this checkout's stand-in" in line
    assert "fix: run `edgetrain storage up` in this checkout" in line

    for args in (("storage", "seed", "--rows", "10", "--days", "1"), ("storage", "clear")):
        done = edgetrain(second, *args)
        assert done.returncode == 4, done.stdout
        err = done.stderr.strip().splitlines()
        assert len(err) == 1
        assert "is not this checkout's stand-in" in err[0]
        assert "run 'edgetrain storage up' here" in err[0]
    assert raw_blobs(first) == []  # nothing written to (or deleted from) the first checkout's storage

    (state / "endpoint.json").unlink()  # never started here at all
    doctor = edgetrain(second, "doctor")
    assert "FAIL stand-in identity: no stand-in started for this checkout" in doctor.stdout
