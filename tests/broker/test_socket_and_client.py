"""The broker's socket answers every bad request with 4xx JSON; the job's client fails with one line, writes
nothing, and on success masks every secret before it exports the SAS (DVC then uses it for real)."""

from __future__ import annotations

import json
import socket
import subprocess
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from azure.storage.blob import BlobServiceClient
from tests.broker.conftest import Claims, make_broker
from tests.conftest import REPO_ROOT, STACK_HUB_VERSION, subprocess_env
from tests.rehearsal.oidc import Issuer

from edgetrain.broker import client, server
from edgetrain.broker.oidc import Verifier
from edgetrain.broker.policy import Policy
from edgetrain.broker.server import BrokerThread
from edgetrain.storage.private_standin import Standin


def raw_request(path: Path, data: bytes, *, shut: bool = True) -> tuple[int, dict[str, Any]]:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(30)
        sock.connect(str(path))
        sock.sendall(data)
        if shut:
            sock.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), json.loads(body)


def post(body: bytes, path: str = "/v1/sas", method: str = "POST", length: int | None = None) -> bytes:
    size = len(body) if length is None else length
    return f"{method} {path} HTTP/1.0\r\nContent-Length: {size}\r\n\r\n".encode() + body


def test_bad_requests_get_4xx_json(serving: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cases = {
        "not json": (post(b"{nope"), 400),
        "no token": (post(b'{"want": {}}'), 400),
        "want not letters": (post(b'{"token": "a.b.c", "want": {"raw": 5}}'), 400),
        "bad token": (post(b'{"token": "a.b.c"}'), 403),
        "route": (post(b"{}", path="/v1/other"), 404),
        "method": (post(b"", method="GET"), 405),
        "too large": (post(b"x", length=server.MAX_BODY + 1), 413),
        "no length": (b"POST /v1/sas HTTP/1.0\r\n\r\n", 411),
        "bad length": (b"POST /v1/sas HTTP/1.0\r\nContent-Length: ten\r\n\r\n", 400),
        "short body": (post(b"{}", length=100), 400),
        "garbage": (b"\x00\x01 what\r\n\r\n", 400),
    }
    for name, (data, status) in cases.items():
        got, body = raw_request(serving, data)
        assert (got, name) == (status, name)
        assert set(body) == {"error", "message"}, name
    monkeypatch.setattr(server._Handler, "timeout", 0.3)
    status, body = raw_request(serving, post(b"", length=10), shut=False)  # a client that never sends
    assert status == 408


def test_client_names_the_fix_when_the_broker_is_down(tmp_path: Path, issuer: Issuer, claims: Claims) -> None:
    with pytest.raises(client.CredentialError, match=r"not running at .*systemctl start edgetrain-broker"):
        client.ask_broker(tmp_path / "missing.sock", issuer.token(claims()))


def test_client_without_id_token_permission_names_it() -> None:
    with pytest.raises(client.CredentialError, match=r"id-token: write"):
        client.id_token("edgetrain-storage-broker", {})


class _TokenEndpoint(BaseHTTPRequestHandler):
    """GitHub's ID-token endpoint, reduced to what the client calls (audience in, {"value"} out)."""

    answers: ClassVar[dict[str, str]] = {}

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        if self.headers.get("Authorization") != "Bearer request-token":
            self.send_response(403)
            self.end_headers()
            return
        audience = self.path.split("audience=", 1)[-1]
        body = json.dumps({"value": self.answers.get(audience, "")}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def token_endpoint(issuer: Issuer, claims: Claims) -> Iterator[dict[str, str]]:
    _TokenEndpoint.answers = {"edgetrain-storage-broker": issuer.token(claims())}
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _TokenEndpoint)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield {
        "ACTIONS_ID_TOKEN_REQUEST_URL": f"http://127.0.0.1:{httpd.server_address[1]}/token?api-version=2.0",
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "request-token",
    }
    httpd.shutdown()
    httpd.server_close()


def _job_repo(tmp_path: Path, containers: dict[str, str]) -> Path:
    """A job's checkout: the template's DVC remotes and config, pointed at this test's containers."""
    repo = tmp_path / "job"
    (repo / ".dvc").mkdir(parents=True)
    (repo / ".dvc" / "config").write_text(
        "[core]\n    remote = stackhub-cache\n    analytics = false\n"
        + "".join(
            f"['remote \"{name}\"']\n    url = azure://{containers[role]}\n"
            for name, role in (("stackhub-cache", "dvc-cache"), ("stackhub-raw", "raw"), ("pr", "dvc-pr"))
        )
    )
    return repo


POLICY = REPO_ROOT / "deploy" / "edge-runner" / "broker-policy.yaml"
EDGETRAIN = str(REPO_ROOT / ".venv" / "bin" / "edgetrain")


def _run_cli(
    repo: Path, env: dict[str, str], config: Path = REPO_ROOT / "config" / "edge.yaml"
) -> subprocess.CompletedProcess[str]:
    args = ["broker", "credential", "--repo", str(repo), "--config", str(config), "--policy", str(POLICY)]
    return subprocess.run(
        [EDGETRAIN, *args],
        env=subprocess_env(**env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip


def test_refused_job_gets_one_line_and_nothing_is_written(
    tmp_path: Path, serving: Path, token_endpoint: dict[str, str], issuer: Issuer, claims: Claims
) -> None:
    _TokenEndpoint.answers = {"edgetrain-storage-broker": issuer.token(claims(environment=None))}
    github_env = tmp_path / "github_env"
    github_env.write_text("")
    env = {**token_endpoint, "GITHUB_ENV": str(github_env), "EDGETRAIN_BROKER_SOCKET": str(serving)}
    done = _run_cli(_job_repo(tmp_path, {"raw": "raw", "dvc-cache": "dvc-cache", "dvc-pr": "dvc-pr"}), env)
    assert done.returncode == client.CredentialError.exit_code
    assert done.stderr.strip().splitlines() == [
        "edgetrain: error: the storage broker refused: environment: missing (the job must name an "
        "environment; GitHub sets the rest); this job's claims get no storage "
        "(see docs/storage-credentials.md)"
    ]
    assert github_env.read_text() == ""
    down = _run_cli(tmp_path, {**env, "EDGETRAIN_BROKER_SOCKET": str(tmp_path / "gone.sock")})
    assert down.returncode == client.CredentialError.exit_code
    assert len(down.stderr.strip().splitlines()) == 1
    assert "systemctl start edgetrain-broker" in down.stderr
    assert github_env.read_text() == ""


def test_unreachable_storage_is_one_line_naming_the_endpoint(  # noqa: PLR0917 - fixtures
    tmp_path: Path, policy: Policy, verifier: Verifier, issuer: Issuer, claims: Claims, socket_path: Path
) -> None:
    dead = "http://127.0.0.1:9/devstoreaccount1"  # discard port: nothing listens
    github_env = tmp_path / "github_env"
    github_env.write_text("")
    with BrokerThread(socket_path, make_broker(policy, verifier, dead)):
        grant = client.ask_broker(socket_path, issuer.token(claims()))
    unreachable = r"storage endpoint http://127.0.0.1:9/.* is unreachable .*check storage.blob_endpoint"
    with pytest.raises(client.CredentialError, match=unreachable):
        client.export(
            grant,
            repo=_job_repo(tmp_path, {"raw": "raw", "dvc-cache": "dvc-cache", "dvc-pr": "dvc-pr"}),
            raw_container="raw",
            api_version=STACK_HUB_VERSION,
            environ={"GITHUB_ENV": str(github_env), "RUNNER_TEMP": str(tmp_path)},
        )
    assert github_env.read_text() == ""


def test_pull_request_job_end_to_end_masks_exports_and_dvc_pushes_only_to_its_container(  # noqa: PLR0917 - fixtures
    tmp_path: Path,
    standin: Standin,
    policy: Policy,
    verifier: Verifier,
    issuer: Issuer,
    token_endpoint: dict[str, str],
    socket_path: Path,
) -> None:
    suffix = uuid.uuid4().hex[:6]
    names = {"raw": f"raw-{suffix}", "dvc-cache": f"cache-{suffix}", "dvc-pr": f"pr-{suffix}"}
    admin = BlobServiceClient.from_connection_string(standin.connection_string, api_version=STACK_HUB_VERSION)
    for name in names.values():
        admin.create_container(name)
    rules = [
        r.model_copy(update={"grants": {names[c]: p for c, p in r.grants.items()}}) for r in policy.rules
    ]
    broker = make_broker(policy.model_copy(update={"rules": rules}), verifier, standin.blob_endpoint)
    repo = _job_repo(tmp_path, names)
    github_env = tmp_path / "github_env"
    github_env.write_text("")
    config = tmp_path / "edge.yaml"
    config.write_text(
        (REPO_ROOT / "config" / "edge.yaml")
        .read_text()
        .replace("http://127.0.0.1:10000/devstoreaccount1", standin.blob_endpoint)
        .replace("raw_container: raw ", f"raw_container: {names['raw']} ")
    )
    env = {
        **token_endpoint,
        "GITHUB_ENV": str(github_env),
        "RUNNER_TEMP": str(tmp_path),
        "EDGETRAIN_BROKER_SOCKET": str(socket_path),
    }
    with BrokerThread(socket_path, broker):
        done = _run_cli(repo, env, config)
    assert done.returncode == 0, done.stderr
    exported = dict(line.split("=", 1) for line in github_env.read_text().splitlines())
    assert set(exported) == {"AZURE_STORAGE_CONNECTION_STRING", "DVC_GLOBAL_CONFIG_DIR"}
    assert "AccountKey" not in github_env.read_text()
    masks = {
        line[len("::add-mask::") :] for line in done.stdout.splitlines() if line.startswith("::add-mask::")
    }
    assert exported["AZURE_STORAGE_CONNECTION_STRING"] in masks
    dvc_config = (Path(exported["DVC_GLOBAL_CONFIG_DIR"]) / "config").read_text()
    secrets = [
        line.split("=", 1)[1].strip() for line in dvc_config.splitlines() if "connection_string" in line
    ]
    assert len(secrets) == 3
    assert set(secrets) <= masks  # every credential the job receives is masked
    for line in done.stdout.splitlines():  # and none is printed unmasked
        if not line.startswith("::add-mask::"):
            assert not any(s.split("sig=")[-1] in line for s in secrets)
    # real DVC with the exported variables: the DVC remote refuses the push, the pull-request container not
    (repo / "out.txt").write_text("pull request output\n")
    dvc_env = {**subprocess_env(), **exported, "DVC_NO_ANALYTICS": "1"}
    for cmd in (["git", "init", "-q"], ["dvc", "add", "-q", "out.txt"]):
        subprocess.run(cmd, cwd=repo, env=dvc_env, check=True, capture_output=True, timeout=120)
    push = subprocess.run(
        ["dvc", "push"], cwd=repo, env=dvc_env, capture_output=True, text=True, timeout=300, check=False
    )
    assert push.returncode != 0
    assert list(admin.get_container_client(names["dvc-cache"]).list_blobs()) == []
    push_pr = subprocess.run(
        ["dvc", "push", "-r", "pr"],
        cwd=repo,
        env=dvc_env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert push_pr.returncode == 0, push_pr.stderr
    assert len(list(admin.get_container_client(names["dvc-pr"]).list_blobs())) == 1
