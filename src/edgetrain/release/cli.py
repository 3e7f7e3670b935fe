"""``edgetrain release verify``: the release's edge-runner check (exit 12 with one line when it fails)."""

from __future__ import annotations

import argparse
from pathlib import Path

from edgetrain.contract import git


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    release = subparsers.add_parser("release", help="checks a release runs before shipping")
    sub = release.add_subparsers(dest="release_command", metavar="ACTION", required=True)
    ver = sub.add_parser(
        "verify", help="dvc status clean for this commit and the pulled model's md5 equals dvc.lock"
    )
    ver.add_argument("--repo", type=Path, default=Path(), help="work tree (default: current directory)")
    ver.set_defaults(handler=_verify)


def _verify(args: argparse.Namespace) -> int:
    from edgetrain.release.verify import verify

    commit = git.rev_parse(args.repo, "HEAD") or ""
    md5s = verify(args.repo, commit or "HEAD")
    for path, md5 in md5s.items():
        print(f"{path}: md5 {md5} matches dvc.lock")
    print(f"dvc.lock describes commit {commit[:12]}: nothing to retrain")
    return 0
