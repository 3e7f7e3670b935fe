"""Make sure the DVC remote holds the data ``data.dvc`` records, backfilling it from the raw container.

On a real Stack Hub account the remote already has it (CI ran ``dvc update`` and ``dvc push``). A fresh
stand-in on a laptop starts with an empty remote but re-lands the same deterministic drops, so the raw
container holds exactly the bytes ``data.dvc`` describes. Then ``dvc pull`` cannot find them in the
remote; this re-imports them, checks the content hash equals the committed one, keeps ``data.dvc`` as
committed (only the source etags differ on a new account), and pushes, so ``dvc pull`` works from
then on. If the raw content differs, it refuses and names both hashes.
"""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

from edgetrain.contract import layout
from edgetrain.contract.dvcfiles import data_version_of
from edgetrain.errors import DataError, StorageError

log = logging.getLogger(__name__)
DVC = (sys.executable, "-m", "dvc")
DVC_TIMEOUT_S = 3600


def _dvc(*args: str, repo: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*DVC, *args], cwd=repo, capture_output=True, text=True, timeout=DVC_TIMEOUT_S, check=False
    )


def _out_md5(text: str, path: Path) -> str:
    return data_version_of(text, str(path))[0]


def _last_error(proc: subprocess.CompletedProcess[str]) -> str:
    lines = [ln for ln in (proc.stderr + proc.stdout).splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("ERROR")]
    return (errors or lines or ["no output"])[-1]


def pull_or_backfill(repo: Path = Path(), dvcfile: str = str(layout.DATA_DVC)) -> str:
    """``dvc pull`` the tracked data; backfill the remote from the raw source first if it lacks it.

    Returns ``"pulled"`` or ``"backfilled"``.
    """
    path = repo / dvcfile
    committed = path.read_text(encoding="utf-8")
    expected = _out_md5(committed, path)
    if _dvc("pull", dvcfile, repo=repo).returncode == 0:
        return "pulled"
    log.info("remote lacks %s; re-importing it from its source", expected)
    update = _dvc("update", dvcfile, repo=repo)
    try:
        if update.returncode != 0:
            raise StorageError(f"dvc update {dvcfile} failed: {_last_error(update)}")
        found = _out_md5(path.read_text(encoding="utf-8"), path)
        if found != expected:
            raise DataError(
                f"{dvcfile}: the raw container holds different data (md5 {found}) than this commit "
                f"records (md5 {expected}); run 'dvc update {dvcfile}' and commit to train on it"
            )
    finally:
        path.write_text(committed, encoding="utf-8")
    push = _dvc("push", dvcfile, repo=repo)
    if push.returncode != 0:
        raise StorageError(f"dvc push {dvcfile} failed: {_last_error(push)}")
    pull = _dvc("pull", dvcfile, repo=repo)
    if pull.returncode != 0:
        raise StorageError(f"dvc pull {dvcfile} failed after backfill: {_last_error(pull)}")
    return "backfilled"
