"""Serving commands: ``package``, ``image build|push``, ``serve``, ``score-example``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

from edgetrain.contract import layout
from edgetrain.errors import EdgetrainError

if TYPE_CHECKING:
    from edgetrain.serving.image import Buildah

DEFAULT_CONTEXT = Path("build/scoring")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    pkg = subparsers.add_parser(
        "package",
        help="turn the trained model into a container build context",
        description="Write Dockerfile, model, metadata, locked requirements and server code to a build "
        "context. Refuses when a data file would enter it.",
    )
    pkg.add_argument("--model-dir", type=Path, default=Path(layout.MODEL_DIR))
    pkg.add_argument("--metrics", type=Path, default=Path(layout.METRICS))
    pkg.add_argument("--params", type=Path, default=Path(layout.PARAMS))
    pkg.add_argument("--config", type=Path, default=Path(layout.EDGE_CONFIG))
    pkg.add_argument("-o", "--output", type=Path, default=DEFAULT_CONTEXT, help="default: %(default)s")
    pkg.add_argument("--model-version", help="registry version to stamp into labels and /metadata")
    pkg.add_argument(
        "--source-url",
        help="repository URL for the image's source label (default: GitHub Actions' repository, else the "
        "origin remote as https; a local-path origin gives no source label)",
    )
    pkg.add_argument(
        "--require-clean",
        action="store_true",
        help="refuse uncommitted changes to tracked files (releases); otherwise the revision is <sha>-dirty",
    )
    pkg.set_defaults(handler=_package)
    _register_image(subparsers)

    serve = subparsers.add_parser(
        "serve",
        help="run the scoring server from a build context, without Docker",
        description="Run the context's Dockerfile CMD with cwd = the context (what the image runs).",
    )
    serve.add_argument("--context", type=Path, default=DEFAULT_CONTEXT, help="default: %(default)s")
    serve.add_argument(
        "--host", default="127.0.0.1", help="listen address (default %(default)s; image: 0.0.0.0)"
    )
    serve.add_argument("--port", type=int, help="sets PORT (image default 5001)")
    serve.add_argument("--workers", type=int, help="sets WORKERS")
    serve.set_defaults(handler=_serve)

    example = subparsers.add_parser(
        "score-example",
        help="send one scoring request to a running server and print request and response",
    )
    example.add_argument(
        "--url", default="http://127.0.0.1:5001", help="server base URL (default %(default)s)"
    )
    example.add_argument("--route", default="/score")
    example.add_argument("--metadata-route", default="/metadata")
    example.add_argument("--ready-route", default="/ready")
    example.add_argument(
        "--data", help="request body as JSON, or @file; default: one row built from /metadata"
    )
    example.add_argument("--wait", type=float, default=30.0, help="seconds to wait for readiness")
    example.set_defaults(handler=_score_example)


def _register_image(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    image = subparsers.add_parser(
        "image",
        help="build the scoring image from the package context and push it (buildah, skopeo)",
        description="Reproducible: rebuilding a commit gives the same image, re-pushing the same digest.",
    )
    actions = image.add_subparsers(dest="image_command", metavar="ACTION", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--context", type=Path, default=DEFAULT_CONTEXT, help="default: %(default)s")
    common.add_argument("--storage-driver", help="buildah storage driver (env STORAGE_DRIVER; default vfs)")
    common.add_argument("--storage-root", type=Path, help="private storage (env EDGETRAIN_CONTAINERS_ROOT)")

    build = actions.add_parser(
        "build",
        parents=[common],
        help="build the image, tagged with the model version and the commit",
    )
    build.add_argument("--isolation", help="buildah isolation (env BUILDAH_ISOLATION; default chroot)")
    build.add_argument(
        "--base-image",
        help="replace the Dockerfile's digest-pinned base (the offline rehearsal's stand-in only)",
    )
    build.add_argument(
        "--pull",
        default="missing",
        choices=("missing", "always", "never"),
        help="base image (default %(default)s)",
    )
    build.add_argument(
        "--volume",
        action="append",
        default=[],
        metavar="SRC:DST[:OPTS]",
        help="bind mount for RUN steps, e.g. a wheelhouse and pip.conf (repeatable)",
    )
    build.set_defaults(handler=_image_build)

    push = actions.add_parser(
        "push", parents=[common], help="push every tag; prints the reference with its digest"
    )
    push.add_argument("--registry", help="registry host (default: acr.login_server in --config)")
    push.add_argument("--repository", help="default: acr.repository recorded by `edgetrain package`")
    push.add_argument("--config", type=Path, default=Path(layout.EDGE_CONFIG))
    push.add_argument("--authfile", type=Path, help="registry credentials (default: buildah's/docker's)")
    push.add_argument("--digest-file", type=Path, help="write <registry>/<repository>@<digest> here")
    push.set_defaults(handler=_image_push)


def _buildah(args: argparse.Namespace) -> Buildah:
    from edgetrain.serving.image import Buildah

    return Buildah.from_env(args.storage_driver, getattr(args, "isolation", None), args.storage_root)


def _image_build(args: argparse.Namespace) -> int:
    from edgetrain.serving.image import BuildOptions, build

    built = build(
        BuildOptions(
            context=args.context,
            buildah=_buildah(args),
            base_image=args.base_image,
            pull=args.pull,
            volumes=tuple(args.volume),
        )
    )
    for name in built.names:
        print(f"built {name} (image id {built.image_id[:12]}, {built.seconds:.1f}s)")
    return 0


def _image_push(args: argparse.Namespace) -> int:
    from edgetrain.serving.image import PushOptions, push

    registry = args.registry
    if not registry:
        from edgetrain.config.edge import load_edge_config

        registry = load_edge_config(args.config).acr.login_server
    pushed = push(
        PushOptions(
            context=args.context,
            registry=registry,
            buildah=_buildah(args),
            repository=args.repository,
            authfile=args.authfile,
        )
    )
    verb = "pushed" if pushed.pushed else "unchanged (already in the registry)"
    for tag in pushed.tags:
        print(f"{verb}: {pushed.repository}:{tag}@{pushed.digest}")
    if args.digest_file:
        args.digest_file.parent.mkdir(parents=True, exist_ok=True)
        args.digest_file.write_text(pushed.reference + "\n", encoding="utf-8")
    print(pushed.reference)
    return 0


def _package(args: argparse.Namespace) -> int:
    from edgetrain.serving.package import PackageOptions, build_context, context_size

    opts = PackageOptions(
        model_dir=args.model_dir,
        metrics=args.metrics,
        params=args.params,
        config=args.config,
        output=args.output,
        model_version=args.model_version,
        source_url=args.source_url,
        require_clean=args.require_clean,
    )
    output = build_context(opts)
    print(f"build context: {output} ({context_size(output) / 1e6:.2f} MB)")
    return 0


def _serve(args: argparse.Namespace) -> int:
    from edgetrain.serving.serve import command_from_context, exec_command

    overrides = {"HOST": args.host}
    if args.port is not None:
        overrides["PORT"] = str(args.port)
    if args.workers is not None:
        overrides["WORKERS"] = str(args.workers)
    command = command_from_context(args.context, overrides)
    print(f"serving from {command.cwd}: {' '.join(command.argv)} on {args.host}:{command.env.get('PORT')}")
    exec_command(command)
    return 0  # pragma: no cover - exec does not return


def _load_body(data: str) -> object:
    text = Path(data[1:]).read_text(encoding="utf-8") if data.startswith("@") else data
    try:
        return json.loads(text)
    except ValueError as exc:
        raise EdgetrainError(f"--data: not valid JSON: {exc}") from None


def _score_example(args: argparse.Namespace) -> int:
    from edgetrain.serving.client import example_body, http_json, wait_ready

    base = args.url.rstrip("/")
    wait_ready(base, args.ready_route, args.wait)
    if args.data:
        body = _load_body(args.data)
    else:
        status, metadata = http_json(base + args.metadata_route)
        if status != 200 or not isinstance(metadata, dict):
            raise EdgetrainError(f"{base}{args.metadata_route}: HTTP {status}")
        body = example_body(metadata)
    print(f"POST {base}{args.route}")
    print(json.dumps(body, indent=2))
    status, response = http_json(base + args.route, body)
    print(f"HTTP {status}")
    print(json.dumps(response, indent=2) if not isinstance(response, str) else response)
    return 0 if status == 200 else 1
