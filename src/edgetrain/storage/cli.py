"""``edgetrain storage up|down|status|seed|land|clear|pull``: the Stack Hub stand-in, sample and own data."""

from __future__ import annotations

import argparse
import json
from datetime import date
from pathlib import Path

from edgetrain.config.edge import DEFAULT_EDGE_CONFIG, load_edge_config
from edgetrain.config.params import DEFAULT_PARAMS
from edgetrain.contract import layout

DEFAULT_ROWS = 20_000
DEFAULT_DAYS = 5
DEFAULT_SEED = 2020


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("storage", help="the embedded Stack Hub stand-in and sample data")
    parser.add_argument("--config", default=str(DEFAULT_EDGE_CONFIG), help="edge config (%(default)s)")
    sub = parser.add_subparsers(dest="storage_command", metavar="ACTION", required=True)
    sub.add_parser("install", help="install the pinned Azurite with npm").set_defaults(handler=_install)
    sub.add_parser("up", help="start Azurite + strict API-version proxy on loopback").set_defaults(
        handler=_up
    )
    sub.add_parser("down", help="stop the stand-in (data is kept)").set_defaults(handler=_down)
    st = sub.add_parser("status", help="is the stand-in running? (exit 1 when not)")
    st.add_argument("--json", action="store_true")
    st.set_defaults(handler=_status)
    seed = sub.add_parser("seed", help="land sample daily drops in the raw container")
    seed.add_argument("--rows", type=int, default=DEFAULT_ROWS, help="rows in all (%(default)s)")
    seed.add_argument("--days", type=int, default=DEFAULT_DAYS, help="daily drops (%(default)s)")
    seed.add_argument("--seed", type=int, default=DEFAULT_SEED, help="generator seed (%(default)s)")
    seed.add_argument("--start", type=date.fromisoformat, default=None, help="first day, YYYY-MM-DD")
    seed.set_defaults(handler=_seed)
    land = sub.add_parser(
        "land", help="check your CSV files against params.yaml, then upload them to the raw container"
    )
    land.add_argument("files", nargs="+", type=Path, metavar="FILE", help="CSV drops (stored by file name)")
    land.add_argument("--params", type=Path, default=DEFAULT_PARAMS, help="params file (%(default)s)")
    land.add_argument(
        "--replace", action="store_true", help="then delete the other drops under the prefix (stand-in only)"
    )
    land.set_defaults(handler=_land)
    sub.add_parser("clear", help="delete every drop under the raw prefix (stand-in only)").set_defaults(
        handler=_clear
    )
    pull = sub.add_parser(
        "pull", help="dvc pull data.dvc, backfilling an empty DVC remote from the raw container"
    )
    pull.add_argument("--dvcfile", default=str(layout.DATA_DVC))
    pull.set_defaults(handler=_pull)


def _install(args: argparse.Namespace) -> int:
    from edgetrain.storage.azurite import ensure_installed

    cfg = load_edge_config(args.config)
    print(f"azurite {cfg.standin.azurite_version}: {ensure_installed(cfg.standin.azurite_version)}")
    return 0


def _up(args: argparse.Namespace) -> int:
    from edgetrain.storage.standin import up

    cfg = load_edge_config(args.config)
    endpoints = up(cfg)
    if endpoints.port != cfg.standin.port:
        print(f"port {cfg.standin.port} (standin.port) is taken: using free port {endpoints.port} instead")
    print(
        f"stand-in up: {endpoints.blob_endpoint} (strict x-ms-version <= {cfg.storage.api_version}; "
        f"Azurite {cfg.standin.azurite_version} behind it; data in {cfg.standin.data_dir})"
    )
    return 0


def _down(args: argparse.Namespace) -> int:
    from edgetrain.storage.standin import down

    stopped = down(load_edge_config(args.config))
    print("stand-in stopped" if stopped else "stand-in was not running")
    return 0


def _status(args: argparse.Namespace) -> int:
    from edgetrain.storage.standin import status

    info = status(load_edge_config(args.config))
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        state = "running" if info["running"] else "not running"
        print(f"stand-in {state}: {info['blob_endpoint']} (api_version {info['api_version']})")
    return 0 if info["running"] else 1


def _seed(args: argparse.Namespace) -> int:
    from edgetrain.errors import ConfigError
    from edgetrain.storage.identity import require_own
    from edgetrain.storage.seed import DEFAULT_START, seed

    if args.rows < args.days or args.days < 1:
        raise ConfigError(f"--rows ({args.rows}) must be at least --days ({args.days}) and --days at least 1")
    cfg = load_edge_config(args.config)
    require_own(cfg)
    landed = seed(
        cfg.storage, rows=args.rows, days=args.days, seed_value=args.seed, start=args.start or DEFAULT_START
    )
    new = sum(item.uploaded for item in landed)
    print(
        f"{len(landed)} drops in {cfg.storage.raw_container}/{cfg.storage.raw_prefix} "
        f"({new} uploaded, {len(landed) - new} already there), {args.rows} rows"
    )
    return 0


def _land(args: argparse.Namespace) -> int:
    from edgetrain.config.params import load_params
    from edgetrain.storage.identity import require_own
    from edgetrain.storage.land import land, validate

    cfg = load_edge_config(args.config)
    rows = validate(args.files, load_params(args.params, check_names=False))  # all checked before uploading
    require_own(cfg)
    result = land(cfg.storage, args.files, replace=args.replace)
    new = sum(item.uploaded for item in result.landed)
    where = f"{cfg.storage.raw_container}/{cfg.storage.raw_prefix}"
    print(
        f"{len(result.landed)} drops in {where} ({new} uploaded, {len(result.landed) - new} already there), "
        f"{rows} rows" + (f"; removed {len(result.removed)} other drops" if args.replace else "")
    )
    return 0


def _clear(args: argparse.Namespace) -> int:
    from edgetrain.storage.identity import require_own
    from edgetrain.storage.land import clear

    cfg = load_edge_config(args.config)
    require_own(cfg)
    removed = clear(cfg.storage)
    print(f"removed {len(removed)} drops from {cfg.storage.raw_container}/{cfg.storage.raw_prefix}")
    return 0


def _pull(args: argparse.Namespace) -> int:
    from edgetrain.storage.dvc_sync import pull_or_backfill
    from edgetrain.storage.identity import require_own

    require_own(load_edge_config(args.config))  # valid, and this checkout's storage (backfill pushes)
    how = pull_or_backfill(dvcfile=args.dvcfile)
    print(f"{args.dvcfile}: data in place ({how})")
    return 0
