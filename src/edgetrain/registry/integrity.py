"""The model that ships is the one that was reviewed: its md5 must be what ``dvc.lock`` records.

Pure checks over ``dvc.lock`` text (as committed and as in the working tree) and the files' md5s
(:mod:`edgetrain.contract.dvcfiles` reads the lock, :mod:`edgetrain.contract.hashing` computes the md5s).
"""

from __future__ import annotations

from collections.abc import Mapping

from edgetrain.contract import layout
from edgetrain.contract.dvcfiles import LockedOut, locked_out, parse_lock, train_outs
from edgetrain.errors import IntegrityError

MODEL_PATH = str(layout.MODEL)
METADATA_PATH = str(layout.METADATA)


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
    expected_model = locked_out(lock, where, model_path)
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
