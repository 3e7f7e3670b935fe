"""The one reader of DVC's files: ``dvc.lock`` (schema 2.0) and the ``data.dvc`` import file.

A ``dvc.lock`` that is not a YAML mapping is an :class:`~edgetrain.errors.IntegrityError`; a ``data.dvc``
without ``outs[0].md5`` is a :class:`~edgetrain.errors.DataError`. Both name the file (and revision).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgetrain.contract import layout
from edgetrain.contract.yamlfile import parse_yaml, read_text
from edgetrain.errors import DataError, IntegrityError

TRAIN_STAGE = "train"
EVALUATE_STAGE = "evaluate"


@dataclass(frozen=True)
class LockedOut:
    """One output (or dependency) as ``dvc.lock`` records it."""

    path: str
    md5: str
    size: int | None


def parse_lock(text: bytes | str | None, where: str = str(layout.DVC_LOCK)) -> Mapping[str, Any]:
    """``dvc.lock`` text as a mapping; IntegrityError naming ``where`` when it is not one."""
    if not text:
        raise IntegrityError(f"{where}: empty or missing")
    return parse_yaml(text, where, error=IntegrityError)


def read_lock(path: Path) -> Mapping[str, Any]:
    """The ``dvc.lock`` at ``path``; IntegrityError naming it when missing or not a mapping."""
    return parse_lock(read_text(path, error=IntegrityError), str(path))


def _stage(lock: Mapping[str, Any], stage: str) -> Mapping[str, Any] | None:
    stages = lock.get("stages")
    found = stages.get(stage) if isinstance(stages, Mapping) else None
    return found if isinstance(found, Mapping) else None


def _entries(items: Any) -> dict[str, LockedOut]:
    entries: dict[str, LockedOut] = {}
    for item in items if isinstance(items, list) else []:
        if isinstance(item, Mapping) and "path" in item and "md5" in item:
            size = item.get("size")
            entries[str(item["path"])] = LockedOut(
                str(item["path"]), str(item["md5"]), int(size) if size is not None else None
            )
    return entries


def stage_outs(lock: Mapping[str, Any], stage: str, where: str) -> dict[str, LockedOut]:
    """A stage's outs by path; IntegrityError naming ``where`` if the stage is not recorded."""
    found = _stage(lock, stage)
    if found is None:
        raise IntegrityError(f"{where}: no '{stage}' stage (run `dvc repro` and commit dvc.lock)")
    return _entries(found.get("outs"))


def stage_deps(lock: Mapping[str, Any], stage: str) -> dict[str, LockedOut]:
    """A stage's deps by path (empty if the stage is not recorded)."""
    found = _stage(lock, stage)
    return _entries(found.get("deps")) if found is not None else {}


def train_outs(lock: Mapping[str, Any], where: str) -> dict[str, LockedOut]:
    """The ``train`` stage's outs by path."""
    return stage_outs(lock, TRAIN_STAGE, where)


def locked_out(lock: Mapping[str, Any], where: str, path: str, stage: str = TRAIN_STAGE) -> LockedOut:
    """What ``stage`` records for out ``path``; IntegrityError if it records none."""
    outs = stage_outs(lock, stage, where)
    if path not in outs:
        raise IntegrityError(f"{where}: the {stage} stage records no md5 for {path}")
    return outs[path]


def all_outs(lock: Mapping[str, Any]) -> dict[str, LockedOut]:
    """Every stage's outs by path."""
    stages = lock.get("stages")
    outs: dict[str, LockedOut] = {}
    for stage in stages.values() if isinstance(stages, Mapping) else []:
        if isinstance(stage, Mapping):
            outs.update(_entries(stage.get("outs")))
    return outs


def data_version(doc: Any, where: str = str(layout.DATA_DVC)) -> tuple[str, str | None]:
    """``(md5, source)`` from a parsed DVC import file: ``outs[0].md5`` and ``deps[0].path``.

    An import from another git repository (``deps[0].repo.url``) gives ``<url>:<path>`` as the source.
    Anything that is not a DVC file with ``outs[0].md5`` is a DataError naming ``where``.
    """
    try:
        md5 = str(doc["outs"][0]["md5"])
    except (KeyError, IndexError, TypeError):
        raise DataError(f"{where}: not a DVC file with outs[0].md5") from None
    deps = doc.get("deps") or [{}]
    dep = deps[0] if isinstance(deps, list) and isinstance(deps[0], Mapping) else {}
    source = dep.get("path")
    repo = dep.get("repo")
    if source is not None and isinstance(repo, Mapping) and repo.get("url"):
        source = f"{repo['url']}:{source}"
    return md5, None if source is None else str(source)


def parse_data_dvc(text: bytes | str | None, where: str) -> Mapping[str, Any]:
    """A DVC import file's text as a mapping; DataError naming ``where`` when it is not one."""
    try:
        return parse_yaml(text, where, error=DataError)
    except DataError:
        raise DataError(f"{where}: not a DVC file with outs[0].md5") from None


def data_version_of(text: bytes | str | None, where: str) -> tuple[str, str | None]:
    """:func:`data_version` of a DVC import file's text."""
    return data_version(parse_data_dvc(text, where), where)


def read_data_version(path: Path | str) -> dict[str, str | None] | None:
    """``{"md5", "source"}`` from a ``data.dvc`` import file, or ``None`` when there is no such file."""
    path = Path(path)
    if not path.is_file():
        return None
    md5, source = data_version_of(read_text(path, error=DataError), str(path))
    return {"md5": md5, "source": source}
