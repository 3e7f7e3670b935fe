"""How an edge host runs its slots and front: systemd + Podman in production, buildah on loopback in tests.

Both runtimes receive the same rendered units (:mod:`.units`) and write them where they belong. The
``systemd`` runtime then lets systemd run them (``systemctl``); the ``loopback`` runtime, for machines where
``podman run`` cannot work (this project's CI containers), runs what the units describe directly: the image
pulled by digest into a buildah storage and its server started with ``buildah run`` on the slot's loopback
port, and the front as ``systemd-socket-activate`` + ``systemd-socket-proxyd`` on the public port. Processes
it starts are recorded (pid, container) in the target's state so a later command can stop them.
"""

from __future__ import annotations

import abc
import json
import logging
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from edgetrain.config.deploy import DeployTarget
from edgetrain.deploy.errors import DeployError
from edgetrain.deploy.units import SOCKET_PROXYD, UnitFile, front_names, slot_port, slot_service
from edgetrain.errors import EdgetrainError
from edgetrain.serving.image import ROOT_ENV, Buildah, is_loopback, run_tool

log = logging.getLogger(__name__)
QUADLET_DIR = Path("/etc/containers/systemd")
STOP_TIMEOUT_S = 20.0
PULL_TIMEOUT_S = 900.0


class Runtime(abc.ABC):
    def __init__(self, target: DeployTarget, record: dict[str, Any]) -> None:
        self.target = target
        self.record = record  # the "runtime" part of the target's state file, saved by the caller

    @abc.abstractmethod
    def start_slot(self, slot: str, image: str, unit: UnitFile) -> None: ...

    @abc.abstractmethod
    def stop_slot(self, slot: str) -> None: ...

    @abc.abstractmethod
    def slot_failed(self, slot: str) -> str | None:
        """Why the slot's server is gone (``None`` while it runs)."""

    @abc.abstractmethod
    def point_front(self, slot: str, units: tuple[UnitFile, UnitFile]) -> None: ...

    def write(self, folder: Path, unit: UnitFile) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / unit.name
        tmp = path.with_name(f".{unit.name}.tmp")
        tmp.write_text(unit.text, encoding="utf-8")
        tmp.replace(path)
        return path


def _systemctl(*args: str) -> None:
    run_tool(["systemctl", *args], 300, f"systemctl {' '.join(args)}")


class SystemdRuntime(Runtime):
    """Production: units under ``unit_dir`` (Quadlet files under /etc/containers/systemd), run by systemd."""

    def start_slot(self, slot: str, image: str, unit: UnitFile) -> None:  # noqa: ARG002 - the unit names it
        folder = QUADLET_DIR if unit.name.endswith(".container") else Path(self.target.unit_dir)
        self.write(folder, unit)
        _systemctl("daemon-reload")
        _systemctl("restart", slot_service(self.target, slot))

    def stop_slot(self, slot: str) -> None:
        _systemctl("stop", slot_service(self.target, slot))

    def slot_failed(self, slot: str) -> str | None:
        done = subprocess.run(
            ["systemctl", "is-failed", "--quiet", slot_service(self.target, slot)], check=False, timeout=30
        )
        return (
            f"{slot_service(self.target, slot)} failed (journalctl -u it)" if done.returncode == 0 else None
        )

    def point_front(self, slot: str, units: tuple[UnitFile, UnitFile]) -> None:  # noqa: ARG002
        for unit in units:
            self.write(Path(self.target.unit_dir), unit)
        socket_name, service_name = front_names(self.target)
        _systemctl("daemon-reload")
        _systemctl("enable", "--now", socket_name)
        _systemctl("restart", service_name)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (our own exited child) counts as gone
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False


def _stop(pid: int) -> None:
    if not _alive(pid):
        return
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.1)
    if _alive(pid):
        os.killpg(pid, signal.SIGKILL)


