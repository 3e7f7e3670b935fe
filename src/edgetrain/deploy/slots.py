"""What every target kind exposes to the rollout: two slots, the traffic between them, and a way to score.

A *slot* is an Azure ML online deployment (``blue``/``green``) or, on an edge host, one systemd service on
its own loopback port. The rollout (:mod:`.rollout`) only ever talks to a :class:`Target`.
"""

from __future__ import annotations

import abc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

SLOTS = ("blue", "green")


@dataclass(frozen=True)
class Release:
    """A released model version and its scoring image, pinned by digest."""

    version: str
    image: str  # registry/repository@sha256:...

    @property
    def digest(self) -> str:
        return self.image.rsplit("@", 1)[1]


@dataclass(frozen=True)
class Slot:
    name: str
    version: str
    image: str

    @property
    def digest(self) -> str:
        return self.image.rsplit("@", 1)[1]


@dataclass(frozen=True)
class TargetState:
    """Slots that exist, the live traffic split (percent) and the mirrored share (Azure ML only)."""

    slots: dict[str, Slot] = field(default_factory=dict)
    traffic: dict[str, int] = field(default_factory=dict)
    mirror: dict[str, int] = field(default_factory=dict)

    @property
    def live(self) -> Slot | None:
        """The slot taking all (or most) traffic."""
        ranked = sorted(((p, n) for n, p in self.traffic.items() if p > 0 and n in self.slots), reverse=True)
        return self.slots[ranked[0][1]] if ranked else None

    @property
    def idle(self) -> Slot | None:
        """The kept slot without traffic (what a rollback returns to)."""
        live = self.live
        for name in SLOTS:
            if name in self.slots and (live is None or name != live.name) and not self.traffic.get(name):
                return self.slots[name]
        return None

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> TargetState:
        slots = {n: Slot(n, str(s["version"]), str(s["image"])) for n, s in (doc.get("slots") or {}).items()}
        traffic = {str(k): int(v) for k, v in (doc.get("traffic") or {}).items()}
        mirror = {str(k): int(v) for k, v in (doc.get("mirror") or {}).items()}
        return cls(slots, traffic, mirror)

    def to_dict(self) -> dict[str, Any]:
        return {
            "slots": {n: {"version": s.version, "image": s.image} for n, s in sorted(self.slots.items())},
            "traffic": dict(sorted(self.traffic.items())),
            "mirror": dict(sorted(self.mirror.items())),
        }


class Target(abc.ABC):
    """One deploy target (``deploy.targets[*]`` in config/edge.yaml)."""

    name: str
    kind: str

    @property
    @abc.abstractmethod
    def endpoint(self) -> str:
        """Where clients score (a URL or an endpoint name), for messages and lineage."""

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Held for a whole command (edge hosts: a file lock; Azure ML serializes operations itself)."""
        yield

    @abc.abstractmethod
    def state(self) -> TargetState:
        """Slots and traffic as the target reports them now."""

    @abc.abstractmethod
    def create_slot(self, slot: str, release: Release, timeout_s: float) -> None:
        """Run ``release`` in ``slot`` with no traffic; wait until it is healthy (or raise DeployError)."""

    @abc.abstractmethod
    def remove_slot(self, slot: str) -> None:
        """Stop and delete a slot that takes no traffic."""

    @abc.abstractmethod
    def set_traffic(self, traffic: dict[str, int], mirror: dict[str, int]) -> None:
        """Move traffic (percentages summing to 100) and the mirrored share."""

    @abc.abstractmethod
    def score(self, slot: str | None, body: bytes, timeout_s: float) -> tuple[int, bytes]:
        """POST a JSON body to one slot directly (``None``: through the endpoint); (status, body)."""
