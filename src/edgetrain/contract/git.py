"""The git reads every area needs: ``show``, ``rev-parse``, ``status``, run in a given checkout.

Each call is bounded by :data:`TIMEOUT_S`, reads no stdin, and reports failure as ``None`` (or an
:class:`~edgetrain.errors.ConfigError` where the caller cannot go on without the answer).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from edgetrain.errors import ConfigError

TIMEOUT_S = 60


def run(repo: Path, *args: str) -> subprocess.CompletedProcess[bytes] | None:
    """``git -C repo args``; ``None`` when git cannot be started or times out."""
    try:
        return subprocess.run(
            ["git", "-C", str(repo), *args],
            capture_output=True,
            check=False,
            timeout=TIMEOUT_S,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None


def output(repo: Path, *args: str) -> str | None:
    """``git args``' stripped stdout, or ``None`` when git fails or prints nothing."""
    done = run(repo, *args)
    if done is None or done.returncode != 0:
        return None
    text = done.stdout.decode("utf-8", errors="replace").strip()
    return text or None


def show(repo: Path, rev: str, path: str) -> bytes | None:
    """A file's bytes at ``rev`` (``path`` relative to the repository root, or ``./``-relative to
    ``repo``), or ``None`` if the revision does not have it."""
    done = run(repo, "show", f"{rev}:{path}")
    return done.stdout if done is not None and done.returncode == 0 else None


def rev_parse(repo: Path, *args: str) -> str | None:
    """``git rev-parse args``: stripped stdout, or ``None`` on failure."""
    return output(repo, "rev-parse", *args)


def commit_of(repo: Path, ref: str) -> str | None:
    """The full commit id ``ref`` names, or ``None`` if it names no commit."""
    return rev_parse(repo, "--verify", "--quiet", f"{ref}^{{commit}}")


def toplevel(path: Path) -> Path:
    """The root of the git checkout containing ``path``; ConfigError outside one."""
    root = rev_parse(path, "--show-toplevel")
    if root is None:
        raise ConfigError(f"{path}: not inside a git repository")
    return Path(root)


def status(repo: Path, *paths: str, untracked: str = "all") -> list[str]:
    """Paths that differ from HEAD (or are untracked, per ``untracked``: all|normal|no), repo-relative
    and sorted; restricted to ``paths`` when given."""
    done = run(repo, "status", "--porcelain", f"--untracked-files={untracked}", "--", *paths)
    if done is None or done.returncode != 0:
        raise ConfigError(f"{repo}: git status failed")
    lines = done.stdout.decode("utf-8", errors="replace").splitlines()
    return sorted({line[3:].split(" -> ")[-1].strip('"') for line in lines if line})
