"""``edgetrain report comment``: check the edge runner's hand-off and render the pull-request comment.

Runs in the privileged job. It reads the base branch's metrics and params from git, the pull request's
params from the checkout, and everything the edge runner produced from the hand-off folder through the
fixed schema of :mod:`edgetrain.report.handoff`. It writes the comment (Markdown) and the list of
files whose content differs from the branch (``dvc.lock``, metrics and plots), which the
workflow then commits. Exit 2 with one line if the hand-off breaks the schema.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
from pathlib import Path

import yaml

from edgetrain.errors import ConfigError

#: Committed with dvc.lock: the metrics and plots it records with ``cache: false`` (git-tracked outputs).
COMMITTED_PREFIXES = ("dvc.lock", "artifacts/metrics.json", "artifacts/plots/")
_REF = re.compile(r"^[A-Za-z0-9._/-]{1,100}$")


def register(subparsers: argparse._SubParsersAction) -> None:
    report = subparsers.add_parser("report", help="pull-request report from the edge runner's hand-off")
    sub = report.add_subparsers(dest="report_command", metavar="ACTION", required=True)
    com = sub.add_parser("comment", help="check the hand-off and render the sticky comment")
    com.add_argument("--handoff", type=Path, required=True, help="folder downloaded from the edge job")
    com.add_argument("--base-ref", required=True, help="base branch (compared against origin/<base-ref>)")
    com.add_argument("--repo", type=Path, default=Path(), help="checkout of the pull request")
    com.add_argument("--out", type=Path, required=True, help="Markdown comment to write")
    com.add_argument("--changed", type=Path, required=True, help="JSON list of files to commit")
    com.set_defaults(handler=_comment)


def _git_show(repo: Path, rev: str, path: str) -> bytes | None:
    done = subprocess.run(
        ["git", "-C", str(repo), "show", f"{rev}:{path}"], capture_output=True, check=False, timeout=60
    )
    return done.stdout if done.returncode == 0 else None


def _yaml(data: bytes | None, where: str) -> dict:
    try:
        loaded = yaml.safe_load(data or b"") or {}
    except yaml.YAMLError:
        raise ConfigError(f"{where}: invalid YAML") from None
    if not isinstance(loaded, dict):
        raise ConfigError(f"{where}: top level must be a mapping")
    return loaded


def _comment(args: argparse.Namespace) -> int:
    from edgetrain.report import comment, handoff

    if not _REF.match(args.base_ref):
        raise ConfigError(f"--base-ref: {args.base_ref[:40]!r} is not a plain branch name")
    repo = args.repo
    head_params = _yaml((repo / "params.yaml").read_bytes(), "params.yaml")
    dvc_yaml = _yaml((repo / "dvc.yaml").read_bytes(), "dvc.yaml")
    got = handoff.load_handoff(args.handoff, dvc_yaml, head_params)
    base = f"origin/{args.base_ref}"
    base_metrics_raw = _git_show(repo, base, handoff.METRICS_FILE)
    try:
        base_metrics = handoff.read_metrics(json.loads(base_metrics_raw)) if base_metrics_raw else {}
    except ValueError:
        raise ConfigError(f"{base}:{handoff.METRICS_FILE}: not valid JSON") from None
    base_params = _yaml(_git_show(repo, base, "params.yaml"), f"{base}:params.yaml")
    committed = sorted(p for p in got.files if p.startswith(COMMITTED_PREFIXES))
    changed = [p for p in committed if not (repo / p).is_file() or (repo / p).read_bytes() != got.files[p]]
    text = comment.render(
        base_ref=args.base_ref,
        base_metrics=base_metrics,
        head_metrics=got.metrics,
        base_params=base_params,
        head_params=head_params,
        model_md5=got.model_md5,
        plots=got.plots,
        lock_changed=bool(changed),
    )
    args.out.write_text(text, encoding="utf-8")
    args.changed.write_text(json.dumps(changed), encoding="utf-8")
    print(f"comment: {args.out} ({len(text)} bytes); files to commit: {', '.join(changed) or 'none'}")
    return 0
