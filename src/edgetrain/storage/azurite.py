"""Install and run Azurite (npm ``azurite``), the Azure Storage emulator under the Stack Hub stand-in.

Azurite is installed, at the version pinned in ``config/edge.yaml`` (``standin.azurite_version``), into
the git-ignored ``.edgetrain/tools/azurite-<version>`` folder with the machine's npm. It always runs on
loopback with ``--disableTelemetry`` (otherwise it tries to reach the internet) and with its own
API-version check off: Stack Hub's stricter rule is enforced by :mod:`edgetrain.storage.strict_proxy`.
"""

from __future__ import annotations

import logging
import shutil
import socket
import subprocess
import time
from pathlib import Path

from edgetrain.errors import StorageError

log = logging.getLogger(__name__)

DEV_ACCOUNT = "devstoreaccount1"
#: Azurite's published, well-known development key (not a secret; it only opens the local emulator).
DEV_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
LOOPBACK = "127.0.0.1"
TOOLS_DIR = Path(".edgetrain/tools")
NPM_INSTALL_TIMEOUT_S = 600
READY_TIMEOUT_S = 60.0
POLL_INTERVAL_S = 0.1

NODE_MISSING = (
    "Node.js is not installed: the embedded Stack Hub stand-in (Azurite) needs Node.js 18+ with npm "
    "(Debian/Ubuntu: 'sudo apt-get install nodejs npm'; macOS: 'brew install node'; or https://nodejs.org)"
)


def install_dir(version: str, tools_dir: Path = TOOLS_DIR) -> Path:
    return tools_dir / f"azurite-{version}"


def binary(version: str, tools_dir: Path = TOOLS_DIR) -> Path:
    return install_dir(version, tools_dir) / "node_modules" / ".bin" / "azurite-blob"


def ensure_installed(version: str, tools_dir: Path = TOOLS_DIR) -> Path:
    """Install ``azurite@version`` with npm unless already there; return the ``azurite-blob`` path."""
    exe = binary(version, tools_dir)
    if exe.exists():
        return exe
    if shutil.which("node") is None or shutil.which("npm") is None:
        raise StorageError(NODE_MISSING)
    target = install_dir(version, tools_dir)
    target.mkdir(parents=True, exist_ok=True)
    log.info("installing azurite@%s into %s", version, target)
    cmd = [
        "npm",
        "install",
        "--prefix",
        str(target),
        "--no-audit",
        "--no-fund",
        "--no-save",
        "--loglevel=error",
        f"azurite@{version}",
    ]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=NPM_INSTALL_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        raise StorageError(f"npm install azurite@{version} took over {NPM_INSTALL_TIMEOUT_S} s") from None
    if done.returncode != 0 or not exe.exists():
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise StorageError(f"npm install azurite@{version} failed: {last}")
    return exe


def free_port(host: str = LOOPBACK) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_open(port: int, host: str = LOOPBACK) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def wait_for_port(
    port: int, proc: subprocess.Popen[bytes] | None = None, timeout: float = READY_TIMEOUT_S
) -> None:
    """Wait (bounded) until something listens on ``port``; fail early if ``proc`` exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_open(port):
            return
        if proc is not None and proc.poll() is not None:
            raise StorageError(f"process listening on {LOOPBACK}:{port} exited with code {proc.returncode}")
        time.sleep(POLL_INTERVAL_S)
    raise StorageError(f"nothing listens on {LOOPBACK}:{port} after {timeout:.0f} s")


def command(exe: Path, port: int, location: Path) -> list[str]:
    return [
        str(exe),
        "--blobHost",
        LOOPBACK,
        "--blobPort",
        str(port),
        "--location",
        str(location),
        "--silent",
        "--disableTelemetry",
        "--skipApiVersionCheck",
        "--loose",
    ]


def start(
    version: str,
    port: int,
    location: Path,
    *,
    log_file: Path | None = None,
    tools_dir: Path = TOOLS_DIR,
    detach: bool = False,
) -> subprocess.Popen[bytes]:
    """Start ``azurite-blob`` on loopback and wait until it accepts connections."""
    exe = ensure_installed(version, tools_dir)
    location.mkdir(parents=True, exist_ok=True)
    if port_open(port):
        raise StorageError(f"port {LOOPBACK}:{port} is already in use (set standin.port in config/edge.yaml)")
    out = log_file.open("ab") if log_file else subprocess.DEVNULL
    try:
        proc = subprocess.Popen(
            command(exe, port, location),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=detach,
        )
    finally:
        if log_file:
            out.close()  # type: ignore[union-attr]
    try:
        wait_for_port(port, proc)
    except StorageError:
        proc.kill()
        raise
    return proc
