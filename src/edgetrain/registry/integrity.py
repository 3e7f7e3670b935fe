"""The model that ships is the one that was reviewed: its md5 must be what ``dvc.lock`` records.

Pure checks over ``dvc.lock`` text (as committed and as in the working tree) and the file's md5.
DVC's md5 of a file is the md5 of its bytes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from edgetrain.registry.errors import IntegrityError

MODEL_PATH = "artifacts/model/model.ubj"
METADATA_PATH = "artifacts/model/metadata.json"
TRAIN_STAGE = "train"


@dataclass(frozen=True)
class LockedOut:
    path: str
    md5: str
    size: int | None


def file_md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def path_md5(path: Path) -> str:
    """The md5 ``dvc.lock`` records for ``path``: the file's md5, or for a directory DVC's ``<md5>.dir``
    (the md5 of the JSON list of its files' md5s and relative paths, sorted by path)."""
    if not path.is_dir():
        return file_md5(path)
    files = sorted(p for p in path.rglob("*") if p.is_file())
    listing = [{"md5": file_md5(p), "relpath": p.relative_to(path).as_posix()} for p in files]
    digest = hashlib.md5(json.dumps(listing, sort_keys=True).encode(), usedforsecurity=False)
    return f"{digest.hexdigest()}.dir"


def parse_lock(text: str, where: str) -> Mapping[str, Any]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        raise IntegrityError(f"{where}: not valid YAML") from None
    if not isinstance(data, Mapping):
        raise IntegrityError(f"{where}: not a dvc.lock mapping")
    return data


def train_outs(lock: Mapping[str, Any], where: str) -> dict[str, LockedOut]:
    """The ``train`` stage's outs by path (dvc.lock schema 2.0)."""
    stage = (lock.get("stages") or {}).get(TRAIN_STAGE)
    if not isinstance(stage, Mapping):
        raise IntegrityError(f"{where}: no '{TRAIN_STAGE}' stage (run `dvc repro` and commit dvc.lock)")
    outs: dict[str, LockedOut] = {}
    for out in stage.get("outs") or []:
        if isinstance(out, Mapping) and "path" in out and "md5" in out:
            size = out.get("size")
            outs[str(out["path"])] = LockedOut(
                str(out["path"]), str(out["md5"]), int(size) if size is not None else None
            )
    return outs


def locked_model(lock: Mapping[str, Any], where: str, model_path: str = MODEL_PATH) -> LockedOut:
    outs = train_outs(lock, where)
    if model_path not in outs:
        raise IntegrityError(f"{where}: the train stage records no md5 for {model_path}")
    return outs[model_path]


def check_integrity(
    *,
    commit: str,
    committed_lock: str | None,
    worktree_lock: str | None,
    actual: Mapping[str, str | None],
    model_path: str = MODEL_PATH,
) -> dict[str, LockedOut]:
    """Refuse unless the working tree's files match ``dvc.lock`` at ``commit``.

    ``actual`` maps each train-stage out path to the md5 of the file now on disk (``None`` if missing);
    the model file must be among them. Returns the committed train outs.
    """
    short = commit[:12]
    if committed_lock is None:
        raise IntegrityError(f"dvc.lock is not committed at {short}; nothing reviewed to register")
    if worktree_lock is None:
        raise IntegrityError("dvc.lock is missing from the working tree")
    if worktree_lock != committed_lock:
        raise IntegrityError(
            f"working-tree dvc.lock differs from dvc.lock at commit {short} "
            "(commit it, or `git checkout dvc.lock` and `dvc checkout`)"
        )
    where = f"dvc.lock@{short}"
    lock = parse_lock(committed_lock, where)
    outs = train_outs(lock, where)
    expected_model = locked_model(lock, where, model_path)
    for path, md5 in actual.items():
        locked = outs.get(path)
        if locked is None:
            continue
        if md5 is None:
            raise IntegrityError(
                f"{path} is missing (dvc.lock@{short} records md5 {locked.md5}; "
                "run `dvc pull` or `dvc repro`)"
            )
        if md5 != locked.md5:
            raise IntegrityError(
                f"{path} has md5 {md5} but dvc.lock@{short} records {locked.md5}; "
                "the model on disk is not the reviewed one"
            )
    if model_path not in actual:
        raise IntegrityError(f"{model_path} was not checked (recorded md5 {expected_model.md5})")
    return outs
