"""``edgetrain register`` and ``edgetrain models {list,show,promote,score-production,fetch-production}``.

Exit codes: 0 ok; 2 config/params/usage; 5 quality gate refused; 6 integrity (model or dvc.lock differ
from the commit); 7 other registry failure; 8 login failed; 9 workspace/version not found;
10 permission denied; 11 network unreachable after retries (see :mod:`edgetrain.registry.errors`).
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from edgetrain.config.edge import DEFAULT_EDGE_CONFIG, EdgeConfig, load_edge_config, project_dir
from edgetrain.errors import ConfigError
from edgetrain.registry.base import ModelVersion, Registry

REGISTRY_DIR_ENV = "EDGETRAIN_REGISTRY_DIR"


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--backend", choices=("local", "azureml"), help="default: registry.backend in config")
    parser.add_argument(
        "--registry-dir",
        type=Path,
        help=f"local registry folder (default: ${REGISTRY_DIR_ENV}, else registry.local_path)",
    )
    parser.add_argument("--config", type=Path, default=DEFAULT_EDGE_CONFIG, help="edge config (%(default)s)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    reg = subparsers.add_parser("register", help="register the committed model (integrity, lineage, gate)")
    _common(reg)
    reg.add_argument("--repo", type=Path, default=Path(), help="git work tree (default: current directory)")
    reg.add_argument("--commit", default="HEAD", help="commit being registered (default: HEAD)")
    reg.add_argument("--force", action="store_true", help="register even if the quality gate refuses")
    reg.add_argument("--reason", help="why the gate is overridden (required with --force; recorded)")
    reg.add_argument(
        "--reproduced",
        choices=("true", "false"),
        help="recorded as the `reproduced` tag: the release trained the model again (true) or shipped the "
        "pull request's outputs (false, config/edge.yaml release.reproduce: false)",
    )
    reg.add_argument(
        "--baseline",
        type=Path,
        help="production's score from `models score-production` (when this job has no test split)",
    )
    reg.set_defaults(handler=_register)

    models = subparsers.add_parser("models", help="list, show and promote registered model versions")
    sub = models.add_subparsers(dest="models_command", metavar="ACTION", required=True)
    lst = sub.add_parser("list", help="all versions with their lineage")
    _common(lst)
    lst.set_defaults(handler=_list)
    shw = sub.add_parser("show", help="one version in full (default: latest)")
    _common(shw)
    shw.add_argument("version", nargs="?", default="latest", help="version number or 'latest'")
    shw.add_argument("--production", action="store_true", help="the version marked for production")
    shw.set_defaults(handler=_show)
    sco = sub.add_parser(
        "score-production", help="score production on this commit's test split (hand-off for register)"
    )
    _common(sco)
    sco.add_argument("--repo", type=Path, default=Path(), help="git work tree (default: current directory)")
    sco.add_argument("--commit", default="HEAD", help="commit whose test split is used (default: HEAD)")
    sco.add_argument("--out", type=Path, required=True, help="JSON file for `register --baseline`")
    sco.add_argument(
        "--from",
        dest="source",
        type=Path,
        help="score the production model `models fetch-production` wrote here (no registry access needed)",
    )
    sco.set_defaults(handler=_score_production)
    fet = sub.add_parser(
        "fetch-production",
        help="production's model files + a record of its version and md5 (for score-production --from)",
    )
    _common(fet)
    fet.add_argument("--out", type=Path, required=True, help="new or empty folder to write")
    fet.set_defaults(handler=_fetch_production)
    pro = sub.add_parser("promote", help="mark a version for production (stage=production)")
    _common(pro)
    pro.add_argument("version", help="version number")
    pro.set_defaults(handler=_promote)


def _config_path(args: argparse.Namespace) -> Path:
    repo: Path | None = getattr(args, "repo", None)
    config: Path = args.config
    if repo is not None and not config.is_absolute() and config == DEFAULT_EDGE_CONFIG:
        return repo / config
    return config


def open_registry(args: argparse.Namespace) -> tuple[Registry, EdgeConfig]:
    cfg = load_edge_config(_config_path(args))
    backend = args.backend or cfg.registry.backend
    if backend == "azureml":
        from edgetrain.registry.azureml import AzureMLRegistry

        return AzureMLRegistry(cfg.azureml), cfg
    from edgetrain.registry.local import LocalRegistry

    root = (
        args.registry_dir
        or os.environ.get(REGISTRY_DIR_ENV)
        or project_path(_config_path(args), cfg.registry.local_path)
    )
    return LocalRegistry(Path(root), cfg.azureml.model_name), cfg


def project_path(config: Path, value: str) -> Path:
    """``registry.local_path`` resolved: ``~`` expanded, a relative path taken inside the project.

    The project is the folder holding ``config/edge.yaml``'s ``config/`` folder, so every fork (and
    every clone) keeps its own registry, whatever the working directory.
    """
    path = Path(value).expanduser()
    if path.is_absolute():
        return path
    return project_dir(config) / path


def _register(args: argparse.Namespace) -> int:
    from edgetrain.registry.service import register as do_register
    from edgetrain.registry.service import repo_root

    if args.force and not (args.reason and args.reason.strip()):
        raise ConfigError('--force needs --reason "..." (it is recorded on the version)')
    registry, cfg = open_registry(args)
    repo = repo_root(args.repo)
    outcome = do_register(
        registry,
        repo,
        ref=args.commit,
        env=os.environ,
        tolerance=cfg.registry.gate_tolerance,
        force=args.force,
        reason=args.reason,
        baseline_file=args.baseline,
        reproduced=None if args.reproduced is None else args.reproduced == "true",
    )
    version = outcome.version
    if args.json:
        status = "registered" if outcome.created else "already_registered"
        print(json.dumps({"status": status, **version.to_dict()}, indent=2, sort_keys=True))
    elif outcome.created:
        print(f"registered {version.name} version {version.version} in {registry.where()}")
        if outcome.gate is not None:
            print(f"quality gate: {outcome.gate.message}")
    else:
        print(
            f"already registered: {version.name} version {version.version} is commit "
            f"{outcome.lineage.git_commit[:12]} (nothing changed)"
        )
    return 0


def _score_production(args: argparse.Namespace) -> int:
    from edgetrain.contract.atomic import write_json_atomic
    from edgetrain.registry.service import repo_root, score_production

    registry = None if args.source is not None else open_registry(args)[0]
    handoff = score_production(registry, repo_root(args.repo), ref=args.commit, source=args.source)
    write_json_atomic(args.out, handoff)
    if args.json:
        print(json.dumps(handoff, indent=2, sort_keys=True))
    elif handoff["production_version"] is None:
        where = args.source if registry is None else registry.where()
        print(f"no production version in {where}; wrote {args.out}")
    else:
        value = handoff["value"]
        figure = (
            f"{handoff['metric']}={value:.6g}" if value is not None else f"not comparable ({handoff['note']})"
        )
        print(f"production v{handoff['production_version']} on this test split: {figure}; wrote {args.out}")
    return 0


def _fetch_production(args: argparse.Namespace) -> int:
    from edgetrain.registry.fetched import fetch_production

    registry, _ = open_registry(args)
    record = fetch_production(registry, args.out)
    if args.json:
        print(json.dumps(record, indent=2, sort_keys=True))
    elif record["version"] is None:
        print(f"no production version in {registry.where()}; wrote the record to {args.out}")
    else:
        print(
            f"production is {record['model_name']} version {record['version']} "
            f"({record['model_file']} md5 {record['model_md5']}); wrote {args.out}"
        )
    return 0


def _list(args: argparse.Namespace) -> int:
    registry, _ = open_registry(args)
    versions = registry.list_versions()
    if args.json:
        print(json.dumps([v.to_dict() for v in versions], indent=2, sort_keys=True))
        return 0
    if not versions:
        print(f"no versions of {registry.model_name} in {registry.where()}")
        return 0
    header = ("VERSION", "STAGE", "CREATED", "COMMIT", "PR", "METRIC", "DATA")
    rows = [header, *(_row(v) for v in versions)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    return 0


def _row(v: ModelVersion) -> tuple[str, ...]:
    t = {**v.properties, **v.tags}
    metric = t.get("primary_metric", "")
    value = f"{metric}={t.get(f'metric_{metric}', '?')}" if metric else ""
    pr = f"#{t['pull_request']}" if t.get("pull_request") else ""
    return (
        v.version,
        v.stage or "",
        (v.created or "")[:19],
        t.get("git_commit", "")[:12],
        pr,
        value,
        t.get("data_md5", "")[:12],
    )


def _show(args: argparse.Namespace) -> int:
    registry, _ = open_registry(args)
    if args.production:
        version = registry.production()
        if version is None:
            from edgetrain.registry.errors import RegistryNotFoundError

            raise RegistryNotFoundError(f"no version of {registry.model_name} is marked for production")
    elif args.version == "latest":
        version = registry.latest()
    else:
        version = registry.get(args.version)
    if args.json:
        print(json.dumps(version.to_dict(), indent=2, sort_keys=True))
        return 0
    print(f"{version.name} version {version.version}" + (f" [{version.stage}]" if version.stage else ""))
    print(f"  created:  {version.created or '-'}")
    print(f"  location: {version.location or '-'}")
    print("  description:")
    for line in version.description.splitlines() or ["-"]:
        print(f"    {line}")
    from edgetrain.registry.deployments import TAG_PREFIX, show_lines

    print("  lineage:")
    merged = {k: v for k, v in {**version.properties, **version.tags}.items() if not k.startswith(TAG_PREFIX)}
    width = max((len(k) for k in merged), default=0)
    for key in sorted(merged):
        print(f"    {key.ljust(width)}  {merged[key]}")
    print("  deployed:")
    for line in show_lines(version) or ["    -"]:
        print(line)
    return 0


def _promote(args: argparse.Namespace) -> int:
    registry, _ = open_registry(args)
    promoted, previous = registry.promote(args.version)
    moved = f" (was version {previous.version})" if previous else ""
    if args.json:
        print(
            json.dumps(
                {"promoted": promoted.to_dict(), "previous": previous.version if previous else None},
                indent=2,
                sort_keys=True,
            )
        )
    else:
        print(f"{promoted.name} version {promoted.version} is now production{moved}")
    return 0
