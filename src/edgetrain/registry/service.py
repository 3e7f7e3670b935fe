"""``register``: check integrity, gather lineage, apply the quality gate, store the version.

This is the only module here that reads git and the working tree; the decisions are in the pure
modules :mod:`~edgetrain.registry.integrity`, :mod:`~edgetrain.registry.lineage` and
:mod:`~edgetrain.registry.gate`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from edgetrain.config.loader import format_validation_error
from edgetrain.config.params import Params
from edgetrain.contract import git as gitcmd
from edgetrain.contract import layout
from edgetrain.contract.hashing import file_md5
from edgetrain.contract.yamlfile import parse_yaml
from edgetrain.errors import ConfigError, IntegrityError
from edgetrain.registry import gate, integrity
from edgetrain.registry.base import REPRODUCED_TAG, Candidate, ModelVersion, Registry
from edgetrain.registry.baseline import (
    check_test_split,
    committed_test_split_md5,
    folder_baseline,
    from_handoff,
    production_baseline,
    to_handoff,
)
from edgetrain.registry.fetched import read_production
from edgetrain.registry.lineage import GitInfo, Lineage, build_lineage

log = logging.getLogger(__name__)

PARAMS_PATH = str(layout.PARAMS)
DATA_DVC_PATH = str(layout.DATA_DVC)
METRICS_PATH = str(layout.METRICS)
LOCK_PATH = str(layout.DVC_LOCK)
RUN_INFO_PATH = str(layout.RUN_INFO)  # written by the train stage: engine, workers


@dataclass(frozen=True)
class Outcome:
    version: ModelVersion
    created: bool
    gate: gate.GateResult | None
    lineage: Lineage


def repo_root(path: Path) -> Path:
    root = gitcmd.rev_parse(path, "--show-toplevel")
    if root is None:
        raise ConfigError(f"{path}: not inside a git repository (register needs the commit to record)")
    return Path(root)


def resolve_commit(repo: Path, ref: str) -> GitInfo:
    commit = gitcmd.commit_of(repo, ref)
    if commit is None:
        raise ConfigError(f"{ref}: no such commit in {repo}")
    branch = gitcmd.rev_parse(repo, "--abbrev-ref", "HEAD")
    head = gitcmd.rev_parse(repo, "HEAD")
    message = gitcmd.output(repo, "log", "-1", "--format=%B", commit) or ""
    return GitInfo(commit=commit, branch=branch if head == commit else None, message=message)


#: What a ``dvc repro`` run changes that git tracks (artifacts/model and artifacts/prepared are ignored).
RUN_PATHS = tuple(str(entry) for entry in layout.RUN_PATHS)


def uncommitted(repo: Path, paths: tuple[str, ...] = RUN_PATHS) -> list[str]:
    """Files under ``paths`` that differ from HEAD or are untracked (not ignored), repo-relative."""
    return gitcmd.status(repo, *paths)


def require_committed(repo: Path, git: GitInfo) -> None:
    """Registering HEAD with the run's outputs not committed: say exactly what to commit."""
    if git.commit != gitcmd.rev_parse(repo, "HEAD"):
        return
    changed = uncommitted(repo)
    if changed:
        names = " ".join(changed)
        raise IntegrityError(
            f"uncommitted changes in {', '.join(changed)}: register ships what was committed and reviewed; "
            f"commit them first: git add {names} && git commit -m 'Train on ...'"
        )


def show(repo: Path, commit: str, path: str) -> bytes | None:
    """A file's bytes as committed, or ``None`` if the commit does not have it."""
    return gitcmd.show(repo, commit, path)


def _committed(repo: Path, commit: str, path: str) -> bytes:
    data = show(repo, commit, path)
    if data is None:
        raise ConfigError(f"{path}: not committed at {commit[:12]}")
    return data


def _params(text: bytes) -> Params:
    try:
        return Params.model_validate(parse_yaml(text, PARAMS_PATH))
    except ValidationError as err:
        raise ConfigError(format_validation_error(PARAMS_PATH, err)) from None


def _mapping(text: bytes, path: str, loader: str) -> Mapping[str, Any]:
    if loader != "json":
        return parse_yaml(text, path)
    try:
        data = json.loads(text)
    except ValueError:
        raise ConfigError(f"{path}: not valid JSON") from None
    if not isinstance(data, Mapping):
        raise ConfigError(f"{path}: top level must be a mapping")
    return data


def _run_info(repo: Path, commit: str) -> Mapping[str, Any] | None:
    """The committed ``artifacts/model/run.json`` (engine, workers); None before train wrote one."""
    text = show(repo, commit, RUN_INFO_PATH)
    return None if text is None else _mapping(text, RUN_INFO_PATH, "json")


