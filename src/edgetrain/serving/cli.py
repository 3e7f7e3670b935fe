"""Serving commands: ``package``, ``serve``, ``score-example``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from edgetrain.errors import EdgetrainError

DEFAULT_CONTEXT = Path("build/scoring")


def register(subparsers: argparse._SubParsersAction) -> None:
    pkg = subparsers.add_parser(
        "package",
        help="turn the trained model into a container build context",
        description="Write Dockerfile, model, metadata, locked requirements and server code to a build "
        "context. Refuses when a data file would enter it.",
    )
    pkg.add_argument("--model-dir", type=Path, default=Path("artifacts/model"))
    pkg.add_argument("--metrics", type=Path, default=Path("artifacts/metrics.json"))
    pkg.add_argument("--params", type=Path, default=Path("params.yaml"))
    pkg.add_argument("--config", type=Path, default=Path("config/edge.yaml"))
    pkg.add_argument("-o", "--output", type=Path, default=DEFAULT_CONTEXT, help="default: %(default)s")
    pkg.add_argument("--model-version", help="registry version to stamp into labels and /metadata")
    pkg.set_defaults(handler=_package)

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


def _package(args: argparse.Namespace) -> int:
    from edgetrain.serving.package import PackageOptions, build_context, context_size

    opts = PackageOptions(
        model_dir=args.model_dir,
        metrics=args.metrics,
        params=args.params,
        config=args.config,
        output=args.output,
        model_version=args.model_version,
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
