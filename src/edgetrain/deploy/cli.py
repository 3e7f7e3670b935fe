"""``edgetrain deploy`` (a released version to a target), ``deploy status`` and ``deploy rollback``.

Exit codes: 0 ok (also when nothing had to change); 2 config/usage (unknown target, bad config);
14 refused or failed (traffic has not moved; the line says why); registry errors keep their codes.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

from edgetrain.config.deploy import DeployTarget
from edgetrain.config.edge import DEFAULT_EDGE_CONFIG, EdgeConfig, load_edge_config
from edgetrain.errors import ConfigError


def _common(parser: argparse.ArgumentParser, *, required: bool) -> None:
    parser.add_argument("--target", required=required, help="a deploy.targets[*].name in the config")
    parser.add_argument("--config", type=Path, default=DEFAULT_EDGE_CONFIG, help="edge config (%(default)s)")
    parser.add_argument("--backend", choices=("local", "azureml"), help="model registry (default: config)")
    parser.add_argument("--registry-dir", type=Path, help="local registry folder (default: config)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--summary", type=Path, help="append a Markdown summary here (GITHUB_STEP_SUMMARY)")
    parser.add_argument(
        "--outcome", type=Path, help="write the outcome as JSON here (for `deploy record` in another job)"
    )


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    dep = subparsers.add_parser(
        "deploy", help="roll a released version out to a target (idle slot, smoke test, traffic)"
    )
    _common(dep, required=False)
    dep.add_argument("--version", dest="model_version", help="registered model version to deploy")
    dep.add_argument("--image", help="its scoring image by digest: registry/repository@sha256:...")
    dep.add_argument("--authfile", type=Path, help="registry credentials for skopeo (containers-auth.json)")
    dep.add_argument(
        "--model-dir",
        type=Path,
        help="the version's model files (metadata.json) fetched by another job: no registry access here; "
        "lineage is then recorded by `deploy record`",
    )
    dep.set_defaults(handler=_deploy)
    sub = dep.add_subparsers(dest="deploy_command", metavar="ACTION")
    sta = sub.add_parser("status", help="slots, versions, digests and traffic of a target")
    _common(sta, required=True)
    sta.set_defaults(handler=_status)
    rol = sub.add_parser("rollback", help="all traffic back to the kept previous slot")
    _common(rol, required=True)
    rol.set_defaults(handler=_rollback)
    rec = sub.add_parser("record", help="record an outcome (--outcome of another job) as registry lineage")
    _common(rec, required=False)
    rec.set_defaults(handler=_record)


def find_target(cfg: EdgeConfig, name: str | None, config: Path) -> DeployTarget:
    known = [t.name for t in cfg.deploy.targets]
    if not name:
        raise ConfigError(
            f"--target: name one of deploy.targets in {config} ({', '.join(known) or 'none set'})"
        )
    for target in cfg.deploy.targets:
        if target.name == name:
            return target
    raise ConfigError(
        f"--target {name!r}: not in {config} deploy.targets (known: {', '.join(known) or 'none'})"
    )


def open_target(target: DeployTarget, config: Path) -> Any:
    if target.kind == "edge-host":
        from edgetrain.deploy.edge_host import EdgeHostTarget
        from edgetrain.registry.cli import project_path

        return EdgeHostTarget(target, project_path(config, target.state_dir))
    from edgetrain.deploy.azureml import AzureMLTarget

    return AzureMLTarget(target, load_edge_config(config).azureml)


def _open(args: argparse.Namespace) -> tuple[DeployTarget, Any]:
    cfg = load_edge_config(args.config)
    target = find_target(cfg, args.target, args.config)
    return target, open_target(target, args.config)


def _deploy(args: argparse.Namespace) -> int:
    from edgetrain.deploy import lineage
    from edgetrain.deploy.release import resolve
    from edgetrain.deploy.rollout import deploy
    from edgetrain.registry.cli import open_registry

    if not args.model_version or not args.image:
        raise ConfigError("edgetrain deploy needs --target, --version and --image (or use `deploy status`)")
    cfg, target = _open(args)
    if args.model_dir is not None:  # an edge host: no Azure here; the plan job checked the version
        from edgetrain.deploy.release import check_image
        from edgetrain.deploy.slots import Release
        from edgetrain.deploy.smoke import read_schema

        check_image(args.image, args.model_version, args.authfile)
        release, schema = (
            Release(args.model_version, args.image),
            read_schema(args.model_dir / "metadata.json"),
        )
        registry = None
    else:
        registry, _ = open_registry(args)
        with tempfile.TemporaryDirectory(prefix="edgetrain-deploy-") as tmp:
            release, _registered, schema = resolve(
                registry, args.model_version, args.image, Path(tmp), args.authfile
            )
    with target.locked():
        outcome = deploy(target, release, schema, cfg)
    if registry is not None:
        lineage.after_deploy(registry, outcome)
    _report(args, outcome.to_dict(), "Deployed" if outcome.changed else "Deploy: nothing to change")
    return 0


def _rollback(args: argparse.Namespace) -> int:
    from edgetrain.deploy import lineage
    from edgetrain.deploy.rollout import rollback
    from edgetrain.registry.cli import open_registry

    _, target = _open(args)
    with target.locked():
        outcome = rollback(target)
    if outcome.changed and args.outcome is None:
        registry, _ = open_registry(args)
        lineage.after_rollback(registry, outcome)
    _report(args, outcome.to_dict(), "Rolled back" if outcome.changed else "Rollback: nothing to change")
    return 0


def _record(args: argparse.Namespace) -> int:
    from edgetrain.deploy import lineage
    from edgetrain.deploy.rollout import from_dict
    from edgetrain.registry.cli import open_registry

    if args.outcome is None:
        raise ConfigError("deploy record needs --outcome FILE (written by `deploy --outcome`)")
    try:
        outcome = from_dict(json.loads(args.outcome.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{args.outcome}: not an outcome of `edgetrain deploy --outcome` ({exc})") from None
    registry, _ = open_registry(args)
    if outcome.changed:
        lineage.after_rollback(registry, outcome)  # the same: every slot's version, with its traffic
    versions = ", ".join(sorted({s.version for s in outcome.after.slots.values()}))
    print(f"{outcome.target}: lineage recorded for version(s) {versions or '-'}")
    return 0


def _status(args: argparse.Namespace) -> int:
    _, target = _open(args)
    with target.locked():
        state = target.state()
    doc = {"target": target.name, "kind": target.kind, "endpoint": target.endpoint, **state.to_dict()}
    if args.json:
        print(json.dumps(doc, indent=2, sort_keys=True))
        return 0
    print(f"{target.name} ({target.kind}) {target.endpoint}")
    for name, slot in sorted(state.slots.items()):
        print(f"  slot {name}: version {slot.version}, traffic {state.traffic.get(name, 0)}%, {slot.image}")
    if not state.slots:
        print("  no slots: nothing deployed")
    return 0


def _traffic(traffic: dict[str, int]) -> str:
    return ", ".join(f"{k}={v}%" for k, v in sorted(traffic.items())) or "none"


def _report(args: argparse.Namespace, doc: dict[str, Any], title: str) -> None:
    if args.outcome:
        args.outcome.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    if args.json:
        print(json.dumps(doc, indent=2, sort_keys=True))
    else:
        smoke = doc["smoke"]
        figures = (
            f"; smoke {smoke['requests']} requests x {smoke['rows']} rows, p50 {smoke['p50_ms']} ms"
            if smoke
            else ""
        )
        print(
            f"{doc['target']}: {title.lower()}: version {doc['version']} on slot {doc['slot']} "
            f"at {doc['endpoint']}"
            f"{figures}; traffic {_traffic(doc['traffic_before'])} -> {_traffic(doc['traffic_after'])}"
        )
    if args.summary:
        smoke = doc["smoke"]
        rows = [
            ("target", f"{doc['target']} ({doc['kind']})"),
            ("endpoint", doc["endpoint"]),
            ("slot", doc["slot"]),
            ("model version", doc["version"]),
            ("image digest", f"`{doc['digest']}`"),
            ("smoke test", f"{smoke['requests']} x {smoke['rows']} rows, p50 {smoke['p50_ms']} ms, "
                           f"max {smoke['max_ms']} ms" if smoke else "-"),
            ("traffic before", _traffic(doc["traffic_before"])),
            ("traffic after", _traffic(doc["traffic_after"])),
        ]  # fmt: skip
        with args.summary.open("a", encoding="utf-8") as fh:
            fh.write(f"### {title}: {doc['target']}\n\n| | |\n|---|---|\n")
            fh.writelines(f"| {k} | {v} |\n" for k, v in rows)
            fh.write("\n")
