"""A loopback stand-in for the Azure ML REST endpoints azure-ai-ml calls, with Azurite as blob store.

- ``arm``: a TLS (self-signed, generated here) ``ThreadingHTTPServer`` on 127.0.0.1 that answers the
  workspace, model-version and datastore calls under
  ``/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.MachineLearningServices/workspaces/{ws}``.
  MLClient reaches it through its custom-cloud support: ``cloud_metadata={"resource_manager": <url>, ...}``.
- ``proxy``: the SDK always builds the datastore URL as ``https://{account}.blob.{storage_endpoint}``;
  pointing ``HTTPS_PROXY`` at this plain-HTTP proxy turns each ``CONNECT`` into TLS terminated here
  (same certificate, which also covers ``*.blob.<suffix>``) and forwards every blob request to the
  Azurite endpoint, keeping the ``Host`` header so Azurite reads the account from it.

Every request (ARM and blob) is appended to ``log`` as :class:`Call`; ``fail`` queues canned errors.
"""

from __future__ import annotations

import datetime as dt
import http.client
import ipaddress
import json
import re
import ssl
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.rehearsal import azureml_online

STORAGE_SUFFIX = "core.edgetrain.test"  # azure-storage-blob finds the account name before ".blob.core."
CONTAINER = "azureml-blobstore-standin"
DATASTORE = "workspaceblobstore"
_PREFIX = (
    r"^/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/"
    r"Microsoft\.MachineLearningServices/workspaces/(?P<ws>[^/]+)"
)


@dataclass
class Call:
    method: str
    host: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any
    status: int = 0

    @property
    def is_blob(self) -> bool:
        return ".blob." in self.host


@dataclass
class Failure:
    method: str
    pattern: str
    status: int
    code: str
    times: int = 1


@dataclass
class State:
    sub: str
    rg: str
    ws: str
    account: str
    account_key: str
    azurite: tuple[str, int]
    arm_url: str = ""
    log: list[Call] = field(default_factory=list)
    models: dict[str, dict[str, dict]] = field(default_factory=dict)
    failures: list[Failure] = field(default_factory=list)
    #: When set, ARM calls must carry ``Authorization: Bearer <token>`` with a token it accepts.
    accept_token: Callable[[str], bool] | None = None
    #: Online endpoints and deployments (:mod:`tests.rehearsal.azureml_online`).
    online: Any = None
    lock: threading.Lock = field(default_factory=threading.Lock)


