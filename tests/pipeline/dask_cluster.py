"""A real ``dask scheduler`` and ``dask worker`` processes on 127.0.0.1, started and stopped by the tests."""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tests.conftest import subprocess_env

from edgetrain.storage.azurite import free_port

DASK = Path(sys.executable).parent / "dask"
START_TIMEOUT_S = 90
STOP_TIMEOUT_S = 15
POLL_S = 0.2


@dataclass
class Cluster:
    address: str
    logs: Path
    scheduler: subprocess.Popen
    workers: list[subprocess.Popen] = field(default_factory=list)

    def worker_log(self, index: int) -> str:
        return (self.logs / f"worker-{index}.log").read_text(encoding="utf-8", errors="replace")

    def kill_worker(self, index: int) -> None:
        """SIGKILL: the worker vanishes the way a crashed VM does (no nanny restarts it)."""
        self.workers[index].send_signal(signal.SIGKILL)
        self.workers[index].wait(STOP_TIMEOUT_S)


def _wait(what: str, ready: callable, proc: subprocess.Popen, log: Path) -> None:  # type: ignore[valid-type]
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}: {log.read_text()[-2000:]}")
        if ready():
            return
        time.sleep(POLL_S)
    raise TimeoutError(f"{what} not ready after {START_TIMEOUT_S}s: {log.read_text()[-2000:]}")


def _listening(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        return True
    return False


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(STOP_TIMEOUT_S)


@contextlib.contextmanager
def dask_cluster(logs: Path, workers: int = 2) -> Iterator[Cluster]:
    """Scheduler + ``workers`` single-threaded workers without nannies; everything stopped on exit."""
    logs.mkdir(parents=True, exist_ok=True)
    handles = contextlib.ExitStack()
    port = free_port()
    env = subprocess_env(DASK_DISTRIBUTED__WORKER__DAEMON="False")
    log = logs / "scheduler.log"
    scheduler = subprocess.Popen(
        [str(DASK), "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
        stdout=handles.enter_context(log.open("wb")),
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env=env,
    )
    cluster = Cluster(f"tcp://127.0.0.1:{port}", logs, scheduler)
    try:
        _wait("dask scheduler", lambda: _listening(port), scheduler, log)
        for index in range(workers):
            wlog = logs / f"worker-{index}.log"
            where = ["--no-dashboard", "--host", "127.0.0.1", "--name", f"w{index}"]
            where += ["--local-directory", str(logs / f"scratch-{index}")]  # nothing left in /tmp
            proc = subprocess.Popen(
                [
                    str(DASK),
                    "worker",
                    cluster.address,
                    "--nthreads",
                    "1",
                    "--no-nanny",
                    "--no-dashboard",
                    *where,
                ],
                stdout=handles.enter_context(wlog.open("wb")),
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
            )
            cluster.workers.append(proc)
        for index, proc in enumerate(cluster.workers):
            path = logs / f"worker-{index}.log"
            _wait(
                f"dask worker {index}",
                lambda p=path: "Registered to" in p.read_text(errors="replace"),
                proc,
                path,
            )
        yield cluster
    finally:
        for proc in [*cluster.workers, scheduler]:
            _stop(proc)
        handles.close()
