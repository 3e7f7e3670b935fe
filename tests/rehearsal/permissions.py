"""What a workflow job's ``GITHUB_TOKEN`` may do, as GitHub decides it, for the GitHub API stand-in.

GitHub mints one token per job, scoped to the job's ``permissions:`` (a job's own block replaces the
workflow's; ``{}`` grants nothing; a workflow without any block gets the repository default, modelled here as
GitHub's "restricted" default: ``contents: read`` and ``packages: read``). A ``pull_request`` run from a fork
gets a read-only token whatever the file says. Every REST route the stand-in serves needs one of a few
scopes (:data:`ROUTES`, from GitHub's "permissions required for GitHub Apps / fine-grained tokens" tables);
the stand-in refuses a request whose job lacks them with ``403`` JSON, as GitHub does ("Resource not
accessible by integration"). The repository is treated as private: reading contents needs ``contents: read``.

``id-token`` (the OIDC route) and ``attestations`` are scopes of routes this module does not serve: the OIDC
handler and the attestation stand-in enforce them (:data:`SERVED_ELSEWHERE`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

LEVELS = {"none": 0, "read": 1, "write": 2}
SCOPES = frozenset(
    {
        "actions",
        "attestations",
        "checks",
        "contents",
        "deployments",
        "discussions",
        "id-token",
        "issues",
        "models",
        "packages",
        "pages",
        "pull-requests",
        "repository-projects",
        "security-events",
        "statuses",
    }
)
#: Scopes whose routes are not GitHub REST routes of this stand-in.
SERVED_ELSEWHERE = frozenset({"id-token", "attestations"})
RESTRICTED_DEFAULT = {"contents": "read", "packages": "read"}

_COMMENTS_READ = (("issues", "read"), ("pull-requests", "read"))
_COMMENTS_WRITE = (("issues", "write"), ("pull-requests", "write"))
#: (method, path under /repos/{owner}/{repo}) -> the scopes any one of which allows it.
ROUTES: tuple[tuple[str, str, tuple[tuple[str, str], ...]], ...] = (
    ("GET", r"/issues/\d+/comments", _COMMENTS_READ),
    ("POST", r"/issues/\d+/comments", _COMMENTS_WRITE),
    ("GET", r"/issues/comments/\d+", _COMMENTS_READ),
    ("PATCH", r"/issues/comments/\d+", _COMMENTS_WRITE),
    ("GET", r"/contents/.+", (("contents", "read"),)),
    ("PUT", r"/contents/.+", (("contents", "write"),)),
    ("GET", r"/statuses/[0-9a-f]{40}", (("statuses", "read"),)),
    ("POST", r"/statuses/[0-9a-f]{40}", (("statuses", "write"),)),
    ("GET", r"/pulls", (("pull-requests", "read"),)),
    ("POST", r"/pulls", (("pull-requests", "write"),)),
    ("GET", r"/git/ref/heads/.+", (("contents", "read"),)),
    ("PATCH", r"/git/refs/heads/.+", (("contents", "write"),)),
    ("GET", r"/git/commits/[0-9a-f]{40}", (("contents", "read"),)),
    ("POST", r"/git/commits", (("contents", "write"),)),
    ("POST", r"/git/trees", (("contents", "write"),)),
    ("POST", r"/git/blobs", (("contents", "write"),)),
    ("GET", r"/actions/runs/\d+/artifacts", (("actions", "read"),)),
    ("GET", r"/actions/artifacts/\d+/zip", (("actions", "read"),)),
)


class WorkflowPermissionsError(ValueError):
    """A ``permissions:`` block GitHub would reject."""


def load_workflow(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text())
    if not isinstance(data, dict) or not isinstance(data.get("jobs"), dict):
        raise WorkflowPermissionsError(f"{path}: not a workflow (no jobs)")
    if True in data:  # PyYAML reads the key `on` as True
        data["on"] = data.pop(True)
    return data


def _block(value: Any, where: str) -> dict[str, str]:
    if value == "read-all":
        return dict.fromkeys(SCOPES - {"id-token"}, "read")
    if value == "write-all":
        return dict.fromkeys(SCOPES, "write")
    if not isinstance(value, dict):
        raise WorkflowPermissionsError(f"{where}: permissions must be a mapping, read-all or write-all")
    out: dict[str, str] = {}
    for scope, level in value.items():
        if scope not in SCOPES or level not in LEVELS:
            raise WorkflowPermissionsError(
                f"{where}: permissions: {scope}: {level!r} is not a scope and level"
            )
        out[scope] = level
    return out


def job_permissions(workflow: dict[str, Any], job: str, *, fork: bool = False) -> dict[str, str]:
    """The scopes ``job``'s token holds (job block, else workflow block, else the restricted default)."""
    jobs = workflow["jobs"]
    if job not in jobs:
        raise WorkflowPermissionsError(f"no job {job!r} in the workflow")
    if "permissions" in jobs[job]:
        perms = _block(jobs[job]["permissions"], f"jobs.{job}")
    elif "permissions" in workflow:
        perms = _block(workflow["permissions"], "workflow")
    else:
        perms = dict(RESTRICTED_DEFAULT)
    if fork:  # a fork's pull_request token is read-only (id-token is not granted at all)
        perms = {s: "read" for s, lvl in perms.items() if lvl != "none" and s != "id-token"}
    return {s: lvl for s, lvl in perms.items() if lvl != "none"}