def make_certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed CA certificate for 127.0.0.1, localhost and ``*.blob.<suffix>``; returns (cert, key)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "edgetrain azureml stand-in")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                    x509.DNSName("localhost"),
                    x509.DNSName(f"*.blob.{STORAGE_SUFFIX}"),
                ]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "standin-ca.pem", folder / "standin-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Any

    def log_message(self, format: str, *args: Any) -> None:
        return

    @property
    def state(self) -> State:
        return self.server.state

    # -- plumbing -------------------------------------------------------------------------------
    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, status: int, payload: Any = None, headers: dict[str, str] | None = None) -> None:
        data = b"" if payload is None else json.dumps(payload).encode()
        self.send_response(status)
        if payload is not None:
            self.send_header("Content-Type", "application/json; charset=utf-8")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, code: str, message: str) -> None:
        self._send(status, {"error": {"code": code, "message": message}})

    def _record(self, body: bytes) -> Call:
        parts = urlsplit(self.path)
        host = self.headers.get("Host", "")
        try:
            parsed: Any = json.loads(body) if body and not host.count(".blob.") else None
        except ValueError:
            parsed = None
        call = Call(
            self.command,
            host,
            parts.path,
            parse_qs(parts.query),
            dict(self.headers.items()),
            parsed if parsed is not None else (len(body) if body else None),
        )
        with self.state.lock:
            self.state.log.append(call)
        return call

    # -- verbs ----------------------------------------------------------------------------------
    def do_CONNECT(self) -> None:
        self.send_response(200, "Connection established")
        self.end_headers()
        self.wfile.flush()
        tls = self.server.tls_context.wrap_socket(self.connection, server_side=True)
        try:
            Handler(tls, self.client_address, self.server)
        except (OSError, ssl.SSLError):
            pass  # the client went away mid-stream
        finally:
            self.close_connection = True
            tls.close()

    def do_GET(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_HEAD(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        body = self._body()
        call = self._record(body)
        if call.is_blob:
            call.status = self._forward_blob(body)
            return
        for failure in list(self.state.failures):
            if failure.method == self.command and re.search(failure.pattern, call.path):
                failure.times -= 1
                if failure.times <= 0:
                    self.state.failures.remove(failure)
                call.status = failure.status
                self._error(failure.status, failure.code, f"stand-in: injected {failure.code}")
                return
        if call.path == "/metadata/endpoints" and self.command == "GET":
            call.status = 200
            self._send(200, self._cloud_metadata())
            return
        token = self.headers.get("Authorization", "").removeprefix("Bearer ")
        if self.state.accept_token is not None and not self.state.accept_token(token):
            call.status = 401
            self._error(
                401, "InvalidAuthenticationToken", "stand-in: the access token is not one Entra issued"
            )
            return
        call.status = self._arm(call)

    def _cloud_metadata(self) -> list[dict]:
        """ARM's cloud metadata (what ``ARM_CLOUD_METADATA_URL`` serves for sovereign clouds)."""
        arm = self.state.arm_url
        return [
            {
                "name": f"EdgetrainLoopback{urlsplit(arm).port}",
                "portal": "https://portal.edgetrain.test",
                "resourceManager": f"{arm}/",
                "authentication": {"loginEndpoint": "https://login.invalid/", "audiences": [f"{arm}/"]},
                "suffixes": {"storage": STORAGE_SUFFIX},
            }
        ]

    def _forward_blob(self, body: bytes) -> int:
        host, port = self.state.azurite
        conn = http.client.HTTPConnection(host, port, timeout=30)
        headers = {
            k: v for k, v in self.headers.items() if k.lower() not in {"connection", "proxy-connection"}
        }
        conn.request(self.command, self.path, body=body or None, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        self.send_response(resp.status, resp.reason)
        for k, v in resp.getheaders():
            if k.lower() not in {
                "connection",
                "transfer-encoding",
                "content-length",
                "keep-alive",
                "server",
                "date",
            }:
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        conn.close()
        return resp.status

    # -- Azure ML resources ---------------------------------------------------------------------
    def _arm(self, call: Call) -> int:
        st = self.state
        match = re.match(_PREFIX + r"(?P<rest>/.*)?$", call.path)
        if not match or (match["sub"], match["rg"].lower(), match["ws"]) != (st.sub, st.rg.lower(), st.ws):
            self._error(404, "ResourceNotFound", f"stand-in: no such resource {call.path}")
            return 404
        base = call.path[: match.end("ws")]
        rest = match["rest"] or ""
        if rest == "" and self.command == "GET":
            self._send(200, self._workspace(base))
            return 200
        if rest == "/datastores" and self.command == "GET":
            self._send(200, {"value": [self._datastore(base)]})
            return 200
        if rest == f"/datastores/{DATASTORE}" and self.command == "GET":
            self._send(200, self._datastore(base))
            return 200
        if rest == f"/datastores/{DATASTORE}/listSecrets" and self.command == "POST":
            self._send(200, {"secretsType": "AccountKey", "key": st.account_key})
            return 200
        versions = re.match(r"^/models/(?P<name>[^/]+)/versions(?:/(?P<version>[^/]+))?$", rest)
        if versions:
            return self._model_versions(base, versions["name"], versions["version"], call)
        container = re.match(r"^/models/(?P<name>[^/]+)$", rest)
        if container and self.command == "GET":
            name = container["name"]
            if name not in st.models or not st.models[name]:
                self._error(404, "UserError", f"stand-in: model {name} not found")
                return 404
            latest = max(st.models[name], key=lambda v: int(v) if v.isdigit() else -1)
            self._send(
                200,
                {
                    "id": f"{base}/models/{name}",
                    "name": name,
                    "properties": {"latestVersion": latest, "nextVersion": str(int(latest) + 1)},
                },
            )
            return 200
        if st.online is not None:
            self.body = call.body
            handled = azureml_online.handle(self, base, rest)
            if handled is not None:
                return handled
        self._error(404, "NotImplementedInStandin", f"stand-in: {self.command} {rest} not implemented")
        return 404

    def _model_versions(self, base: str, name: str, version: str | None, call: Call) -> int:
        st = self.state
        with st.lock:
            stored = st.models.setdefault(name, {})
            if version is None and self.command == "GET":
                items = sorted(
                    stored.values(), key=lambda r: int(r["name"]) if r["name"].isdigit() else -1, reverse=True
                )
                self._send(200, {"value": items})
                return 200
            if version is not None and self.command == "GET":
                if version not in stored:
                    self._error(404, "UserError", f"stand-in: {name}:{version} not found")
                    return 404
                self._send(200, stored[version])
                return 200
            if version is not None and self.command == "PUT":
                props = dict((call.body or {}).get("properties") or {})
                old = stored.get(version)
                if old and old["properties"].get("modelUri") != props.get("modelUri"):
                    self._error(409, "UserError", "stand-in: cannot change the path of an existing version")
                    return 409
                created = old["systemData"]["createdAt"] if old else _now()
                record = {
                    "id": f"{base}/models/{name}/versions/{version}",
                    "name": version,
                    "type": "Microsoft.MachineLearningServices/workspaces/models/versions",
                    # What the service fills in that the SDK then reads back.
                    "properties": {
                        "flavors": {},
                        "isArchived": False,
                        "isAnonymous": False,
                        **props,
                        "provisioningState": "Succeeded",
                    },
                    "systemData": {
                        "createdAt": created,
                        "createdBy": "standin",
                        "createdByType": "User",
                        "lastModifiedAt": _now(),
                    },
                }
                stored[version] = record
                self._send(200 if old else 201, record)
                return 200 if old else 201
        self._error(405, "MethodNotAllowed", "stand-in: unsupported")
        return 405

    def _workspace(self, base: str) -> dict:
        st = self.state
        return {
            "id": base,
            "name": st.ws,
            "type": "Microsoft.MachineLearningServices/workspaces",
            "location": "westeurope",
            "kind": "Default",
            "properties": {
                "friendlyName": st.ws,
                "workspaceId": str(uuid.UUID(int=7)),
                "discoveryUrl": f"{st.arm_url}/discovery",
                "provisioningState": "Succeeded",
            },
        }

    def _datastore(self, base: str) -> dict:
        st = self.state
        return {
            "id": f"{base}/datastores/{DATASTORE}",
            "name": DATASTORE,
            "type": "Microsoft.MachineLearningServices/workspaces/datastores",
            "properties": {
                "datastoreType": "AzureBlob",
                "accountName": st.account,
                "containerName": CONTAINER,
                "endpoint": STORAGE_SUFFIX,
                "protocol": "https",
                "isDefault": True,
                "credentials": {"credentialsType": "AccountKey"},
                "tags": {},
                "properties": {},
            },
        }


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, state: State, tls_context: ssl.SSLContext, *, tls: bool) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.state = state
        self.tls_context = tls_context
        if tls:
            self.socket = tls_context.wrap_socket(self.socket, server_side=True)


class AzureMLStandin:
    """``with AzureMLStandin(tmp, azurite_endpoint, key) as s:`` then ``s.cloud_kwargs()``, ``s.env()``."""

    def __init__(
        self,
        folder: Path,
        azurite_endpoint: str,
        account_key: str,
        *,
        subscription: str,
        resource_group: str,
        workspace: str,
    ) -> None:
        parts = urlsplit(azurite_endpoint)
        account = parts.path.strip("/") or "devstoreaccount1"
        self.state = State(
            subscription,
            resource_group,
            workspace,
            account,
            account_key,
            (parts.hostname or "127.0.0.1", parts.port or 80),
        )
        self.cert, key = make_certificate(folder)
        self._context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._context.load_cert_chain(self.cert, key)
        self.azurite_endpoint = azurite_endpoint
        self._servers: list[_Server] = []
        self.online = azureml_online.Online(folder)
        self.state.online = self.online

    def __enter__(self) -> AzureMLStandin:
        self.arm = _Server(self.state, self._context, tls=True)
        self.proxy = _Server(self.state, self._context, tls=False)
        for server in (self.arm, self.proxy):
            threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
            self._servers.append(server)
        self.state.arm_url = f"https://127.0.0.1:{self.arm.server_address[1]}"
        # azure-ai-ml never overwrites a registered cloud, so each stand-in registers its own name.
        self.cloud = f"EdgetrainLoopback{self.arm.server_address[1]}"
        self._create_container()
        self.online.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.online.stop()
        for server in self._servers:
            server.shutdown()
            server.server_close()

    def _create_container(self) -> None:
        from azure.storage.blob import BlobServiceClient

        service = BlobServiceClient(
            self.azurite_endpoint,
            credential={"account_name": self.state.account, "account_key": self.state.account_key},
        )
        container = service.get_container_client(CONTAINER)
        if not container.exists():
            container.create_container()

    # -- what tests use ------------------------------------------------------------------------
    @property
    def log(self) -> list[Call]:
        return self.state.log

    def cloud_kwargs(self) -> dict[str, Any]:
        return {
            "cloud": self.cloud,
            "cloud_metadata": {
                "azure_portal": "https://portal.invalid/",
                "resource_manager": f"{self.state.arm_url}/",
                "active_directory": "https://login.invalid/",
                "aml_resource_id": "https://ml.invalid/",
                "storage_endpoint": STORAGE_SUFFIX,
                "registry_discovery_endpoint": "https://registry.invalid/",
            },
        }

    def subprocess_env(self) -> dict[str, str]:
        """Environment for another process (e.g. a workflow step): the cloud through ARM metadata."""
        return {
            **self.env(),
            "ARM_CLOUD_METADATA_URL": f"{self.state.arm_url}/metadata/endpoints?api-version=2022-09-01",
        }

    def env(self) -> dict[str, str]:
        """Environment for the client: trust our CA, reach blob storage through our proxy, ARM directly."""
        proxy = f"http://127.0.0.1:{self.proxy.server_address[1]}"
        return {
            "REQUESTS_CA_BUNDLE": str(self.cert),
            "HTTPS_PROXY": proxy,
            "https_proxy": proxy,
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
        }

    def fail(self, method: str, pattern: str, status: int, code: str, times: int = 1) -> None:
        self.state.failures.append(Failure(method, pattern, status, code, times))

    def blob(self, path: str) -> bytes:
        from azure.storage.blob import BlobServiceClient

        service = BlobServiceClient(
            self.azurite_endpoint,
            credential={"account_name": self.state.account, "account_key": self.state.account_key},
        )
        return service.get_blob_client(CONTAINER, path).download_blob().readall()