class LoopbackRuntime(Runtime):
    """Tests and rehearsals: what the units describe, run with buildah and socket activation on 127.0.0.1."""

    def __init__(self, target: DeployTarget, record: dict[str, Any], state_dir: Path) -> None:
        super().__init__(target, record)
        self.state_dir = state_dir
        # EDGETRAIN_CONTAINERS_ROOT (as for `edgetrain image`) wins: tests share the storage they build in.
        root = os.environ.get(ROOT_ENV)
        self.buildah = Buildah.from_env(root=Path(root) if root else state_dir / "containers")

    def _spawn(self, argv: list[str], log_name: str) -> int:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        with (self.state_dir / log_name).open("ab") as sink:
            process = subprocess.Popen(
                argv, stdout=sink, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
            )
        return process.pid

    def start_slot(self, slot: str, image: str, unit: UnitFile) -> None:
        self.write(self.state_dir / "units", unit)
        self.stop_slot(slot)
        registry = image.split("/", 1)[0]
        tls = "--tls-verify=false" if is_loopback(registry) else "--tls-verify=true"
        try:
            done = self.buildah.run(
                ["from", tls, "--quiet", f"docker://{image}"], PULL_TIMEOUT_S, f"pull {image}"
            )
            container = done.stdout.strip().splitlines()[-1]
            config = self.buildah.run(
                ["inspect", "--type", "container", container], 120, "inspect the container"
            )
        except EdgetrainError as err:
            raise DeployError(str(err)) from None
        cmd = json.loads(config.stdout).get("OCIv1", {}).get("config", {}).get("Cmd") or []
        env = ["--env", f"PORT={slot_port(self.target, slot)}", "--env", "HOST=127.0.0.1"]
        for line in unit.text.splitlines():  # the unit's other environment, as systemd would pass it
            for prefix in ("Environment=EDGETRAIN_", "    --env=EDGETRAIN_"):
                if line.startswith(prefix):
                    env += ["--env", line.split("=", 1)[1].rstrip(" \\")]
        argv = ["buildah", *self.buildah.global_args(), "run", "--isolation", self.buildah.isolation,
                *env, container, "--", *cmd]  # fmt: skip
        pid = self._spawn(argv, f"{slot}.log")
        self.record[slot] = {"pid": pid, "container": container}

    def stop_slot(self, slot: str) -> None:
        entry = self.record.pop(slot, None)
        if not entry:
            return
        _stop(int(entry["pid"]))
        subprocess.run(
            ["buildah", *self.buildah.global_args(), "rm", str(entry["container"])],
            capture_output=True, timeout=120, check=False,
        )  # fmt: skip

    def slot_failed(self, slot: str) -> str | None:
        entry = self.record.get(slot)
        if entry is None:
            return "not started"
        if _alive(int(entry["pid"])):
            return None
        tail = (self.state_dir / f"{slot}.log").read_text(errors="replace").strip().splitlines()[-1:]
        return f"the server exited: {tail[0][:200] if tail else 'no output'}"

    def point_front(self, slot: str, units: tuple[UnitFile, UnitFile]) -> None:
        for unit in units:
            self.write(self.state_dir / "units", unit)
        proxyd = SOCKET_PROXYD if Path(SOCKET_PROXYD).exists() else "/usr/lib/systemd/systemd-socket-proxyd"
        activate = shutil.which("systemd-socket-activate")
        if activate is None:
            raise DeployError("systemd-socket-activate: not installed (apt-get install systemd)")
        old = self.record.pop("front", None)
        if old:
            _stop(int(old["pid"]))
        argv = [
            activate,
            "-l",
            f"127.0.0.1:{self.target.port}",
            proxyd,
            f"127.0.0.1:{slot_port(self.target, slot)}",
        ]
        self.record["front"] = {"pid": self._spawn(argv, "front.log"), "slot": slot}

    def stop_all(self) -> None:
        """Stop every process this runtime started for the target (tests' clean-up)."""
        for slot in [k for k in self.record if k != "front"]:
            self.stop_slot(slot)
        front = self.record.pop("front", None)
        if front:
            _stop(int(front["pid"]))
