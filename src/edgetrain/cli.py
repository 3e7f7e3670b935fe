"""The one command line, ``edgetrain`` (also ``python -m edgetrain``).

Each area of the package contributes its subcommands through a ``register(subparsers)`` function in
its own ``cli`` module; heavy libraries are imported inside the handlers so ``--help`` stays fast.
A handler takes the parsed namespace and returns an exit code. :class:`EdgetrainError` becomes one
line on stderr and its exit code; nothing else in the package prints.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence

from edgetrain import __version__
from edgetrain.errors import EdgetrainError

#: Exit status when stdout's reader goes away, as for a process killed by SIGPIPE (128 + 13).
SIGPIPE_EXIT = 141
#: Modules that add subcommands (each defines ``register(subparsers) -> None``).
COMMAND_MODULES = (
    "edgetrain.storage.cli",
    "edgetrain.pipeline.cli",
    "edgetrain.serving.cli",
    "edgetrain.registry.cli",
    "edgetrain.report.cli",
    "edgetrain.release.cli",
    "edgetrain.doctor.cli",
    "edgetrain.refresh.cli",
    "edgetrain.broker.cli",
    "edgetrain.deploy.cli",
)


def build_parser(modules: Sequence[str] = COMMAND_MODULES) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="edgetrain",
        description="Train XGBoost at the edge on Azure Stack Hub blob data: stand-in storage, DVC stages, "
        "scoring container, model registry.",
    )
    parser.add_argument("--version", action="version", version=f"edgetrain {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in modules:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None, modules: Sequence[str] = COMMAND_MODULES) -> int:
    """Run one command of ``modules``; a reader that closes stdout early (``| head``) ends it quietly
    with 141."""
    try:
        try:
            return _run(argv, modules)
        finally:
            sys.stdout.flush()  # a closed pipe shows here, not as a traceback at interpreter exit
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # nothing left to flush at exit
        return SIGPIPE_EXIT


def _run(argv: Sequence[str] | None, modules: Sequence[str]) -> int:
    parser = build_parser(modules)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        return int(args.handler(args) or 0)
    except EdgetrainError as err:
        print(f"edgetrain: error: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("edgetrain: interrupted", file=sys.stderr)
        return 130


def entry() -> None:
    """Console-script entry point."""
    sys.exit(main())
