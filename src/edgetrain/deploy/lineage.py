"""Record a rollout on the model registry: the live version, the kept one, the one a slot no longer holds."""

from __future__ import annotations

import contextlib

from edgetrain.deploy.rollout import Outcome
from edgetrain.errors import EdgetrainError
from edgetrain.registry import deployments
from edgetrain.registry.base import Registry


def _sync(registry: Registry, outcome: Outcome) -> None:
    after, before = outcome.after, outcome.before
    held = {slot.version: slot for slot in after.slots.values()}
    for slot in after.slots.values():
        version = registry.get(slot.version)
        deployments.record(
            registry, version, outcome.target, outcome.endpoint, slot.name, slot.image,
            after.traffic.get(slot.name, 0),
        )  # fmt: skip
    for slot in before.slots.values():
        if slot.version not in held:
            with contextlib.suppress(EdgetrainError):  # a version deleted from the registry since
                deployments.clear(registry, registry.get(slot.version), outcome.target)


def after_deploy(registry: Registry, outcome: Outcome) -> None:
    if outcome.changed:
        _sync(registry, outcome)


def after_rollback(registry: Registry, outcome: Outcome) -> None:
    _sync(registry, outcome)
