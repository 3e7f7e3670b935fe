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
from pathlib import Path

from edgetrain.contract import git, layout
from edgetrain.contract.yamlfile import parse_yaml, read_yaml
from edgetrain.errors import ConfigError

#: Committed with dvc.lock: the metrics and plots it records with ``cache: false`` (git-tracked outputs).
COMMITTED_PREFIXES = (str(layout.DVC_LOCK), str(layout.METRICS), layout.PLOTS.child(""))
_REF = re.compile(r"^[A-Za-z0-9._/-]{1,100}$")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    report = subparsers.add_parser("report", help="pull-request report from the edge runner's hand-off")
    sub = report.add_subparsers(dest="report_command", metavar="ACTION", required=True)
    com = sub.add_parser("comment", help="check the hand-off and render the sticky comment")
    com.add_argument("--handoff", type=Path, required=True, help="folder downloaded from the edge job")
    com.add_argument("--base-ref", required=True, help="base branch (compared against origin/<base-ref>)")
    com.add_argument("--repo", type=Path, default=Path(), help="checkout of the pull request")
    com.add_argument("--out", type=Path, required=True, help="Markdown comment to write")
    com.add_argument("--changed", type=Path, required=True, help="JSON list of files to commit")
    com.set_defaults(handler=_comment)


def _comment(args: argparse.Namespace) -> int:
    from edgetrain.report import comment, handoff

    if not _REF.match(args.base_ref):
        raise ConfigError(f"--base-ref: {args.base_ref[:40]!r} is not a plain branch name")
    repo = args.repo
    head_params = read_yaml(repo / layout.PARAMS)
    dvc_yaml = read_yaml(repo / layout.DVC_YAML)
    got = handoff.load_handoff(args.handoff, dvc_yaml, head_params)
    base = f"origin/{args.base_ref}"
    base_metrics_raw = git.show(repo, base, handoff.METRICS_FILE)
    try:
        base_metrics = handoff.read_metrics(json.loads(base_metrics_raw)) if base_metrics_raw else {}
    except ValueError:
        raise ConfigError(f"{base}:{handoff.METRICS_FILE}: not valid JSON") from None
    base_params = parse_yaml(git.show(repo, base, str(layout.PARAMS)), f"{base}:{layout.PARAMS}")
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
