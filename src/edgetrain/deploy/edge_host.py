"""The ``edge-host`` kind: a Stack Hub VM without Kubernetes, two systemd slots behind a front.

The command runs on the host itself (release.yml's edge-host job runs on a runner there). The target's
state (which slot holds which version and digest, which one the front points at) is a JSON file under
``state_dir``, rewritten atomically and guarded by an exclusive lock for the whole command.
"""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from edgetrain.config.deploy import DeployTarget
from edgetrain.deploy import units
from edgetrain.deploy.edge_runtime import LoopbackRuntime, Runtime, SystemdRuntime
from edgetrain.deploy.errors import DeployError
from edgetrain.deploy.slots import Release, Slot, Target, TargetState

POLL_S = 0.25


class EdgeHostTarget(Target):
    kind = "edge-host"

    def __init__(self, cfg: DeployTarget, state_dir: Path) -> None:
        self.cfg = cfg
        self.name = cfg.name
        self.state_dir = state_dir
        self.path = state_dir / f"{cfg.name}.json"
        self._data = self._load()
        record = self._data.setdefault("runtime", {})
        self.runtime: Runtime = (
            LoopbackRuntime(cfg, record, state_dir / cfg.name)
            if cfg.runtime == "loopback"
            else SystemdRuntime(cfg, record)
        )

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.cfg.port}"

    def _load(self) -> dict[str, Any]:
        if not self.path.exists():
            return {"slots": {}, "traffic": {}}
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise DeployError(f"{self.path}: unreadable deploy state ({exc})") from None
        if not isinstance(data, dict):
            raise DeployError(f"{self.path}: unreadable deploy state (not an object)")
        return data

    def save(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=self.state_dir)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(self._data, fh, indent=2, sort_keys=True)
            fh.write("\n")
        Path(tmp).replace(self.path)

    @contextmanager
    def locked(self) -> Iterator[None]:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        with (self.state_dir / f"{self.name}.lock").open("a") as fh:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            self._data = self._load()
            self._data.setdefault("runtime", {})
            self.runtime.record = self._data["runtime"]
            try:
                yield
            finally:
                self.save()
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)

    def state(self) -> TargetState:
        slots = {
            name: Slot(name, str(entry["version"]), str(entry["image"]))
            for name, entry in (self._data.get("slots") or {}).items()
        }
        traffic = {str(k): int(v) for k, v in (self._data.get("traffic") or {}).items()}
        return TargetState(slots, traffic, {})

    def create_slot(self, slot: str, release: Release, timeout_s: float) -> None:
        unit = units.slot_unit(self.cfg, slot, release.image, release.version)
        self.runtime.start_slot(slot, release.image, unit)
        self._data.setdefault("slots", {})[slot] = {"version": release.version, "image": release.image}
        self.save()
        self._wait_ready(slot, timeout_s)

    def _wait_ready(self, slot: str, timeout_s: float) -> None:
        url = f"http://127.0.0.1:{units.slot_port(self.cfg, slot)}/ready"
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            failed = self.runtime.slot_failed(slot)
            if failed:
                raise DeployError(f"slot {slot} on {self.name} did not start: {failed}")
            try:
                with urllib.request.urlopen(url, timeout=5) as answer:
                    if answer.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(POLL_S)
        raise DeployError(f"slot {slot} on {self.name} was not ready within {timeout_s:g}s ({url})")

    def remove_slot(self, slot: str) -> None:
        if self._data.get("traffic", {}).get(slot):
            raise DeployError(f"slot {slot} on {self.name} takes traffic: not removed")
        self.runtime.stop_slot(slot)
        self._data.get("slots", {}).pop(slot, None)
        self.save()

    def set_traffic(self, traffic: dict[str, int], mirror: dict[str, int]) -> None:  # noqa: ARG002
        live = [name for name, share in traffic.items() if share == 100]
        if len(live) != 1:
            raise DeployError(f"{self.name}: an edge host sends all traffic to one slot, not {traffic}")
        self.runtime.point_front(live[0], units.front_units(self.cfg, live[0]))
        self._data["traffic"] = {live[0]: 100}
        self.save()
        self._wait_front()

    def _wait_front(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.endpoint + "/ready", timeout=5) as answer:  # noqa: S310
                    if answer.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                time.sleep(POLL_S)
        raise DeployError(f"{self.name}: the front on port {self.cfg.port} does not answer")

    def score(self, slot: str | None, body: bytes, timeout_s: float) -> tuple[int, bytes]:
        port = self.cfg.port if slot is None else units.slot_port(self.cfg, slot)
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/score", data=body, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout_s) as answer:  # noqa: S310
                return answer.status, answer.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()
