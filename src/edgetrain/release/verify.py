"""``edgetrain release verify``: ``dvc status`` is clean and the pulled model matches ``dvc.lock``.

A merge never retrains: if ``dvc.lock`` on the pushed commit does not describe its code, params and data,
the reviewed result was not committed, and the release stops with one line saying so and what to do.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from edgetrain.contract import dvcfiles, layout
from edgetrain.contract.hashing import file_md5
from edgetrain.errors import EdgetrainError, IntegrityError

SHIPPED = tuple(str(entry) for entry in layout.SHIPPED)
DVC_TIMEOUT_S = 1800
MAX_REASONS = 3


class ReleaseError(EdgetrainError):
    """The commit cannot be released as it is (stale dvc.lock, model differs from dvc.lock)."""

    exit_code = 12


def describe_status(status: Mapping[str, Any]) -> list[str]:
    """Short reasons from ``dvc status --json`` (``{stage: [change, ...]}``); empty when clean."""
    reasons = []
    for stage, changes in status.items():
        for change in changes or []:
            if isinstance(change, str):
                reasons.append(f"{stage}: {change}")
                continue
            for kind, paths in change.items():
                for path, what in (paths or {}).items():
                    detail = what if isinstance(what, str) else ", ".join(
                        f"{k} {', '.join(map(str, v)) if isinstance(v, list) else v}" for k, v in what.items()
                    )  # fmt: skip
                    reasons.append(f"{stage}: {kind} {path} ({detail})")
    return reasons


def recorded_md5s(lock: Mapping[str, Any]) -> dict[str, str]:
    return {path: out.md5 for path, out in dvcfiles.all_outs(lock).items()}


def check_md5s(repo: Path, lock: Mapping[str, Any]) -> dict[str, str]:
    """The md5 of each shipped file; refuses if one is missing or differs from ``dvc.lock``."""
    recorded = recorded_md5s(lock)
    found = {}
    for rel in SHIPPED:
        if rel not in recorded:
            raise ReleaseError(f"dvc.lock: {rel}: not recorded (is the train stage in dvc.yaml?)")
        path = repo / rel
        if not path.is_file():
            raise ReleaseError(
                f"{rel}: not pulled; `dvc pull` could not fetch the reviewed model from the remote"
            )
        found[rel] = file_md5(path)
        if found[rel] != recorded[rel]:
            raise ReleaseError(
                f"{rel}: md5 {found[rel]} differs from dvc.lock's {recorded[rel]}; not releasing"
            )
    return found


def dvc_status(repo: Path) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "dvc", "status", "--json"],
        cwd=repo,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=DVC_TIMEOUT_S,
        check=False,
    )
    if done.returncode != 0:
        lines = [ln for ln in (done.stderr + done.stdout).splitlines() if ln.strip()]
        raise ReleaseError(f"dvc status failed: {lines[-1] if lines else done.returncode}")
    text = done.stdout.strip()
    try:
        return json.loads(text[text.index("{") :]) if "{" in text else {}
    except ValueError:
        raise ReleaseError(f"dvc status: unreadable output: {text[:200]}") from None


def verify(repo: Path, commit: str) -> dict[str, str]:
    reasons = describe_status(dvc_status(repo))
    if reasons:
        shown = "; ".join(reasons[:MAX_REASONS]) + (" ..." if len(reasons) > MAX_REASONS else "")
        raise ReleaseError(
            "the reviewed result was not committed: dvc.lock does not describe commit "
            f"{commit[:12]} ({shown}); "
            "nothing was retrained or released. Open a pull request with this change so pr-train trains it "
            "and commits dvc.lock, then merge that"
        )
    try:
        lock = dvcfiles.read_lock(repo / layout.DVC_LOCK)
    except IntegrityError as exc:
        raise ReleaseError(str(exc)) from None
    return check_md5s(repo, lock)
