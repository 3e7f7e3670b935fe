"""``edgetrain prepare | train | evaluate``: the DVC stages (see ``dvc.yaml``).

Each stage validates both ``config/edge.yaml`` and ``params.yaml`` before it reads any data, so a typo in
either fails ``dvc repro`` with one line. The edge config is not a stage dependency: no stage output
depends on it (only params keys, data and code do), so editing it never re-runs training.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from edgetrain.config.edge import DEFAULT_EDGE_CONFIG, load_edge_config
from edgetrain.config.params import load_params
from edgetrain.contract import layout

Handler = Callable[[argparse.Namespace], int]


def _validated(handler: Handler) -> Handler:
    """``handler`` after validating both config files (one line and exit code 2 on any problem)."""

    def run(args: argparse.Namespace) -> int:
        load_edge_config(args.config)
        load_params(args.params)
        return int(handler(args))

    return run


def _prepare(args: argparse.Namespace) -> int:
    from edgetrain.pipeline import prepare

    manifest = prepare.run(args.params, args.data, args.data_dvc, args.out)
    rows = manifest["rows"]
    print(f"prepared {rows['train']} train / {rows['valid']} valid / {rows['test']} test rows -> {args.out}")
    return 0


def _train(args: argparse.Namespace) -> int:
    from edgetrain.pipeline import train

    metadata = train.run(args.params, args.prepared, args.out, args.config)
    print(f"trained {metadata['task']} model (best iteration {metadata['best_iteration']}) -> {args.out}")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from edgetrain.pipeline import evaluate

    scores = evaluate.run(args.params, args.model, args.test, args.metrics, args.plots)
    shown = ", ".join(f"{k}={v}" for k, v in sorted(scores.items()))
    print(f"{shown} -> {args.metrics}")
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``prepare``, ``train`` and ``evaluate`` subcommands."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--params", type=Path, default=Path(layout.PARAMS), help="default: %(default)s")
    common.add_argument(
        "--config",
        "--edge-config",
        dest="config",
        type=Path,
        default=DEFAULT_EDGE_CONFIG,
        help="environment config, validated by every stage; train reads its compute section (%(default)s)",
    )

    p = subparsers.add_parser("prepare", parents=[common], help="validate and split the raw CSV drops")
    p.add_argument(
        "--data", type=Path, default=Path(layout.DATA), help="directory of *.csv drops (%(default)s)"
    )
    p.add_argument(
        "--data-dvc", type=Path, default=Path(layout.DATA_DVC), help="DVC import file (%(default)s)"
    )
    p.add_argument("--out", type=Path, default=Path(layout.PREPARED), help="default: %(default)s")
    p.set_defaults(handler=_validated(_prepare))

    t = subparsers.add_parser("train", parents=[common], help="train XGBoost on the prepared splits")
    t.add_argument("--prepared", type=Path, default=Path(layout.PREPARED), help="default: %(default)s")
    t.add_argument("--out", type=Path, default=Path(layout.MODEL_DIR), help="default: %(default)s")
    t.set_defaults(handler=_validated(_train))

    e = subparsers.add_parser("evaluate", parents=[common], help="score the model on the test split")
    e.add_argument("--model", type=Path, default=Path(layout.MODEL_DIR), help="default: %(default)s")
    e.add_argument("--test", type=Path, default=Path(layout.TEST_SPLIT), help="default: %(default)s")
    e.add_argument("--metrics", type=Path, default=Path(layout.METRICS), help="default: %(default)s")
    e.add_argument("--plots", type=Path, default=Path(layout.PLOTS), help="default: %(default)s")
    e.set_defaults(handler=_validated(_evaluate))
