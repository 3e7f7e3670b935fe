"""The serving bench at smoke size: every server and floor measured (or, outside CI, recorded as missing
with a reason and no ratio), predictions checked equal before timing; a taken port is one line."""

from __future__ import annotations

import re
import socket
from pathlib import Path

import pytest
import servers as sv
from tests.bench.helpers import in_ci, run_bench
from tests.serving.helpers import train_model

import harness

SERVERS = (
    "edgetrain",
    "azureml-inference-server-http",
    "MLServer + xgboost, one process, one thread",
    "MLServer + xgboost, defaults (worker process, all cores)",
    "load client ceiling (trivial server)",
    "floor: `Booster.inplace_predict` in-process",
    "floor: tl2cgen-compiled (gcc -O3) in-process",
)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("bench-model")
    model = train_model(root, "binary")
    model.test_frame.to_parquet(root / "test.parquet")
    return root


def test_serving_smoke(project: Path, tmp_path: Path) -> None:
    args = ["--root", str(project), "--test-data", str(project / "test.parquet"), "--rows", "1", "10"]
    args += ["--connections", "2", "--seconds", "0.3", "--rounds", "2", "--floor-seconds", "0.1"]
    # In CI every peer is installed and must run; elsewhere an absent environment is a recorded row.
    # edgetrain's own environment (the server under test and the load client) is always installed:
    # without it the bench has nothing to measure and exits.
    if not in_ci():
        from edgetrain.serving.package import REQUIREMENTS_LOCK

        harness.peer_env("edgetrain", requirements=REQUIREMENTS_LOCK)
    args += ["--require-all"] if in_ci() else ["--no-install"]
    _, text = run_bench("serving/run.py", *args, tmp=tmp_path)
    section = text[text.index("## Serving") :]
    assert "Reproduce: `python bench/serving/run.py" in section
    assert "load average" in section
    assert "trees" in section
    table = section[section.index("| server | rows/request") : section.index("| server | start-up")]
    rows = [line for line in table.splitlines() if line.startswith("| ")]
    for label in SERVERS:
        mine = [line for line in rows if line.startswith(f"| {label} |")]
        assert len(mine) == 2, (label, section)  # one per batch size (x connections: 1 here)
        for line in mine:
            cells = [c.strip() for c in line.strip("|").split("|")]
            if cells[3].startswith("missing"):
                assert not in_ci(), line
                assert not any(re.fullmatch(r"[\d.]+x", c) for c in cells), line  # no ratio unmeasured
            else:
                assert re.match(r"[\d.]+", cells[3]), line
    assert "edgetrain | 1 | 2 |" in section


def test_a_taken_port_is_one_line_and_nothing_starts(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = sv.Server(
            "azureml",
            ["false"],
            tmp_path,
            {},
            f"http://127.0.0.1:{port}/score",
            "azureml",
            Path("python"),
            [port],
        )
        with pytest.raises(harness.PeerUnavailableError) as err:
            sv.start(server, b"{}", tmp_path / "log")
    assert str(err.value) == f"azureml: port {port} is taken"
    assert server.process is None


def test_a_server_that_exits_is_one_line(tmp_path: Path) -> None:
    port = sv.free_port()
    argv = ["sh", "-c", "echo 'cannot import name xgboost' >&2; exit 3"]
    server = sv.Server(
        "mlserver", argv, tmp_path, {}, f"http://127.0.0.1:{port}/x", "v2", Path("python"), [port]
    )
    with pytest.raises(harness.PeerUnavailableError) as err:
        sv.start(server, b"{}", tmp_path / "log")
    assert str(err.value) == "mlserver: exited with 3 before answering (cannot import name xgboost)"
