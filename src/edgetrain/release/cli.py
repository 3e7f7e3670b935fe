"""``edgetrain release {mode,verify}``: the release's edge-runner checks (exit 12, one line, on failure)."""

from __future__ import annotations

import argparse
from pathlib import Path

from edgetrain.contract import git, layout


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    release = subparsers.add_parser("release", help="checks a release runs before shipping")
    sub = release.add_subparsers(dest="release_command", metavar="ACTION", required=True)
    ver = sub.add_parser(
        "verify",
        help="after `dvc repro --force --no-run-cache`: output md5s and model sha256 equal HEAD's records",
    )
    ver.add_argument("--repo", type=Path, default=Path(), help="work tree (default: current directory)")
    ver.add_argument(
        "--recorded",
        action="store_true",
        help="release.reproduce: false: the pulled model is the one HEAD records (md5, sha256)",
    )
    ver.set_defaults(handler=_verify)
    mode = sub.add_parser(
        "mode", help="print `reproduce` or `recorded` (config/edge.yaml release.reproduce), for release.yml"
    )
    mode.add_argument("--config", type=Path, default=Path(layout.EDGE_CONFIG), help="edge config file")
    mode.set_defaults(handler=_mode)


def _mode(args: argparse.Namespace) -> int:
    from edgetrain.config.edge import load_edge_config

    print("reproduce" if load_edge_config(args.config).release.reproduce else "recorded")
    return 0


def _verify(args: argparse.Namespace) -> int:
    from edgetrain.release.verify import verify, verify_recorded

    commit = git.rev_parse(args.repo, "HEAD") or ""
    if args.recorded:
        for path, sha in verify_recorded(args.repo, commit or "HEAD").items():
            print(f"{path}: sha256 {sha} as commit {commit[:12]} records (pulled, not reproduced)")
        return 0
    digests = verify(args.repo, commit or "HEAD")
    for path, sha in digests.items():
        print(f"{path}: sha256 {sha} reproduced, as commit {commit[:12]} records")
    print(f"commit {commit[:12]} reproduces: every output md5 in dvc.lock is equal")
    return 0
