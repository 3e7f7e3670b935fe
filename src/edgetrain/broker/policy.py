"""The broker's policy (``deploy/edge-runner/broker-policy.yaml``): which job gets which container rights.

A rule matches a verified OIDC token by its claims: ``event_name`` one of the rule's events, ``ref`` matching
the rule's ref pattern, ``job_workflow_ref`` exactly ``<repository>/<workflow>@<ref>`` (so the workflow
*file* is the one named), plus the policy-wide ``repository`` and ``environment``. The first rule that
matches grants its containers; no rule: nothing. Loading is strict (unknown keys, bad permission letters,
a container named twice are errors naming the key).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from edgetrain.broker.sas import PERMISSION_ORDER, normalise_permissions
from edgetrain.contract.yamlfile import read_yaml
from edgetrain.errors import ConfigError

DEFAULT_POLICY = Path("deploy") / "edge-runner" / "broker-policy.yaml"
GITHUB_ISSUER = "https://token.actions.githubusercontent.com"
_REPO = r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$"
_CONTAINER = r"^[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){2,62}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Rule(_Strict):
    """One kind of job and the containers it may use."""

    name: Annotated[str, Field(pattern=r"^[a-z0-9-]+$")]
    #: The workflow file, relative to the repository root: ``.github/workflows/pr-train.yml``.
    workflow: Annotated[str, Field(pattern=r"^\.github/workflows/[A-Za-z0-9_.-]+\.ya?ml$")]
    #: Events that may start it (the ``event_name`` claim).
    events: Annotated[list[str], Field(min_length=1)]
    #: ``ref`` claim pattern (``*`` is one path segment): ``refs/heads/main``, ``refs/pull/*/merge``.
    ref: Annotated[str, Field(pattern=r"^refs/")]
    #: container -> SAS permission letters (subset of ``racwdl``).
    grants: Annotated[dict[str, str], Field(min_length=1)]

    @field_validator("grants")
    @classmethod
    def _grants(cls, value: dict[str, str]) -> dict[str, str]:
        out = {}
        for container, letters in value.items():
            if not re.match(_CONTAINER, container):
                raise ValueError(f"{container!r} is not a storage container name")
            out[container] = normalise_permissions(letters)
        return out

    def ref_matches(self, ref: str) -> bool:
        pattern = re.escape(self.ref).replace(r"\*", "[^/]+")
        return re.fullmatch(pattern, ref) is not None


class Policy(_Strict):
    """The whole file."""

    #: The repository whose jobs may ask (``owner/name``; the ``repository`` claim).
    repository: Annotated[str, Field(pattern=_REPO)]
    #: The environment every job must name (``environment:`` in the workflow; reviewers gate it).
    environment: Annotated[str, Field(min_length=1)]
    issuer: str = GITHUB_ISSUER
    #: Where the issuer publishes its signing keys (GitHub: ``<issuer>/.well-known/jwks``).
    jwks_url: str = f"{GITHUB_ISSUER}/.well-known/jwks"
    #: The ``aud`` the job asks GitHub for (``edgetrain broker credential`` uses this value).
    audience: Annotated[str, Field(min_length=1)]
    #: How long a SAS lives (a job needing longer asks again).
    sas_minutes: Annotated[int, Field(ge=5, le=720)] = 180
    rules: Annotated[list[Rule], Field(min_length=1)]

    @field_validator("rules")
    @classmethod
    def _unique(cls, value: list[Rule]) -> list[Rule]:
        names = [r.name for r in value]
        if len(set(names)) != len(names):
            raise ValueError("rule names must be unique")
        return value


def load_policy(path: Path) -> Policy:
    """The policy at ``path``, or :class:`ConfigError` naming the file and key."""
    data = read_yaml(path)  # one line naming the file: unreadable, not YAML, not a mapping
    try:
        return Policy.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top)"
        raise ConfigError(f"{path}: {where}: {first['msg']}") from None


__all__ = ["DEFAULT_POLICY", "PERMISSION_ORDER", "Policy", "Rule", "load_policy"]
