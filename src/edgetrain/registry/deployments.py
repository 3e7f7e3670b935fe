"""Deployment lineage on a registry version: where it serves (target, endpoint, slot, digest, traffic, time).

One tag per target, ``deployed_<target>``, whose value is ``key=value`` pairs separated by spaces (tags are
strings in both backends). ``edgetrain deploy`` writes it when traffic moves; ``edgetrain models show``
prints it under "deployed".
"""

from __future__ import annotations

from datetime import UTC, datetime

from edgetrain.registry.base import ModelVersion, Registry

TAG_PREFIX = "deployed_"
FIELDS = ("endpoint", "slot", "image", "traffic", "at")


def tag_name(target: str) -> str:
    return f"{TAG_PREFIX}{target}"


def tag_value(endpoint: str, slot: str, image: str, traffic: int, at: datetime | None = None) -> str:
    when = (at or datetime.now(UTC)).isoformat(timespec="seconds")
    return f"endpoint={endpoint} slot={slot} image={image} traffic={traffic} at={when}"


def record(  # noqa: PLR0917 - the fields of one lineage record, named at every call
    registry: Registry, version: ModelVersion, target: str, endpoint: str, slot: str, image: str, traffic: int
) -> ModelVersion:
    return registry.set_tags(version, {tag_name(target): tag_value(endpoint, slot, image, traffic)})


def clear(registry: Registry, version: ModelVersion, target: str) -> ModelVersion:
    if tag_name(target) not in version.tags:
        return version
    return registry.set_tags(version, {tag_name(target): None})


def deployments(version: ModelVersion) -> dict[str, dict[str, str]]:
    """``{target: {endpoint, slot, image, traffic, at}}`` from the version's tags."""
    found: dict[str, dict[str, str]] = {}
    for key, value in version.tags.items():
        if key.startswith(TAG_PREFIX):
            pairs = (item.partition("=") for item in value.split())
            found[key.removeprefix(TAG_PREFIX)] = {k: v for k, _, v in pairs}
    return found


def show_lines(version: ModelVersion) -> list[str]:
    """Lines for ``models show``: one per target."""
    return [
        f"    {target}: {d.get('endpoint', '?')} slot {d.get('slot', '?')}, "
        f"traffic {d.get('traffic', '?')}%, "
        f"{d.get('image', '?')}, since {d.get('at', '?')}"
        for target, d in sorted(deployments(version).items())
    ]
