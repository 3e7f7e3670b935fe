"""``edgetrain refresh check|report``: the data-refresh workflow's two steps around ``dvc update``.

``check`` runs before anything is recorded: it validates the drops the raw container holds and
``data/`` does not (exit 3 with one line naming the blob and column on a bad one) and writes the
"before" summary. ``report`` runs after ``dvc update``: it compares ``data/`` with that summary and
writes the data report (aggregates only) as JSON; the job that opens the pull request checks and renders it
(``edgetrain report comment --refresh``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from edgetrain.config.edge import DEFAULT_EDGE_CONFIG
from edgetrain.config.params import DEFAULT_PARAMS
from edgetrain.contract import git, layout
from edgetrain.contract.data_report import FILE as DATA_REPORT_FILE
from edgetrain.contract.dvcfiles import data_version_of
from edgetrain.contract.yamlfile import read_text

DEFAULT_BASELINE = Path(layout.REFRESH_BASELINE)
DEFAULT_DATA_DIR = Path(layout.DATA)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("refresh", help="validate new raw drops and report what a refresh changes")
    sub = parser.add_subparsers(dest="refresh_command", metavar="ACTION", required=True)
    check = sub.add_parser("check", help="validate new drops in the raw container; write the before-summary")
    check.add_argument("--config", type=Path, default=DEFAULT_EDGE_CONFIG, help="edge config (%(default)s)")
    report = sub.add_parser("report", help="data report: data/ now against the before-summary")
    report.add_argument(
        "--out",
        type=Path,
        default=Path(DATA_REPORT_FILE),
        help="the report as JSON aggregates (%(default)s); `edgetrain report comment --refresh` renders it",
    )
    for cmd in (check, report):
        cmd.add_argument("--params", type=Path, default=DEFAULT_PARAMS, help="params (%(default)s)")
        cmd.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR, help="drops (%(default)s)")
        cmd.add_argument("--baseline", type=Path, default=DEFAULT_BASELINE, help="summary (%(default)s)")
    check.set_defaults(handler=_check)
    report.set_defaults(handler=_report)
    changed = sub.add_parser(
        "changed", help="print true/false: does data.dvc record other data than git's version of it?"
    )
    changed.add_argument("--dvcfile", type=Path, default=Path(layout.DATA_DVC))
    changed.add_argument("--against", default="HEAD", help="git revision (%(default)s)")
    changed.set_defaults(handler=_changed)


def _check(args: argparse.Namespace) -> int:
    from edgetrain.config.edge import load_edge_config
    from edgetrain.config.params import load_params
    from edgetrain.contract.atomic import write_json_atomic
    from edgetrain.refresh.drops import validate_new_drops
    from edgetrain.refresh.report import summarize

    cfg, params = load_edge_config(args.config), load_params(args.params)
    new = validate_new_drops(cfg.storage, params, args.data_dir)
    before = summarize(args.data_dir, params)
    before["new_drops"] = [drop.name for drop in new]
    write_json_atomic(args.baseline, before)
    if not new:
        print("no new drops")
        return 0
    listed = ", ".join(
        f"{d.blob} ({d.rows} rows{', replaces the imported file' if d.replaces else ''})" for d in new
    )
    print(f"{len(new)} new drop(s), all valid: {listed}")
    return 0


def _report(args: argparse.Namespace) -> int:
    import json

    from edgetrain.config.params import load_params
    from edgetrain.contract.atomic import write_json_atomic
    from edgetrain.errors import ConfigError
    from edgetrain.refresh.report import SUMMARY_FORMAT, compare, summarize

    params = load_params(args.params)
    try:
        before = json.loads(args.baseline.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(
            f"{args.baseline}: cannot read the before-summary ({exc}); run `edgetrain refresh check`"
        ) from None
    if before.get("format") != SUMMARY_FORMAT:
        raise ConfigError(f"{args.baseline}: format is {before.get('format')!r}, expected {SUMMARY_FORMAT!r}")
    diff = compare(before, summarize(args.data_dir, params, bins_from=before))
    write_json_atomic(args.out, diff)
    added = sum(diff["drops_added"].values())
    print(f"data report: {len(diff['drops_added'])} drop(s), {added} rows added -> {args.out}")
    return 0


def _changed(args: argparse.Namespace) -> int:
    """Compare the data version (outs md5), not the file: a re-landed identical drop changes only the
    source's etag-based hash, which is no new data."""
    path = args.dvcfile
    now = data_version_of(read_text(path), str(path))[0]
    committed = git.show(Path(), args.against, f"./{path.as_posix()}")
    before = None if committed is None else data_version_of(committed, f"{args.against}:{path}")[0]
    if before == now:
        print(f"no new drops (data {now} as in {args.against})", file=sys.stderr)
        print("false")
    else:
        print(f"data changed: {before} -> {now}", file=sys.stderr)
        print("true")
    return 0
