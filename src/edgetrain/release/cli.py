"""``edgetrain release verify``: the release's edge-runner check (exit 12 with one line when it fails)."""

from __future__ import annotations

import argparse
from pathlib import Path

from edgetrain.contract import git


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    release = subparsers.add_parser("release", help="checks a release runs before shipping")
    sub = release.add_subparsers(dest="release_command", metavar="ACTION", required=True)
    ver = sub.add_parser(
        "verify",
        help="after `dvc repro --force --no-run-cache`: output md5s and model sha256 equal HEAD's records",
    )
    ver.add_argument("--repo", type=Path, default=Path(), help="work tree (default: current directory)")
    ver.set_defaults(handler=_verify)


def _verify(args: argparse.Namespace) -> int:
    from edgetrain.release.verify import verify

    commit = git.rev_parse(args.repo, "HEAD") or ""
    digests = verify(args.repo, commit or "HEAD")
    for path, sha in digests.items():
        print(f"{path}: sha256 {sha} reproduced, as commit {commit[:12]} records")
    print(f"commit {commit[:12]} reproduces: every output md5 in dvc.lock is equal")
    return 0
