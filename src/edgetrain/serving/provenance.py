"""Where an image comes from: the repository's web URL, the commit (``-dirty`` when the tree is), its time.

The source label must be a URL someone can open (``https://github.com/<owner>/<repo>``), never a path on
the machine that packaged: in GitHub Actions it comes from ``GITHUB_SERVER_URL`` + ``GITHUB_REPOSITORY``,
elsewhere from the ``origin`` remote rewritten to https (credentials dropped). A clone whose origin is a
local path has no public source: the label is left out unless ``--source-url`` names one.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from edgetrain.contract import git as gitcmd
from edgetrain.errors import EdgetrainError

#: ``user@host:owner/repo`` (scp-like ssh syntax).
_SCP_LIKE = re.compile(r"^(?:[A-Za-z0-9._-]+@)?(?P<host>[A-Za-z0-9.-]+\.[A-Za-z]{2,}):(?P<path>[^/].*)$")
_REPO_PATH = re.compile(r"^[A-Za-z0-9._-]+(?:/[A-Za-z0-9._-]+)+$")
_OWNER_REPO = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
_WEB_SCHEMES = ("https", "http", "ssh", "git", "git+ssh", "ssh+git")


@dataclass(frozen=True)
class Provenance:
    source: str | None
    #: ``None`` outside a git checkout (then the image cannot be tagged by commit).
    commit: str | None
    dirty: bool
    #: Commit time (seconds since the epoch): the image's timestamps, so a rebuild is byte-identical.
    epoch: int

    @property
    def revision(self) -> str:
        if self.commit is None:
            return "unknown"
        return f"{self.commit}-dirty" if self.dirty else self.commit


def git(root: Path, *args: str) -> str | None:
    """``git args`` in ``root``: stripped stdout, or ``None`` when git fails or prints nothing."""
    return gitcmd.output(root, *args)


def web_url(remote: str | None) -> str | None:
    """The https URL of a git remote, or ``None`` when it is a local path or not a URL at all."""
    if not remote:
        return None
    remote = remote.strip()
    if match := _SCP_LIKE.match(remote):
        host, path = match["host"], match["path"]
    else:
        parts = urlsplit(remote)
        if parts.scheme not in _WEB_SCHEMES or not parts.hostname or "." not in parts.hostname:
            return None
        host, path = parts.hostname, parts.path.lstrip("/")
        if parts.port and parts.scheme in {"https", "http"}:
            host = f"{host}:{parts.port}"
    path = path.removesuffix("/").removesuffix(".git")
    if not _REPO_PATH.match(path):
        return None
    return f"https://{host.lower()}/{path}"


def source_url(root: Path, env: Mapping[str, str] | None = None, explicit: str | None = None) -> str | None:
    """The repository URL for the source label (see the module docstring for the order)."""
    env = os.environ if env is None else env
    if explicit is not None:
        url = web_url(explicit)
        if url is None:
            raise EdgetrainError(f"--source-url: {explicit!r} is not an https repository URL")
        return url
    server, repository = env.get("GITHUB_SERVER_URL"), env.get("GITHUB_REPOSITORY")
    if server and repository:
        url = web_url(f"{server.rstrip('/')}/{repository}") if _OWNER_REPO.match(repository) else None
        if url is None:
            raise EdgetrainError(
                f"GITHUB_SERVER_URL/GITHUB_REPOSITORY: {server!r} + {repository!r} is not a repository URL"
            )
        return url
    return web_url(git(root, "remote", "get-url", "origin"))


def provenance(
    root: Path, env: Mapping[str, str] | None = None, explicit_source: str | None = None
) -> Provenance:
    """Source, commit, dirtiness and commit time of the checkout at ``root``."""
    commit = git(root, "rev-parse", "--verify", "HEAD")
    if commit is None:
        return Provenance(source_url(root, env, explicit_source), None, False, 0)
    epoch = int(git(root, "show", "-s", "--format=%ct", commit) or 0)
    return Provenance(source_url(root, env, explicit_source), commit, bool(changed_files(root)), epoch)


def changed_files(root: Path) -> list[str]:
    """Tracked files that differ from HEAD (artifacts are git-ignored DVC outputs; untracked scratch does
    not reach the image)."""
    return gitcmd.status(root, untracked="no")
