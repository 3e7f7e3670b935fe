"""The embedded Stack Hub stand-in: Azurite behind the strict API-version proxy, on loopback.

Two ways to run it:
- :func:`up` / :func:`down` / :func:`status` keep it running in the background for the demo and
  for plain ``dvc`` commands (``edgetrain storage up|down|status``); state lives in ``standin.data_dir``.
- :class:`edgetrain.storage.private_standin.Standin` runs a private instance on free ports for one test
  session or benchmark (the proxy in a thread, so its request log can be inspected).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from edgetrain.config.edge import (
    STANDIN_ENDPOINT_FILE,
    EdgeConfig,
    StorageConfig,
    recorded_standin,
    standin_url,
)
from edgetrain.errors import StorageError
from edgetrain.storage import azurite
from edgetrain.storage.azurite import DEV_ACCOUNT, DEV_KEY, LOOPBACK
from edgetrain.storage.connection import (
    DVC_CACHE_REMOTE,
    DVC_RAW_REMOTE,
    blob_service,
    build_connection_string,
    storage_errors,
)
from edgetrain.storage.identity import mark

log = logging.getLogger(__name__)
STOP_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Endpoints:
    """Where a running stand-in answers."""

    port: int
    azurite_port: int

    @property
    def blob_endpoint(self) -> str:
        return f"http://{LOOPBACK}:{self.port}/{DEV_ACCOUNT}"

    @property
    def azurite_endpoint(self) -> str:
        return f"http://{LOOPBACK}:{self.azurite_port}/{DEV_ACCOUNT}"

    def connection_string(self, *, strict: bool = True) -> str:
        endpoint = self.blob_endpoint if strict else self.azurite_endpoint
        return (
            f"DefaultEndpointsProtocol=http;AccountName={DEV_ACCOUNT};AccountKey={DEV_KEY};"
            f"BlobEndpoint={endpoint};"
        )


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _stop_pid(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while time.monotonic() < deadline and _pid_alive(pid):
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        time.sleep(0.05)
    if _pid_alive(pid):
        os.killpg(pid, signal.SIGKILL)


def proxy_command(listen_port: int, upstream_port: int, max_version: str, log_path: Path | None) -> list[str]:
    cmd = [
        sys.executable,
        "-m",
        "edgetrain.storage.strict_proxy",
        "--listen",
        f"{LOOPBACK}:{listen_port}",
        "--upstream",
        f"http://{LOOPBACK}:{upstream_port}",
        "--max-version",
        max_version,
    ]
    if log_path is not None:
        cmd += ["--log", str(log_path)]
    return cmd


def create_containers(storage: StorageConfig, conn_str: str) -> None:
    """Create the raw, DVC and pull-request containers if they do not exist."""
    from azure.core.exceptions import ResourceExistsError  # noqa: PLC0415 - azure SDK loads only when storage is called

    service = blob_service(storage, conn_str)
    with storage_errors(storage):
        for name in (storage.raw_container, storage.dvc_container, storage.pr_container):
            with contextlib.suppress(ResourceExistsError):
                service.create_container(name)


def write_dvc_credentials(conn_str: str, repo: Path = Path()) -> None:
    """Store the connection string for both DVC remotes in the git-ignored ``.dvc/config.local``."""
    from dvc.config import Config  # noqa: PLC0415 - dvc is heavy; loaded only to read the DVC config

    config = Config(dvc_dir=str(repo / ".dvc"), validate=False)
    with config.edit("local") as local:
        for remote in (DVC_CACHE_REMOTE, DVC_RAW_REMOTE):
            local.setdefault("remote", {}).setdefault(remote, {})["connection_string"] = conn_str


# --- background instance (demo, plain dvc) ---------------------------------------------------------
#
# ``storage.blob_endpoint: standin`` makes the address follow this checkout's stand-in: ``up`` listens on
# ``standin.port`` when it is free, else on a free port, and records the port with a random identity in
# ``<data_dir>/endpoint.json`` (git-ignored); config loading reads the port back, ``.dvc/config.local``
# gets the matching connection string, and the identity is set as metadata on the raw container, where
# doctor and the commands that write (seed, land, clear) check that the storage they reach is this one.


def _state_dir(cfg: EdgeConfig) -> Path:
    return Path(cfg.standin.data_dir)


def _read_state(cfg: EdgeConfig) -> dict[str, Any] | None:
    path = _state_dir(cfg) / "state.json"
    try:
        state = json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    return state if isinstance(state, dict) else None


def _port(cfg: EdgeConfig) -> int:
    return int(urlsplit(cfg.storage.blob_url).port or cfg.standin.port)


def status(cfg: EdgeConfig) -> dict[str, Any]:
    """What is running: ``{"running": bool, "blob_endpoint": ..., "pids": {...}}``."""
    state = _read_state(cfg) or {}
    pids = state.get("pids", {})
    alive = {name: _pid_alive(pid) for name, pid in pids.items()}
    port = _port(cfg)
    running = bool(pids) and all(alive.values()) and state.get("port") == port and azurite.port_open(port)
    return {
        "running": running,
        "blob_endpoint": standin_url(port),
        "api_version": cfg.storage.api_version,
        "pids": pids,
        "alive": alive,
        "data_dir": str(_state_dir(cfg)),
    }


def _listen(preferred: int) -> socket.socket:
    """A listening loopback socket on ``preferred``, or on a free port when that one is taken."""
    for port in (preferred, 0):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        # Past connections' TIME_WAIT does not block a restart on the same port; a listener still does.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((LOOPBACK, port))
        except OSError:
            sock.close()
            continue
        sock.listen(128)
        return sock
    raise StorageError(f"no free loopback port for the stand-in (standin.port {preferred} is taken)")


def _record(cfg: EdgeConfig, port: int) -> str:
    """Write ``endpoint.json`` (port, identity; the identity is kept across restarts); return the identity."""
    recorded = recorded_standin(_state_dir(cfg)) or {}
    identity = str(recorded.get("id") or uuid.uuid4().hex)
    (_state_dir(cfg) / STANDIN_ENDPOINT_FILE).write_text(json.dumps({"port": port, "id": identity}))
    return identity


def up(cfg: EdgeConfig, repo: Path = Path()) -> Endpoints:
    """Start Azurite and the strict proxy in the background (idempotent) and prepare containers and DVC."""
    if not cfg.standin_managed:
        raise StorageError(
            "config/edge.yaml storage does not point at the stand-in (storage.blob_endpoint: standin); "
            "'edgetrain storage up' only runs the local stand-in"
        )
    state_dir = _state_dir(cfg)
    current = status(cfg)
    if current["running"]:
        endpoints = Endpoints(_port(cfg), int((_read_state(cfg) or {})["azurite_port"]))
    else:
        down(cfg)
        state_dir.mkdir(parents=True, exist_ok=True)
        listener = _listen(_port(cfg))
        port = int(listener.getsockname()[1])
        try:
            az_port = azurite.free_port()
            az = azurite.start(
                cfg.standin.azurite_version,
                az_port,
                state_dir / "azurite",
                log_file=state_dir / "azurite.log",
                detach=True,
            )
            state: dict[str, Any] = {"azurite_port": az_port, "port": port, "pids": {"azurite": az.pid}}
            (state_dir / "state.json").write_text(json.dumps(state))
            with (state_dir / "proxy.log").open("ab") as out:
                cmd = proxy_command(port, az_port, cfg.storage.api_version, state_dir / "requests.jsonl")
                proxy = subprocess.Popen(
                    [*cmd, "--fd", str(listener.fileno())],
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,
                    pass_fds=(listener.fileno(),),
                )
        finally:
            listener.close()  # the proxy holds its own copy
        state["pids"]["proxy"] = proxy.pid
        (state_dir / "state.json").write_text(json.dumps(state))
        azurite.wait_for_port(port, proxy)
        endpoints = Endpoints(port, az_port)
    identity = _record(cfg, endpoints.port)
    cfg = cfg.with_standin(endpoints.port, state_dir)
    conn = build_connection_string(cfg.storage, DEV_KEY)
    create_containers(cfg.storage, conn)
    mark(cfg.storage, conn, identity)
    write_dvc_credentials(conn, repo)
    return endpoints


def down(cfg: EdgeConfig) -> bool:
    """Stop a background stand-in; True when something was stopped. Data stays in ``data_dir``."""
    state = _read_state(cfg)
    if not state:
        return False
    stopped = False
    for pid in state.get("pids", {}).values():
        if _pid_alive(pid):
            _stop_pid(pid)
            stopped = True
    (_state_dir(cfg) / "state.json").unlink(missing_ok=True)
    return stopped
