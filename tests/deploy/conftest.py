"""A loopback stand-in for the GitHub API calls the edge runner host makes (just-in-time runner configuration,
GitHub App installation token), enforcing auth and the request body as api.github.com does, and a fake runner
tarball."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import tarfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import jwt
import pytest

JIT_PATH = "/repos/{repo}/actions/runners/generate-jitconfig"
APP_TOKEN_PATH = "/app/installations/{installation}/access_tokens"


@dataclass
class GitHubStandin:
    """Answers POST /repos/<owner>/<repo>/actions/runners/generate-jitconfig like api.github.com."""

    repo: str
    accepted_token: str
    issued: list[str] = field(default_factory=list)
    calls: list[tuple[str, str, str | None]] = field(default_factory=list)
    bodies: list[dict] = field(default_factory=list)
    url: str = ""
    #: a GitHub App: its id, installation and public key (PEM); installation tokens it has issued
    app_id: str = "4242"
    installation_id: str = "77"
    app_public_pem: bytes | None = None
    installation_tokens: list[str] = field(default_factory=list)

    def authorized(self, auth: str | None) -> bool:
        return auth in {f"Bearer {t}" for t in [self.accepted_token, *self.installation_tokens]}


def _handler(state: GitHubStandin) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            return

        def _send(self, status: int, body: dict) -> None:
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def do_POST(self) -> None:
            auth = self.headers.get("Authorization")
            state.calls.append(("POST", self.path, auth))
            length = int(self.headers.get("Content-Length") or 0)
            if length > 65536:
                self._send(413, {"message": "Payload too large"})
                return
            raw = self.rfile.read(length)
            if self.path == APP_TOKEN_PATH.format(installation=state.installation_id):
                self._installation_token(auth)
                return
            if self.path != JIT_PATH.format(repo=state.repo):
                self._send(404, {"message": "Not Found", "status": "404"})
                return
            if not state.authorized(auth):
                self._send(401, {"message": "Bad credentials", "status": "401"})
                return
            try:
                body = json.loads(raw)
            except ValueError:
                self._send(400, {"message": "Problems parsing JSON", "status": "400"})
                return
            labels = body.get("labels") if isinstance(body, dict) else None
            if (
                not isinstance(body, dict)
                or not isinstance(body.get("name"), str)
                or not isinstance(body.get("runner_group_id"), int)
                or not isinstance(labels, list)
                or not 1 <= len(labels) <= 100
                or not all(isinstance(label, str) and label for label in labels)
            ):
                self._send(422, {"message": "Invalid request.", "status": "422"})
                return
            state.bodies.append(body)
            runner_id = 100 + len(state.issued)
            secret = f"JITCONFIG{len(state.issued):04d}EXAMPLE"
            state.issued.append(secret)
            encoded = base64.b64encode(json.dumps({".runner": secret}).encode()).decode()
            self._send(
                201,
                {
                    "runner": {"id": runner_id, "name": body["name"], "labels": labels, "status": "offline"},
                    "encoded_jit_config": encoded,
                },
            )

        def _installation_token(self, auth: str | None) -> None:
            """As GitHub: an RS256 JWT signed by the App's key, issuer = app id, at most 10 minutes long."""
            try:
                assert state.app_public_pem is not None
                assert auth is not None
                assert auth.startswith("Bearer ")
                claims = jwt.decode(
                    auth.removeprefix("Bearer "),
                    state.app_public_pem,
                    algorithms=["RS256"],
                    options={"require": ["iat", "exp", "iss"]},
                    leeway=60,
                )
                assert str(claims["iss"]) == state.app_id
                assert claims["exp"] - claims["iat"] <= 660
            except (AssertionError, jwt.PyJWTError):
                self._send(401, {"message": "A JSON web token could not be decoded", "status": "401"})
                return
            token = f"ghs_INSTALLATION{len(state.installation_tokens):04d}"
            state.installation_tokens.append(token)
            self._send(201, {"token": token, "expires_at": "2026-12-04T19:00:00Z"})

        def do_GET(self) -> None:
            self._send(404, {"message": "Not Found", "status": "404"})

    return Handler


@pytest.fixture
def github_api() -> Iterator[GitHubStandin]:
    state = GitHubStandin(repo="edgetrain-org/edgetrain", accepted_token="github_pat_EXAMPLE")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


# The runner tarball cannot be downloaded here: a tarball with the runner's entry points, whose config.sh
# records its arguments (as the real one would send them to GitHub) and writes .runner.
CONFIG_SH = """#!/bin/sh
printf '%s\\n' "$@" > "$(dirname "$0")/config.args"
echo '{"agentName": "edge"}' > "$(dirname "$0")/.runner"
"""
RUN_SH = "#!/bin/sh\nexit 0\n"


@pytest.fixture(scope="session")
def runner_tarball(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    path = tmp_path_factory.mktemp("runner") / "actions-runner-linux-x64.tar.gz"
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, text in (("config.sh", CONFIG_SH), ("run.sh", RUN_SH), ("bin/Runner.Listener", RUN_SH)):
            info = tarfile.TarInfo(name)
            data = text.encode()
            info.size, info.mode = len(data), 0o755
            tar.addfile(info, io.BytesIO(data))
    path.write_bytes(buffer.getvalue())
    return path, hashlib.sha256(path.read_bytes()).hexdigest()
