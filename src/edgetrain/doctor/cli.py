"""``edgetrain doctor``: one PASS/FAIL line per check, each failure with its fix; exit 1 on any failure."""

from __future__ import annotations

import argparse
from pathlib import Path

from edgetrain.config.edge import DEFAULT_EDGE_CONFIG
from edgetrain.config.params import DEFAULT_PARAMS


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "doctor", help="check config, credentials, storage, DVC, Azure ML, runner labels and tools"
    )
    parser.add_argument("--repo", type=Path, default=Path(), help="repository root (default: .)")
    parser.add_argument("--config", type=Path, default=DEFAULT_EDGE_CONFIG, help="edge config (%(default)s)")
    parser.add_argument("--params", type=Path, default=DEFAULT_PARAMS, help="params (%(default)s)")
    parser.add_argument(
        "--edge-runner",
        action="store_true",
        help="checks for the edge runner's jobs: Azure ML is left out (no Azure credentials there by design)",
    )
    parser.set_defaults(handler=_doctor)


def _doctor(args: argparse.Namespace) -> int:
    from edgetrain.doctor import Context, run_all

    repo = args.repo.resolve()
    ctx = Context(
        repo=repo,
        config_path=args.config if args.config.is_absolute() else repo / args.config,
        params_path=args.params if args.params.is_absolute() else repo / args.params,
        edge_runner=args.edge_runner,
    )
    results = run_all(ctx)
    for result in results:
        print(result.line(), flush=True)
    failed = [r for r in results if not r.ok]
    print(f"doctor: {len(results) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0
