"""``edgetrain release verify``: the merged commit's recorded outputs are what its inputs reproduce.

The release's edge job pulls only the raw data (``data.dvc``), runs ``dvc repro --force --no-run-cache``
with the merged commit's (default-branch) code, and then calls this. DVC has rewritten ``dvc.lock`` in the
work tree; the merged commit's own ``dvc.lock`` and ``run.json`` are read from git. Every output md5 and the
model's sha256 must be equal; otherwise the release stops with one line naming both sha256 digests and what
differed (params, data, code or engine, from the stages' deps and params in the two ``dvc.lock`` files).

With ``release.reproduce: false`` (config/edge.yaml) the job trains nothing: it pulls the outputs the pull
request's job pushed, and :func:`verify_recorded` checks that the shipped files are the ones the commit
records (md5 in ``dvc.lock``, sha256 in ``run.json``). That binds the files to the reviewed records, not to
the reviewed code: the registered version says so (``reproduced: false``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from edgetrain.contract import dvcfiles, git, layout
from edgetrain.contract.hashing import file_md5, sha256_hex
from edgetrain.errors import EdgetrainError, IntegrityError

SHIPPED = tuple(str(entry) for entry in layout.SHIPPED)
#: run.json keys that say how (not what) the model was trained: a difference there is "engine".
ENGINE_KEYS = ("engine", "external_memory", "workers")
MAX_PATHS = 3


class ReleaseError(EdgetrainError):
    """The commit cannot be released as it is (its recorded model is not what its inputs reproduce)."""

    exit_code = 12


def _stages(lock: Mapping[str, Any]) -> Mapping[str, Any]:
    stages = lock.get("stages")
    return stages if isinstance(stages, Mapping) else {}


def _deps(lock: Mapping[str, Any]) -> dict[str, str]:
    deps: dict[str, str] = {}
    for stage in _stages(lock):
        deps.update({path: out.md5 for path, out in dvcfiles.stage_deps(lock, stage).items()})
    return deps


def _params(lock: Mapping[str, Any]) -> dict[str, Any]:
    return {name: stage.get("params") for name, stage in _stages(lock).items() if isinstance(stage, Mapping)}


def _kind(path: str) -> str | None:
    """params, data or code for a dependency path; None for an intermediate output of another stage."""
    if path.startswith(f"{layout.ARTIFACTS}/"):
        return None
    if path == "data" or path.startswith("data/"):
        return "data"
    return "code"


def differing_outs(committed: Mapping[str, Any], reproduced: Mapping[str, Any]) -> list[str]:
    """Output paths whose md5 differs (or that only one of the two ``dvc.lock`` files records)."""
    before = {p: o.md5 for p, o in dvcfiles.all_outs(committed).items()}
    after = {p: o.md5 for p, o in dvcfiles.all_outs(reproduced).items()}
    return sorted(p for p in before.keys() | after.keys() if before.get(p) != after.get(p))


def what_differed(
    committed: Mapping[str, Any],
    reproduced: Mapping[str, Any],
    committed_run: Mapping[str, Any],
    reproduced_run: Mapping[str, Any],
) -> str:
    """Which inputs differ between the recorded run and the reproduction, with the paths involved."""
    found: dict[str, list[str]] = {}
    if _params(committed) != _params(reproduced):
        found["params"] = ["params.yaml"]
    before, after = _deps(committed), _deps(reproduced)
    for path in sorted(before.keys() | after.keys()):
        kind = _kind(path)
        if kind is not None and before.get(path) != after.get(path):
            found.setdefault(kind, []).append(path)
    engine = [k for k in ENGINE_KEYS if committed_run.get(k) != reproduced_run.get(k)]
    if engine:
        found["engine"] = [f"run.json {k}" for k in engine]
    if not found:
        return "params, data, code and engine are equal: the recorded outputs are not what they produce"
    parts = []
    for kind in ("params", "data", "code", "engine"):
        if kind in found:
            paths = found[kind]
            shown = ", ".join(paths[:MAX_PATHS]) + (" ..." if len(paths) > MAX_PATHS else "")
            parts.append(f"{kind} ({shown})")
    return "differs in " + "; ".join(parts)


def _json(text: bytes | str | None, where: str) -> dict[str, Any]:
    if not text:
        return {}
    try:
        doc = json.loads(text)
    except ValueError:
        raise ReleaseError(f"{where}: not JSON") from None
    return doc if isinstance(doc, dict) else {}


def recorded_sha256(run_info: Mapping[str, Any], name: str = layout.MODEL_NAME) -> str:
    digests = run_info.get("sha256")
    found = digests.get(name) if isinstance(digests, Mapping) else None
    return str(found) if found else "none"


def compare(
    repo: Path,
    committed: Mapping[str, Any],
    reproduced: Mapping[str, Any],
    committed_run: Mapping[str, Any],
    commit: str,
) -> dict[str, str]:
    """sha256 of each shipped file when everything is equal; ReleaseError with one line otherwise."""
    produced: dict[str, str] = {}
    for rel in SHIPPED:
        path = repo / rel
        if not path.is_file():
            raise ReleaseError(f"{rel}: not produced by `dvc repro`; not releasing")
        produced[rel] = sha256_hex(path.read_bytes())
    run_path = repo / layout.RUN_INFO
    reproduced_run = _json(run_path.read_bytes() if run_path.is_file() else None, str(layout.RUN_INFO))
    outs = differing_outs(committed, reproduced)
    shas = [rel for rel in SHIPPED if recorded_sha256(committed_run, Path(rel).name) != produced[rel]]
    if outs or shas:
        model = str(layout.MODEL)
        what = what_differed(committed, reproduced, committed_run, reproduced_run)
        differ = ", ".join(sorted(set(outs) | set(shas))[:MAX_PATHS])
        raise ReleaseError(
            f"commit {commit[:12]} does not reproduce: {layout.MODEL_NAME} sha256 "
            f"{recorded_sha256(committed_run)} recorded, {produced[model]} reproduced ({differ} differ; "
            f"{what}); nothing was registered or pushed"
        )
    return produced


def _committed_records(repo: Path, commit: str) -> tuple[Mapping[str, Any], dict[str, Any]]:
    where = f"{layout.DVC_LOCK} at {commit[:12]}"
    try:
        committed = dvcfiles.parse_lock(git.show(repo, commit, str(layout.DVC_LOCK)), where)
    except IntegrityError as exc:
        raise ReleaseError(str(exc)) from None
    run_where = f"{layout.RUN_INFO} at {commit[:12]}"
    return committed, _json(git.show(repo, commit, str(layout.RUN_INFO)), run_where)


def verify_recorded(repo: Path, commit: str) -> dict[str, str]:
    """The shipped files in ``repo`` are the ones ``commit`` records (not reproduced); their sha256."""
    committed, committed_run = _committed_records(repo, commit)
    outs = dvcfiles.all_outs(committed)
    found: dict[str, str] = {}
    for rel in SHIPPED:
        path = repo / rel
        if not path.is_file():
            raise ReleaseError(
                f"{rel}: not in the work tree (`dvc pull -r pr` found no recorded output); not releasing"
            )
        recorded_md5 = outs[rel].md5 if rel in outs else "none"
        md5, sha = file_md5(path), sha256_hex(path.read_bytes())
        recorded_sha = recorded_sha256(committed_run, Path(rel).name)
        if md5 != recorded_md5 or sha != recorded_sha:
            raise ReleaseError(
                f"commit {commit[:12]}: {rel} is not the recorded output (md5 {recorded_md5} in dvc.lock, "
                f"sha256 {recorded_sha} in run.json; pulled md5 {md5}, sha256 {sha}); nothing was "
                "registered or pushed"
            )
        found[rel] = sha
    return found


def verify(repo: Path, commit: str) -> dict[str, str]:
    """Compare the reproduction in ``repo`` with what ``commit`` records; the shipped files' sha256."""
    committed, committed_run = _committed_records(repo, commit)
    try:
        reproduced = dvcfiles.read_lock(repo / layout.DVC_LOCK)
    except IntegrityError as exc:
        raise ReleaseError(str(exc)) from None
    return compare(repo, committed, reproduced, committed_run, commit)
