"""``edgetrain broker serve`` (the host service) and ``edgetrain broker credential`` (a job's step)."""

from __future__ import annotations

import argparse
import os
import stat
from pathlib import Path

from edgetrain.config.edge import DEFAULT_EDGE_CONFIG

DEFAULT_KEY_FILE = Path("/etc/edgetrain/storage-account.key")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from edgetrain.broker.client import DEFAULT_SOCKET, SOCKET_ENV
    from edgetrain.broker.policy import DEFAULT_POLICY

    parser = subparsers.add_parser("broker", help="storage credentials by what the job is (OIDC -> SAS)")
    sub = parser.add_subparsers(dest="broker_command", metavar="ACTION", required=True)
    serve = sub.add_parser("serve", help="run the broker on a Unix socket (root, on the edge VM)")
    serve.add_argument("--policy", type=Path, default=DEFAULT_POLICY, help="policy file (%(default)s)")
    serve.add_argument(
        "--config", type=Path, default=DEFAULT_EDGE_CONFIG, help="edge config: storage account (%(default)s)"
    )
    serve.add_argument(
        "--account-key-file", type=Path, default=DEFAULT_KEY_FILE, help="root-only key file (%(default)s)"
    )
    serve.add_argument(
        "--socket",
        type=Path,
        default=Path(os.environ.get(SOCKET_ENV) or DEFAULT_SOCKET),
        help=f"socket path (${SOCKET_ENV}, else %(default)s)",
    )
    serve.set_defaults(handler=_serve)
    cred = sub.add_parser("credential", help="in a job: get this job's SAS from the broker into $GITHUB_ENV")
    cred.add_argument("--repo", type=Path, default=Path(), help="repository root (default: .)")
    cred.add_argument("--config", type=Path, default=DEFAULT_EDGE_CONFIG, help="edge config (%(default)s)")
    cred.add_argument("--policy", type=Path, default=DEFAULT_POLICY, help="for the audience (%(default)s)")
    cred.add_argument(
        "--want",
        action="append",
        default=[],
        metavar="CONTAINER=LETTERS",
        help="ask for less than the policy grants, e.g. dvc-cache=rl (repeatable)",
    )
    cred.set_defaults(handler=_credential)


def read_account_key(path: Path) -> str:
    """The account key from a file only its owner can read (else ConfigError naming the fix)."""
    from edgetrain.errors import ConfigError

    try:
        info = path.stat()
        text = path.read_text(encoding="utf-8").strip()
    except OSError as err:
        raise ConfigError(f"{path}: cannot read the storage account key ({err.strerror})") from None
    if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(f"{path}: the account key is readable by others; chmod 600 {path}")
    if not text:
        raise ConfigError(f"{path}: empty; put the storage account key there (one line)")
    return text


def _serve(args: argparse.Namespace) -> int:
    import logging
    import signal

    from edgetrain.broker.oidc import JwksCache, Verifier
    from edgetrain.broker.policy import load_policy
    from edgetrain.broker.server import Broker, Storage, bind
    from edgetrain.config.edge import load_edge_config

    logging.getLogger("edgetrain.broker").setLevel(logging.INFO)
    policy = load_policy(args.policy)
    storage = load_edge_config(args.config).storage
    key = read_account_key(args.account_key_file)
    verifier = Verifier(policy.issuer, policy.audience, JwksCache(policy.jwks_url))
    broker = Broker(policy, verifier, Storage(storage.account_name, key, storage.blob_url))
    server = bind(args.socket, broker)
    signal.signal(signal.SIGTERM, lambda *_: server.shutdown())
    logging.getLogger("edgetrain.broker").warning(
        "serving %s for %s (%d rules) on %s",
        policy.audience,
        policy.repository,
        len(policy.rules),
        args.socket,
    )
    import threading

    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.5})
    thread.start()
    try:
        thread.join()
    except KeyboardInterrupt:
        server.shutdown()
        thread.join()
    server.server_close()
    args.socket.unlink(missing_ok=True)
    return 0


def _credential(args: argparse.Namespace) -> int:
    from edgetrain.broker import client
    from edgetrain.broker.policy import load_policy
    from edgetrain.config.edge import load_edge_config
    from edgetrain.errors import ConfigError
    from edgetrain.storage.connection import api_version

    repo = args.repo.resolve()
    storage = load_edge_config(repo / args.config).storage
    policy_path = repo / args.policy
    audience = load_policy(policy_path).audience if policy_path.is_file() else client.DEFAULT_AUDIENCE
    want: dict[str, str] = {}
    for item in args.want:
        container, sep, letters = item.partition("=")
        if not sep or not container:
            raise ConfigError(f"--want {item!r}: use CONTAINER=LETTERS, e.g. {storage.dvc_container}=rl")
        want[container] = letters
    environ = dict(os.environ)
    socket_path = Path(environ.get(client.SOCKET_ENV) or client.DEFAULT_SOCKET)
    token = client.id_token(audience, environ)
    grant = client.ask_broker(socket_path, token, want or None)
    client.export(
        grant,
        repo=repo,
        raw_container=storage.raw_container,
        api_version=api_version(storage),
        environ=environ,
    )
    return 0
