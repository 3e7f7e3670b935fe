"""The broker's HTTP server on a Unix socket: ``POST /v1/sas`` with a job's OIDC token, a SAS set back.

Request: ``{"token": "<GitHub OIDC JWT>", "want": {"<container>": "rl", ...}}`` (``want`` optional: all the
job's rule grants). Answer ``200``: ``{"rule", "account", "blob_endpoint", "expires", "containers":
{"<container>": {"permissions", "sas"}}}``. Every bad request gets a 4xx JSON ``{"error", "message"}``:
400 malformed, 403 refused (the message names the claim or permission), 404/405 route, 411/413 body size,
408 a client too slow to send; 503 when the issuer's keys cannot be fetched. The body is capped
(:data:`MAX_BODY`), every connection has a read timeout, and at most :data:`MAX_CONCURRENT` requests are
served at once (more get 503). One log line per decision, never a token or a SAS.
"""

from __future__ import annotations

import json
import logging
import socketserver
import stat
import threading
from dataclasses import dataclass
from datetime import timedelta
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

from edgetrain.broker.decide import RefusedError, decide
from edgetrain.broker.oidc import REQUIRED_CLAIMS, JwksUnavailableError, TokenRefusedError, Verifier
from edgetrain.broker.policy import Policy
from edgetrain.broker.sas import container_sas

log = logging.getLogger("edgetrain.broker")
MAX_BODY = 32 * 1024
READ_TIMEOUT_S = 10.0
MAX_CONCURRENT = 16
ROUTE = "/v1/sas"


@dataclass(frozen=True)
class Storage:
    account_name: str
    account_key: str
    blob_endpoint: str


class HttpError(Exception):
    def __init__(self, status: int, error: str, message: str) -> None:
        super().__init__(message)
        self.status, self.error = status, error


@dataclass
class Broker:
    """The decision: verify, match, sign. Independent of HTTP (tests call :meth:`issue` directly)."""

    policy: Policy
    verifier: Verifier
    storage: Storage

    def issue(self, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict) or not isinstance(body.get("token"), str):
            raise HttpError(400, "bad-request", "body: a JSON object with a string 'token' is required")
        want = body.get("want")
        if want is not None and (
            not isinstance(want, dict) or not all(isinstance(v, str) for v in want.values())
        ):
            raise HttpError(400, "bad-request", "want: an object of container -> permission letters")
        try:
            claims = self.verifier.verify(body["token"])
        except TokenRefusedError as err:
            log.warning("refused: %s", err)
            kind = (
                "refused" if err.check in REQUIRED_CLAIMS else "token-refused"
            )  # a job's claims vs a bad token
            raise HttpError(403, kind, str(err)) from None
        except JwksUnavailableError as err:
            log.error("cannot verify: %s", err)
            raise HttpError(503, "issuer-keys-unavailable", str(err)) from None
        who = f"{claims['job_workflow_ref']} ({claims['event_name']}, env {claims['environment']})"
        try:
            grant = decide(self.policy, claims, want)
        except RefusedError as err:
            log.warning("refused %s: %s", who, err)
            raise HttpError(403, "refused", str(err)) from None
        lifetime = timedelta(minutes=self.policy.sas_minutes)
        issued = {
            name: container_sas(
                self.storage.account_name, self.storage.account_key, name, letters, lifetime=lifetime
            )
            for name, letters in grant.containers.items()
        }
        expires = min(s.expires for s in issued.values())
        log.warning(
            "granted %s to %s: %s until %s",
            grant.rule,
            who,
            ", ".join(f"{c}={p}" for c, p in grant.containers.items()),
            expires.isoformat(),
        )
        return {
            "rule": grant.rule,
            "account": self.storage.account_name,
            "blob_endpoint": self.storage.blob_endpoint,
            "expires": expires.isoformat(),
            "containers": {c: {"permissions": s.permissions, "sas": s.token} for c, s in issued.items()},
        }


class _Handler(BaseHTTPRequestHandler):
    server: _UnixServer
    timeout = READ_TIMEOUT_S
    protocol_version = "HTTP/1.0"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: ARG002 - the broker logs decisions only
        return

    def address_string(self) -> str:
        return "unix"

    def _send(self, status: int, payload: dict[str, Any]) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:  # noqa: ARG002 - http.server's signature
        # http.server's own errors (bad request line, header too long...) as JSON too, with a status line
        # even when the garbage looked like HTTP/0.9
        self.request_version = "HTTP/1.0"
        self.close_connection = True
        self._send(code, {"error": "bad-request", "message": message or "malformed request"})

    def _read_body(self) -> Any:
        length_header = self.headers.get("Content-Length")
        if length_header is None:
            raise HttpError(411, "length-required", "Content-Length is required")
        try:
            length = int(length_header)
        except ValueError:
            raise HttpError(400, "bad-request", "Content-Length is not a number") from None
        if length < 0 or length > MAX_BODY:
            raise HttpError(413, "too-large", f"the body must be at most {MAX_BODY} bytes")
        try:
            raw = self.rfile.read(length)
        except TimeoutError:
            raise HttpError(
                408, "timeout", f"the body did not arrive within {READ_TIMEOUT_S:.0f} s"
            ) from None
        if len(raw) != length:
            raise HttpError(400, "bad-request", "the body is shorter than Content-Length")
        try:
            return json.loads(raw)
        except ValueError:
            raise HttpError(400, "bad-request", "the body is not JSON") from None

    def _dispatch(self, method: str) -> None:
        if not self.server.slots.acquire(blocking=False):
            self._send(503, {"error": "busy", "message": "too many requests at once; retry"})
            return
        try:
            if self.path != ROUTE:
                raise HttpError(404, "not-found", f"{self.path[:100]}: the only route is POST {ROUTE}")
            if method != "POST":
                raise HttpError(405, "method-not-allowed", f"use POST {ROUTE}")
            self._send(200, self.server.broker.issue(self._read_body()))
        except HttpError as err:
            self._send(err.status, {"error": err.error, "message": str(err)})
        except Exception:  # a bug must not leave the job hanging or leak a traceback to it
            log.exception("internal error")
            self._send(500, {"error": "internal", "message": "the broker failed; see its journal"})
        finally:
            self.server.slots.release()

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_GET(self) -> None:
        self._dispatch("GET")

    do_PUT = do_DELETE = do_PATCH = do_HEAD = do_GET  # noqa: N815 - http.server's names


class _UnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def __init__(self, path: Path, broker: Broker) -> None:
        self.broker = broker
        self.slots = threading.BoundedSemaphore(MAX_CONCURRENT)
        super().__init__(str(path), _Handler)


def bind(path: Path, broker: Broker) -> _UnixServer:
    """A server bound at ``path`` (a stale socket there is replaced; any other file is an error)."""
    if path.exists() or path.is_symlink():
        if not stat.S_ISSOCK(path.lstat().st_mode):
            raise FileExistsError(f"{path} exists and is not a socket; refusing to replace it")
        path.unlink()
    server = _UnixServer(path, broker)
    # jobs run as another uid; the token is the authentication, the directory's mode the reach
    path.chmod(0o666)
    return server


class BrokerThread:
    """Serve in a background thread (tests, the rehearsal): ``with BrokerThread(path, broker):``."""

    def __init__(self, path: Path, broker: Broker) -> None:
        self.path, self.broker = path, broker

    def __enter__(self) -> BrokerThread:
        self._server = bind(self.path, self.broker)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        )
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self.path.unlink(missing_ok=True)
