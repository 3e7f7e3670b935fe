"""The registry interface both backends implement, and the records they exchange."""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgetrain.registry.errors import RegistryNotFoundError

#: Tag that marks the version serving in production (``edgetrain models promote``).
STAGE_TAG = "stage"
PRODUCTION = "production"
#: Tags that identify what was registered (idempotency key).
COMMIT_TAG = "git_commit"
MODEL_MD5_TAG = "model_md5"
#: ``true``: the release trained the model again and got the same bytes; ``false``: it shipped the pull
#: request's recorded outputs (``release.reproduce: false``); absent: registered outside a release.
REPRODUCED_TAG = "reproduced"


@dataclass(frozen=True)
class ModelVersion:
    """One registered version, as either backend reports it."""

    name: str
    version: str
    tags: dict[str, str] = field(default_factory=dict)
    properties: dict[str, str] = field(default_factory=dict)
    description: str = ""
    location: str = ""
    created: str | None = None

    @property
    def stage(self) -> str | None:
        return self.tags.get(STAGE_TAG)

    @property
    def is_production(self) -> bool:
        return self.stage == PRODUCTION

    def matches(self, git_commit: str, model_md5: str) -> bool:
        """Whether this version is the registration of ``git_commit`` with that model file."""
        found = {**self.properties, **self.tags}
        return found.get(COMMIT_TAG) == git_commit and found.get(MODEL_MD5_TAG) == model_md5

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "stage": self.stage,
            "created": self.created,
            "location": self.location,
            "description": self.description,
            "tags": dict(self.tags),
            "properties": dict(self.properties),
        }


@dataclass(frozen=True)
class Candidate:
    """What ``register`` asks a backend to store: the files plus the lineage as tags/properties."""

    files: tuple[Path, ...]
    tags: Mapping[str, str]
    properties: Mapping[str, str]
    description: str

    @property
    def git_commit(self) -> str:
        return self.tags[COMMIT_TAG]

    @property
    def model_md5(self) -> str:
        return self.tags[MODEL_MD5_TAG]


def version_key(version: ModelVersion) -> tuple[int, str]:
    """Sort numerically where versions are numbers (1, 2, 10), lexically otherwise."""
    return (int(version.version), "") if version.version.isdigit() else (-1, version.version)


class Registry(abc.ABC):
    """A model registry holding numbered versions of one model name."""

    backend: str = "?"

    def __init__(self, model_name: str) -> None:
        self.model_name = model_name

    @abc.abstractmethod
    def list_versions(self) -> list[ModelVersion]:
        """All versions, oldest first."""

    @abc.abstractmethod
    def create(self, candidate: Candidate) -> tuple[ModelVersion, bool]:
        """Store a new version; if one already matches the candidate, return it and ``False``."""

    @abc.abstractmethod
    def set_tags(self, version: ModelVersion, tags: Mapping[str, str | None]) -> ModelVersion:
        """Set (or, with value ``None``, remove) tags on an existing version."""

    @abc.abstractmethod
    def fetch(self, version: ModelVersion, dest: Path) -> Path:
        """A local folder holding ``version``'s files (downloaded under ``dest`` if need be)."""

    def where(self) -> str:
        """Where the registry lives, for messages."""
        return self.backend

    def get(self, version: str) -> ModelVersion:
        for found in self.list_versions():
            if found.version == version:
                return found
        raise RegistryNotFoundError(f"model {self.model_name!r} has no version {version} in {self.where()}")

    def find(self, git_commit: str, model_md5: str) -> ModelVersion | None:
        for found in self.list_versions():
            if found.matches(git_commit, model_md5):
                return found
        return None

    def production(self) -> ModelVersion | None:
        marked = [v for v in self.list_versions() if v.is_production]
        return max(marked, key=version_key) if marked else None

    def latest(self) -> ModelVersion:
        versions = self.list_versions()
        if not versions:
            raise RegistryNotFoundError(f"model {self.model_name!r} has no versions in {self.where()}")
        return max(versions, key=version_key)

    def promote(self, version: str) -> tuple[ModelVersion, ModelVersion | None]:
        """Mark ``version`` for production; return it and the version it replaced (if any)."""
        target = self.get(version)
        previous = [v for v in self.list_versions() if v.is_production and v.version != target.version]
        promoted = target if target.is_production else self.set_tags(target, {STAGE_TAG: PRODUCTION})
        for old in previous:
            self.set_tags(old, {STAGE_TAG: None})
        return promoted, (max(previous, key=version_key) if previous else None)