def prepare(
    repo: Path, ref: str, env: Mapping[str, str], extra: Mapping[str, str] | None = None
) -> tuple[Candidate, Lineage, Params]:
    """Check integrity at ``ref`` and build the candidate (files + lineage)."""
    git = resolve_commit(repo, ref)
    require_committed(repo, git)
    worktree_lock_path = repo / LOCK_PATH
    worktree_lock = worktree_lock_path.read_text(encoding="utf-8") if worktree_lock_path.is_file() else None
    committed_lock_bytes = show(repo, git.commit, LOCK_PATH)
    committed_lock = committed_lock_bytes.decode("utf-8") if committed_lock_bytes is not None else None

    files = {p: repo / p for p in (integrity.MODEL_PATH, integrity.METADATA_PATH)}
    actual = {p: (file_md5(f) if f.is_file() else None) for p, f in files.items()}
    outs = integrity.check_integrity(
        commit=git.commit, committed_lock=committed_lock, worktree_lock=worktree_lock, actual=actual
    )
    model_md5 = outs[integrity.MODEL_PATH].md5

    params_text = _committed(repo, git.commit, PARAMS_PATH)
    params = _params(params_text)
    lineage = build_lineage(
        git=git,
        env=env,
        params_text=params_text,
        params=params,
        model_md5=model_md5,
        data_dvc=_mapping(_committed(repo, git.commit, DATA_DVC_PATH), DATA_DVC_PATH, "yaml"),
        metrics=_mapping(_committed(repo, git.commit, METRICS_PATH), METRICS_PATH, "json"),
        extra=extra,
        lock_bytes=committed_lock_bytes,
        run_info=_run_info(repo, git.commit),
    )
    shipped = tuple(f for p, f in files.items() if p in outs and actual[p] is not None)
    candidate = Candidate(
        files=shipped, tags=lineage.tags(), properties=lineage.properties(), description=lineage.description()
    )
    return candidate, lineage, params


def register(
    registry: Registry,
    repo: Path,
    *,
    ref: str = "HEAD",
    env: Mapping[str, str],
    tolerance: float,
    force: bool = False,
    reason: str | None = None,
    baseline_file: Path | None = None,
    reproduced: bool | None = None,
) -> Outcome:
    extra: dict[str, str] = {"forced": "true", "force_reason": reason} if force and reason else {}
    if reproduced is not None:
        extra[REPRODUCED_TAG] = str(reproduced).lower()
    candidate, lineage, params = prepare(repo, ref, env, extra)
    existing = registry.find(lineage.git_commit, lineage.model_md5)
    if existing is not None:
        log.info("commit %s is already version %s; nothing to do", lineage.git_commit[:12], existing.version)
        return Outcome(existing, False, None, lineage)
    production = registry.production()
    committed_lock = _committed(repo, lineage.git_commit, LOCK_PATH).decode("utf-8")
    if baseline_file is not None:
        baseline = from_handoff(
            baseline_file,
            commit=lineage.git_commit,
            test_split_md5=committed_test_split_md5(committed_lock, lineage.git_commit),
            production=production,
            metric=lineage.primary_metric,
        )
    elif production is not None:
        test_split = check_test_split(repo, committed_lock, lineage.git_commit)
        baseline = production_baseline(registry, production, params, test_split)
    else:
        baseline = None
    result = gate.compare(
        metric=lineage.primary_metric,
        candidate=lineage.primary_value,
        production=production,
        current=baseline.value if baseline else None,
        higher_is_better=lineage.higher_is_better,
        tolerance=tolerance,
        note=baseline.note if baseline else "",
    )
    gate.enforce(result, force=force, reason=reason)
    version, created = registry.create(candidate)
    return Outcome(version, created, result, lineage)


def score_production(
    registry: Registry | None, repo: Path, *, ref: str = "HEAD", source: Path | None = None
) -> dict[str, Any]:
    """Production scored on ``ref``'s test split, as the hand-off ``register --baseline`` takes.

    Production comes from ``registry``, or with ``source`` from a folder ``models fetch-production`` wrote
    (a job with the data and no registry access); its files must be the ones its record names.
    """
    git = resolve_commit(repo, ref)
    committed_lock = _committed(repo, git.commit, LOCK_PATH).decode("utf-8")
    split_md5 = committed_test_split_md5(committed_lock, git.commit)
    if source is not None:
        production = read_production(source)
    elif registry is not None:
        production = registry.production()
    else:
        raise ConfigError("score-production needs a registry or a folder from `models fetch-production`")
    baseline = None
    if production is not None:
        params = _params(_committed(repo, git.commit, PARAMS_PATH))
        test_split = check_test_split(repo, committed_lock, git.commit)
        if source is not None:
            baseline = folder_baseline(production, source, params, test_split)
        else:
            assert registry is not None
            baseline = production_baseline(registry, production, params, test_split)
    return to_handoff(baseline, production, commit=git.commit, test_split_md5=split_md5)
