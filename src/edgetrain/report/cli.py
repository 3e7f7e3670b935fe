"""``edgetrain report comment``: check the edge runner's hand-off and render the pull-request comment.

Runs in the privileged ``pr-publish`` workflow (``workflow_run``), whose checkout is the default branch: its
code, its ``dvc.yaml`` and its committed metrics and params (the base of the comparison). The pull request's
own files arrive as data in ``--head`` (fetched through the API at the head commit of the triggering run:
``params.yaml``, and the ``dvc.lock``, metrics and plots the branch holds now); its params pass the
``Params`` model. Everything the edge runner produced is read from the hand-off through the fixed schema
of :mod:`edgetrain.report.handoff` and re-serialised from the parsed values. Writes the comment
(Markdown), the list of files that differ from the branch, and those files (``--commit-dir``), which the
workflow commits. Exit 2 with one line if anything breaks the schema; nothing is written then.

``--refresh``: the same for data-refresh's pull request (its hand-off adds ``data.dvc`` and the data report,
:mod:`edgetrain.report.refresh_handoff`). The head is the default branch itself (a refresh trains its
params); the comment ends with the data report, which is also written as the pull request's body (``--body``).
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

from edgetrain.contract import layout
from edgetrain.contract.yamlfile import parse_yaml, read_yaml
from edgetrain.errors import ConfigError
from edgetrain.report.handoff import MAX_FILE_BYTES

#: Committed with dvc.lock: the metrics and plots it records with ``cache: false`` (git-tracked outputs).
#: data.dvc only comes in a data-refresh hand-off.
COMMITTED_PREFIXES = (
    str(layout.DVC_LOCK),
    str(layout.METRICS),
    str(layout.RUN_INFO),
    layout.PLOTS.child(""),
    str(layout.DATA_DVC),
)
_REF = re.compile(r"^[A-Za-z0-9._/-]{1,100}$")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    report = subparsers.add_parser("report", help="pull-request report from the edge runner's hand-off")
    sub = report.add_subparsers(dest="report_command", metavar="ACTION", required=True)
    com = sub.add_parser("comment", help="check the hand-off and render the sticky comment")
    com.add_argument("--handoff", type=Path, required=True, help="folder downloaded from the edge job")
    com.add_argument("--base-ref", required=True, help="base branch (compared against origin/<base-ref>)")
    com.add_argument("--repo", type=Path, default=Path(), help="checkout of the default branch")
    com.add_argument(
        "--head", type=Path, help="the pull request's files at its head (data; not with --refresh)"
    )
    com.add_argument(
        "--refresh",
        action="store_true",
        help="a data-refresh hand-off (adds data.dvc and the data report; the head is --repo)",
    )
    com.add_argument("--body", type=Path, help="with --refresh: the pull request's body (the data report)")
    com.add_argument("--out", type=Path, required=True, help="Markdown comment to write")
    com.add_argument("--changed", type=Path, required=True, help="JSON list of files to commit")
    com.add_argument("--commit-dir", type=Path, required=True, help="where the files to commit are written")
    com.set_defaults(handler=_comment)


def _read(path: Path) -> bytes | None:
    if path.is_symlink() or not path.is_file():
        return None
    if path.stat().st_size > MAX_FILE_BYTES:
        raise ConfigError(f"{path}: larger than {MAX_FILE_BYTES} bytes")
    return path.read_bytes()


def _comment(args: argparse.Namespace) -> int:
    from edgetrain.config.params import load_params
    from edgetrain.report import comment, data_report, handoff, refresh_handoff

    if not _REF.match(args.base_ref):
        raise ConfigError(f"--base-ref: {args.base_ref[:40]!r} is not a plain branch name")
    if args.refresh != (args.head is None) or args.refresh != (args.body is not None):
        raise ConfigError("report comment: --head for a pull request's run, or --refresh with --body")
    repo = args.repo
    head = repo if args.refresh else args.head
    if _read(head / layout.PARAMS.path) is None:
        raise ConfigError(f"{head}/{layout.PARAMS}: missing (the pull request's params)")
    load_params(head / layout.PARAMS.path)  # the Params model: unknown keys and bad values stop here
    head_params = parse_yaml(_read(head / layout.PARAMS.path), f"{layout.PARAMS} (pull request)")
    dvc_yaml = read_yaml(repo / layout.DVC_YAML.path)
    report = None
    if args.refresh:
        committed_data = _read(repo / layout.DATA_DVC.path) or b""
        got, report = refresh_handoff.load_refresh_handoff(
            args.handoff, dvc_yaml, head_params, committed_data
        )
    else:
        got = handoff.load_handoff(args.handoff, dvc_yaml, head_params)
    base_metrics_raw = _read(repo / handoff.METRICS_FILE)
    try:
        base_metrics = handoff.read_metrics(json.loads(base_metrics_raw)) if base_metrics_raw else {}
    except ValueError:
        raise ConfigError(f"{args.base_ref}:{handoff.METRICS_FILE}: not valid JSON") from None
    base_params = parse_yaml(_read(repo / layout.PARAMS.path), f"{args.base_ref}:{layout.PARAMS}")
    committed = sorted(p for p in got.files if p.startswith(COMMITTED_PREFIXES))
    changed = [p for p in committed if _read(head / p) != got.files[p]]
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
    if report is not None:
        body = data_report.render(report)
        text = f"{text}\n{body}"
        args.body.write_text(body, encoding="utf-8")
    for path in changed:
        target = args.commit_dir / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(got.files[path])
    args.out.write_text(text, encoding="utf-8")
    args.changed.write_text(json.dumps(changed), encoding="utf-8")
    print(f"comment: {args.out} ({len(text)} bytes); files to commit: {', '.join(changed) or 'none'}")
    return 0
