"""On the edge runner, a job must hold no storage account key: only the broker's short-lived SAS.

The account key opens every container for every operation for as long as it is valid; the broker keeps it
root-only on the host and gives each job a SAS for what the job is (docs/storage-credentials.md). A key in
the job's environment (an old runner ``.env``, a secret, an ``env:`` block) or in a DVC config the job reads
undoes that, so ``edgetrain doctor --edge-runner`` fails on it, naming where (never the value).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path

from edgetrain.doctor.result import Context, Result

MARKER = "accountkey="
NAME = "no account key in the job"


def _dvc_configs(repo: Path, environ: Mapping[str, str]) -> list[Path]:
    paths = [repo / ".dvc" / "config", repo / ".dvc" / "config.local"]
    if environ.get("DVC_GLOBAL_CONFIG_DIR"):
        paths.append(Path(environ["DVC_GLOBAL_CONFIG_DIR"]) / "config")
    return [p for p in paths if p.is_file()]


def account_key_holders(repo: Path, environ: Mapping[str, str]) -> list[str]:
    """Where an account key is visible to this job: variable names and DVC config files."""
    found = sorted(name for name, value in environ.items() if MARKER in value.lower())
    for path in _dvc_configs(repo, environ):
        try:
            if MARKER in path.read_text(encoding="utf-8", errors="replace").lower():
                found.append(str(path))
        except OSError:
            continue
    return found


def check_no_account_key(ctx: Context) -> Iterator[Result]:
    if not ctx.edge_runner:
        return
    holders = account_key_holders(ctx.repo, os.environ)
    if holders:
        yield Result(
            NAME,
            False,
            f"a storage account key is visible to this job in {', '.join(holders)}",
            "remove AZURE_STORAGE_CONNECTION_STRING (and any AccountKey=) from the runner's .env, secrets "
            "and env blocks; jobs get a short-lived SAS from the broker (`edgetrain broker credential`)",
        )
        return
    yield Result(NAME, True, "the job's environment and DVC configs hold no account key")
