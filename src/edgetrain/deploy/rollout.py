"""Safe rollout on any :class:`~edgetrain.deploy.slots.Target`: idle slot, smoke test, then traffic.

``deploy``: if the live slot already runs this digest with all traffic, nothing changes (reruns are no-ops).
Otherwise the release goes to the slot that is not live, with no traffic; it must become healthy and pass
the schema-driven smoke test; then traffic moves (an optional mirrored share first, then each configured
step, smoke-tested through the endpoint while partial). The previous slot stays, without traffic, for
``rollback``. A failure before traffic moves removes the new slot and leaves traffic where it was; the error
is one line saying why. ``rollback`` gives all traffic back to the kept slot.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from edgetrain.config.deploy import DeployTarget
from edgetrain.deploy import smoke
from edgetrain.deploy.errors import DeployError
from edgetrain.deploy.slots import SLOTS, Release, Target, TargetState


@dataclass(frozen=True)
class Outcome:
    target: str
    kind: str
    endpoint: str
    slot: str
    version: str
    image: str
    changed: bool
    before: TargetState
    after: TargetState
    smoke: smoke.SmokeResult | None = None
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "kind": self.kind,
            "endpoint": self.endpoint,
            "slot": self.slot,
            "version": self.version,
            "image": self.image,
            "digest": self.image.rsplit("@", 1)[-1],
            "changed": self.changed,
            "traffic_before": self.before.traffic,
            "traffic_after": self.after.traffic,
            "state": self.after.to_dict(),
            "state_before": self.before.to_dict(),
            "smoke": self.smoke.to_dict() if self.smoke else None,
            "seconds": round(self.seconds, 2),
        }


def from_dict(doc: dict[str, Any]) -> Outcome:
    """An outcome as ``to_dict`` wrote it (``deploy record`` reads the edge job's)."""
    return Outcome(
        doc["target"], doc["kind"], doc["endpoint"], doc["slot"], doc["version"], doc["image"],
        bool(doc["changed"]), TargetState.from_dict(doc["state_before"]), TargetState.from_dict(doc["state"]),
    )  # fmt: skip


def _where(state: TargetState) -> str:
    live = state.live
    return f"slot {live.name} (version {live.version})" if live else "no slot (nothing was serving)"


def deploy(target: Target, release: Release, schema: dict[str, Any], cfg: DeployTarget) -> Outcome:
    started = time.monotonic()
    before = target.state()
    live = before.live
    if live and live.image == release.image and before.traffic.get(live.name) == 100:
        return Outcome(target.name, target.kind, target.endpoint, live.name, release.version, release.image,
                       False, before, before)  # fmt: skip
    new = next(s for s in SLOTS if live is None or s != live.name)

    def refuse(reason: str) -> DeployError:
        """Remove the new slot and put back what the idle slot held (the kept rollback slot)."""
        kept = before.slots.get(new)
        try:
            target.remove_slot(new)
            if kept is not None:
                target.create_slot(new, Release(kept.version, kept.image), cfg.smoke.ready_timeout_s)
        except DeployError as err:
            reason += f" (slot {new} not restored: {err})"
        return DeployError(
            f"{target.name}: version {release.version} refused: {reason}; traffic stays on {_where(before)}"
        )

    try:
        target.create_slot(new, release, cfg.smoke.ready_timeout_s)
        result = smoke.run(lambda b, t: target.score(new, b, t), schema, cfg.smoke, f"slot {new}")
    except DeployError as err:
        raise refuse(str(err)) from None
    if cfg.mirror_percent and live:
        target.set_traffic(dict(before.traffic), {new: cfg.mirror_percent})
    for step in cfg.steps if live else [100]:  # nothing to share traffic with on a first deploy
        traffic = {new: step, **({live.name: 100 - step} if live and step < 100 else {})}
        target.set_traffic(traffic, {})
        if step < 100:
            try:
                smoke.run(
                    lambda b, t: target.score(None, b, t), schema, cfg.smoke, f"{target.endpoint} at {step}%"
                )
            except DeployError as err:
                target.set_traffic(dict(before.traffic), {})
                raise refuse(str(err)) from None
    after = target.state()
    return Outcome(target.name, target.kind, target.endpoint, new, release.version, release.image, True,
                   before, after, result, time.monotonic() - started)  # fmt: skip


def rollback(target: Target) -> Outcome:
    """All traffic to the kept slot; a no-op when the live slot is already the older version."""
    started = time.monotonic()
    before = target.state()
    live, idle = before.live, before.idle
    if live is None:
        raise DeployError(f"{target.name}: nothing is deployed, nothing to roll back")
    if idle is None:
        raise DeployError(
            f"{target.name}: no previous slot kept (only {_where(before)}): nothing to roll back to"
        )
    if _newer(idle.version, live.version):
        note = f"already back from version {idle.version}"
        return Outcome(target.name, target.kind, target.endpoint, live.name, live.version, live.image,
                       False, before, before, notes=[note])  # fmt: skip
    target.set_traffic({idle.name: 100}, {})
    after = target.state()
    return Outcome(target.name, target.kind, target.endpoint, idle.name, idle.version, idle.image, True,
                   before, after, seconds=time.monotonic() - started)  # fmt: skip


def _newer(a: str, b: str) -> bool:
    if a.isdigit() and b.isdigit():
        return int(a) > int(b)
    return a > b