def required(method: str, rest: str) -> tuple[tuple[str, str], ...] | None:
    """The scopes any one of which allows ``method rest``; None for a route the table does not know."""
    for verb, pattern, scopes in ROUTES:
        if verb == method and re.fullmatch(pattern, rest):
            return scopes
    return None


def refusal(perms: dict[str, str], method: str, rest: str) -> str | None:
    """Why a token holding ``perms`` may not call ``method rest`` (None: it may)."""
    scopes = required(method, rest)
    if scopes is None:
        return f"no permission is known for {method} {rest}: refused"
    for scope, level in scopes:
        if LEVELS[perms.get(scope, "none")] >= LEVELS[level]:
            return None
    wanted = " or ".join(f"{scope}: {level}" for scope, level in scopes)
    return f"Resource not accessible by integration ({method} {rest} needs {wanted})"


def unused_permissions(path: Path, calls: list[Any]) -> dict[str, list[str]]:
    """Per job of the workflow at ``path``: declared scopes no recorded, allowed call of that job needed.

    ``calls`` are the stand-in's :class:`~tests.rehearsal.github_api.Call` records. Two scopes are judged by
    the job's steps instead, as the rehearsal cannot observe them: ``contents: read`` where the job runs
    ``actions/checkout`` (act's checkout copies the work tree; on GitHub it fetches with the token),
    ``contents`` where ``create-pull-request`` pushes a branch (over git, which the rehearsal maps to a local
    bare repository), and the
    scopes in :data:`SERVED_ELSEWHERE` where a step uses ``azure/login``, an attestation action or the
    storage broker's credential step (the OIDC handler enforces ``id-token`` itself).
    """
    flow = load_workflow(path)
    name = str(flow.get("name") or path.name)
    prefix = re.compile(r"^/repos/[^/]+/[^/]+")
    out: dict[str, list[str]] = {}
    for job, spec in flow["jobs"].items():
        uses = " ".join(str(step.get("uses", "")) for step in spec.get("steps", []))
        runs = " ".join(str(step.get("run", "")) for step in spec.get("steps", []))
        mine = [c for c in calls if c.workflow == name and c.job == job and c.status < 400]
        perms = job_permissions(flow, job)
        for scope, level in perms.items():
            if scope == "contents" and level == "read" and "actions/checkout@" in uses:
                continue
            if scope == "contents" and "create-pull-request@" in uses:  # it pushes the branch with git
                continue
            oidc = any(a in uses for a in ("azure/login@", "attest-build-provenance@"))
            if scope == "id-token" and (oidc or "edgetrain broker credential" in runs):
                continue
            if scope == "attestations" and "attest-build-provenance@" in uses:
                continue
            reduced = {s: lvl for s, lvl in perms.items() if s != scope}
            needed = any(
                refusal(perms, c.method, prefix.sub("", c.path)) is None
                and refusal(reduced, c.method, prefix.sub("", c.path)) is not None
                for c in mine
            )
            if not needed:
                out.setdefault(job, []).append(f"{scope}: {level}")
    return out
