"""Online endpoints and deployments for the Azure ML stand-in (``azureml_standin``), and their scoring.

ARM side (what azure-ai-ml sends, validated as the service does, 4xx JSON otherwise): environment versions
(the anonymous custom-container environment a deployment names), online endpoints (managed, or Kubernetes
with a ``compute`` that must be an attached cluster), deployments (compute type matching the endpoint, an
environment with an image by digest and the container's routes, an instance type for managed), traffic and
mirrored traffic (only to existing deployments, live traffic summing to 0 or 100, at most 50 mirrored, never
to a deployment taking live traffic). PUTs and DELETEs of endpoints and deployments are long-running
operations: ``201``/``202`` with ``Azure-AsyncOperation`` whose status is ``InProgress`` until the work is
done, then ``Succeeded`` or ``Failed`` with the error, as ARM polling expects.

Data side: each endpoint's scoring URI is a loopback router that checks the endpoint key (or token) and
sends each request to one deployment by the traffic weights (``azureml-model-deployment`` names one
directly), copying the mirrored share to the mirror. A deployment really serves: provisioning it starts
``edgetrain serve`` from the model files that image was built from (``images``: digest -> build context, the
stand-in's "registry"); an image it does not know fails to pull, a server that exits fails the deployment.
"""

from __future__ import annotations

import random
import re
import secrets
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from edgetrain.storage.azurite import free_port

READY_TIMEOUT_S = 120.0
RETRY_AFTER = "1"
_NAME = re.compile(r"^[a-zA-Z][a-zA-Z0-9-]{1,30}[a-zA-Z0-9]$")
_DIGEST_IMAGE = re.compile(r"^[^@\s]+@sha256:[0-9a-f]{64}$")
AUTH_MODES = {"Key", "AMLToken", "AADToken"}
_PROBE = {
    "failureThreshold": 30,
    "successThreshold": 1,
    "timeout": "PT2S",
    "period": "PT10S",
    "initialDelay": "PT10S",
}
SERVICE_DEFAULTS = {
    "scaleSettings": {"scaleType": "Default"},
    "requestSettings": {"requestTimeout": "PT5S", "maxConcurrentRequestsPerInstance": 1},
    "livenessProbe": _PROBE,
    "readinessProbe": {**_PROBE, "failureThreshold": 3},
}


@dataclass
class Slot:
    process: subprocess.Popen[bytes]
    url: str
    log: Path
    routes: dict[str, str]  # the environment's inferenceConfig paths, as the service probes and routes


@dataclass
class Online:
    folder: Path
    location: str = "westeurope"
    endpoints: dict[str, dict] = field(default_factory=dict)
    deployments: dict[str, dict[str, dict]] = field(default_factory=dict)
    environments: dict[str, dict[str, dict]] = field(default_factory=dict)
    operations: dict[str, dict] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)
    #: What the registry holds, as far as this stand-in runs it: image digest -> build context.
    images: dict[str, Path] = field(default_factory=dict)
    #: Kubernetes computes attached to the workspace (Arc clusters).
    computes: set[str] = field(default_factory=set)
    slots: dict[tuple[str, str], Slot] = field(default_factory=dict)
    scored: list[tuple[str, str]] = field(default_factory=list)  # (endpoint, deployment) per request
    router: ThreadingHTTPServer | None = None
    lock: threading.RLock = field(default_factory=threading.RLock)

    # -- life cycle -------------------------------------------------------------------------------
    def start(self) -> None:
        self.router = ThreadingHTTPServer(("127.0.0.1", 0), _Router)
        self.router.online = self  # type: ignore[attr-defined]
        self.router.daemon_threads = True
        threading.Thread(
            target=self.router.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def stop(self) -> None:
        for slot in list(self.slots.values()):
            _stop(slot)
        self.slots.clear()
        if self.router is not None:
            self.router.shutdown()
            self.router.server_close()

    def scoring_uri(self, endpoint: str) -> str:
        assert self.router is not None
        return f"http://127.0.0.1:{self.router.server_address[1]}/{endpoint}/score"

    # -- slots (the deployments' containers) ----------------------------------------------------
    def provision(self, endpoint: str, name: str, image: str, routes: dict[str, str]) -> str | None:
        """Run the image's server for a deployment; ``None`` when it is ready, else the failure."""
        digest = image.rsplit("@", 1)[-1]
        context = self.images.get(digest)
        if context is None:
            return f"ImagePullFailure: image {image} not found in the registry"
        old = self.slots.pop((endpoint, name), None)
        if old:
            _stop(old)
        port = free_port()
        log = self.folder / f"{endpoint}-{name}-{port}.log"
        argv = [sys.executable, "-m", "edgetrain", "serve", "--context", str(context), "--port", str(port)]
        with log.open("wb") as sink:
            process = subprocess.Popen(argv, stdout=sink, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        slot = Slot(process, f"http://127.0.0.1:{port}", log, routes)
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if process.poll() is not None:
                return "ResourceNotReady: User container has crashed or terminated: " + _tail(log)
            try:
                if httpx.get(slot.url + routes["readinessRoute"], timeout=2).status_code == 200:
                    self.slots[(endpoint, name)] = slot
                    return None
            except httpx.TransportError:
                time.sleep(0.2)
        _stop(slot)
        return "ResourceNotReady: readiness probe did not succeed in time"

    def drop(self, endpoint: str, name: str) -> None:
        slot = self.slots.pop((endpoint, name), None)
        if slot:
            _stop(slot)


def _tail(log: Path) -> str:
    lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
    return lines[-1][:200] if lines else "no output"


def _stop(slot: Slot) -> None:
    if slot.process.poll() is None:
        slot.process.terminate()
        try:
            slot.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            slot.process.kill()
            slot.process.wait(timeout=20)


class _Router(BaseHTTPRequestHandler):
    """The endpoints' scoring URIs: ``POST /<endpoint>/score``."""

    protocol_version = "HTTP/1.1"
    server: Any

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _json(self, status: int, payload: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_POST(self) -> None:
        online: Online = self.server.online
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        match = re.match(r"^/([^/]+)/score$", self.path)
        endpoint = online.endpoints.get(match[1]) if match else None
        if endpoint is None:
            self._json(404, b'{"message": "No such endpoint"}')
            return
        name = endpoint["name"]
        token = self.headers.get("Authorization", "").removeprefix("Bearer ")
        if not token or not secrets.compare_digest(token, online.keys[name]):
            self._json(401, b'{"message": "Invalid authentication token or key"}')
            return
        props = endpoint["properties"]
        chosen = self.headers.get("azureml-model-deployment")
        if chosen is None:
            weights = {k: v for k, v in props.get("traffic", {}).items() if v}
            if not weights:
                self._json(424, b'{"message": "No valid deployments to route to"}')
                return
            chosen = random.choices(list(weights), list(weights.values()))[0]
            for mirror, share in props.get("mirrorTraffic", {}).items():
                if random.uniform(0, 100) < share and (name, mirror) in online.slots:
                    threading.Thread(target=_forward, args=(online, name, mirror, body), daemon=True).start()
        slot = online.slots.get((name, chosen))
        if slot is None:
            self._json(404, f'{{"message": "Deployment {chosen} not found"}}'.encode())
            return
        status, answer, ctype = _forward(online, name, chosen, body)
        self._json(status, answer, ctype)


def _forward(online: Online, endpoint: str, name: str, body: bytes) -> tuple[int, bytes, str]:
    slot = online.slots[(endpoint, name)]
    online.scored.append((endpoint, name))
    try:
        answer = httpx.post(
            slot.url + slot.routes["scoringRoute"],
            content=body,
            headers={"Content-Type": "application/json"},
            timeout=60,
        )
    except httpx.TransportError:
        return 502, b'{"message": "upstream request failed"}', "application/json"
    return answer.status_code, answer.content, answer.headers.get("content-type", "application/json")


# -- ARM ------------------------------------------------------------------------------------------------
def handle(h: Any, base: str, rest: str) -> int | None:
    """Answer an ARM call under the workspace if it is about online endpoints or environments."""
    online: Online = h.state.online
    m = re.match(r"^/operationsStatus/(?P<id>[^/]+)$", rest)
    if m and h.command == "GET":
        op = online.operations.get(m["id"])
        if op is None:
            return _err(h, 404, "ResourceNotFound", f"operation {m['id']} not found")
        h._send(200, {"id": f"{base}{rest}", "name": m["id"], **op})
        return 200
    m = re.match(r"^/environments/(?P<name>[^/]+)/versions/(?P<version>[^/]+)$", rest)
    if m:
        return _environment(h, base, m["name"], m["version"])
    if rest == "/onlineEndpoints" and h.command == "GET":
        h._send(200, {"value": list(online.endpoints.values())})
        return 200
    m = re.match(r"^/onlineEndpoints/(?P<ep>[^/]+)(?P<tail>/.*)?$", rest)
    if not m:
        return None
    ep, tail = m["ep"], m["tail"] or ""
    if tail == "":
        return _endpoint(h, base, ep)
    if ep not in online.endpoints:
        return _err(h, 404, "ResourceNotFound", f"endpoint {ep} not found")
    if tail == "/listKeys" and h.command == "POST":
        h._send(200, {"primaryKey": online.keys[ep], "secondaryKey": online.keys[ep][::-1]})
        return 200
    if tail == "/token" and h.command == "POST":
        h._send(
            200,
            {"accessToken": online.keys[ep], "expiryTimeUtc": int(time.time()) + 3600, "tokenType": "Bearer"},
        )
        return 200
    if tail == "/deployments" and h.command == "GET":
        h._send(200, {"value": list(online.deployments.get(ep, {}).values())})
        return 200
    m = re.match(r"^/deployments/(?P<name>[^/]+)$", tail)
    if m:
        return _deployment(h, base, ep, m["name"])
    return None


def _err(h: Any, status: int, code: str, message: str) -> int:
    h._error(status, code, f"stand-in: {message}")
    return status


def _operation(h: Any, base: str, work: Any, status: int, resource: dict | None) -> int:
    """Start ``work()`` (returns an error message or None) as a long-running operation."""
    online: Online = h.state.online
    op_id = str(uuid.uuid4())
    online.operations[op_id] = {"status": "InProgress"}

    def run() -> None:
        error = work()
        online.operations[op_id] = (
            {"status": "Failed", "error": {"code": error.split(":", 1)[0], "message": error}}
            if error
            else {"status": "Succeeded"}
        )

    threading.Thread(target=run, daemon=True).start()
    url = f"{h.state.arm_url}{base}/operationsStatus/{op_id}?api-version=2024-04-01"
    h._send(status, resource, {"Azure-AsyncOperation": url, "Retry-After": RETRY_AFTER})
    return status


def _environment(h: Any, base: str, name: str, version: str) -> int:
    online: Online = h.state.online
    stored = online.environments.setdefault(name, {})
    if h.command == "GET":
        if version not in stored:
            return _err(h, 404, "UserError", f"environment {name}:{version} not found")
        h._send(200, stored[version])
        return 200
    if h.command != "PUT":
        return _err(h, 405, "MethodNotAllowed", "unsupported")
    props = (h.body or {}).get("properties") if isinstance(h.body, dict) else None
    if not isinstance(props, dict) or not isinstance(props.get("image"), str):
        return _err(h, 400, "UserError", "environment: properties.image is required (custom container)")
    record = {"id": f"{base}/environments/{name}/versions/{version}", "name": version,
              "properties": {**props, "provisioningState": "Succeeded"}}  # fmt: skip
    created = version not in stored
    stored[version] = record
    h._send(201 if created else 200, record)
    return 201 if created else 200


def _check_traffic(online: Online, ep: str, props: dict) -> str | None:
    known = set(online.deployments.get(ep, {}))
    traffic = {k: v for k, v in (props.get("traffic") or {}).items() if v}
    mirror = {k: v for k, v in (props.get("mirrorTraffic") or {}).items() if v}
    for name in [*traffic, *mirror]:
        if name not in known:
            return f"traffic names deployment {name!r}, which does not exist on {ep}"
    if traffic and sum(traffic.values()) != 100:
        return f"traffic must add up to 100 (got {sum(traffic.values())})"
    for name, share in mirror.items():
        if share > 50:
            return f"mirrorTraffic to {name} is {share}: at most 50"
        if name in traffic:
            return f"deployment {name} cannot take live and mirrored traffic at once"
    return None


def _endpoint(h: Any, base: str, ep: str) -> int:
    online: Online = h.state.online
    if h.command == "GET":
        if ep not in online.endpoints:
            return _err(h, 404, "ResourceNotFound", f"endpoint {ep} not found")
        h._send(200, online.endpoints[ep])
        return 200
    if h.command != "PUT":
        return _err(h, 405, "MethodNotAllowed", "unsupported")
    body = h.body if isinstance(h.body, dict) else {}
    props = body.get("properties")
    if not _NAME.match(ep):
        return _err(h, 400, "BadArgument", f"endpoint name {ep!r} is not valid")
    if not isinstance(props, dict) or props.get("authMode") not in AUTH_MODES:
        return _err(h, 400, "BadArgument", f"properties.authMode must be one of {sorted(AUTH_MODES)}")
    old = online.endpoints.get(ep)
    compute = props.get("compute")
    if compute is not None:
        name = str(compute).rsplit("/", 1)[-1]
        if name not in online.computes:
            return _err(
                h,
                400,
                "BadArgument",
                f"compute {compute} is not a Kubernetes compute attached to the workspace",
            )
    if old and (old["properties"].get("compute") is None) != (compute is None):
        return _err(h, 409, "Conflict", f"endpoint {ep}: cannot change between managed and Kubernetes")
    problem = _check_traffic(online, ep, props)
    if problem:
        return _err(h, 400, "BadArgument", problem)
    online.keys.setdefault(ep, secrets.token_urlsafe(24))
    record = {
        "id": f"{base}/onlineEndpoints/{ep}", "name": ep, "location": online.location,
        "type": "Microsoft.MachineLearningServices/workspaces/onlineEndpoints",
        "identity": {"type": "SystemAssigned"}, "tags": body.get("tags") or {},
        "kind": "K8S" if compute else "Managed",
        "properties": {
            **props, "traffic": props.get("traffic") or {}, "mirrorTraffic": props.get("mirrorTraffic") or {},
            "scoringUri": online.scoring_uri(ep), "provisioningState": "Updating" if old else "Creating",
        },
    }  # fmt: skip
    online.endpoints[ep] = record

    def work() -> str | None:
        record["properties"]["provisioningState"] = "Succeeded"
        return None

    return _operation(h, base, work, 200 if old else 201, record)


def _deployment(h: Any, base: str, ep: str, name: str) -> int:
    online: Online = h.state.online
    stored = online.deployments.setdefault(ep, {})
    if h.command == "GET":
        if name not in stored:
            return _err(h, 404, "ResourceNotFound", f"deployment {name} not found on {ep}")
        h._send(200, stored[name])
        return 200
    if h.command == "DELETE":
        return _delete_deployment(h, base, ep, name)
    if h.command != "PUT":
        return _err(h, 405, "MethodNotAllowed", "unsupported")
    body = h.body if isinstance(h.body, dict) else {}
    props = body.get("properties")
    if not isinstance(props, dict):
        return _err(h, 400, "BadArgument", "properties is required")
    kubernetes = online.endpoints[ep]["properties"].get("compute") is not None
    kind = props.get("endpointComputeType")
    if kind != ("Kubernetes" if kubernetes else "Managed"):
        return _err(h, 400, "BadArgument", f"endpointComputeType {kind!r} does not match endpoint {ep}")
    if not kubernetes and not props.get("instanceType"):
        return _err(h, 400, "BadArgument", "instanceType is required for a managed deployment")
    if int((body.get("sku") or {}).get("capacity") or 0) < 1:
        return _err(h, 400, "BadArgument", "sku.capacity (instance count) must be at least 1")
    m = re.search(r"/environments/(?P<n>[^/]+)/versions/(?P<v>[^/]+)$", str(props.get("environmentId") or ""))
    env = online.environments.get(m["n"], {}).get(m["v"]) if m else None
    if env is None:
        return _err(
            h,
            400,
            "BadArgument",
            f"environmentId {props.get('environmentId')!r} is not an environment version",
        )
    image = env["properties"]["image"]
    inference = env["properties"].get("inferenceConfig") or {}
    routes = {
        k: (inference.get(k) or {}).get("path") for k in ("livenessRoute", "readinessRoute", "scoringRoute")
    }
    if not all(isinstance(v, str) and v.startswith("/") for v in routes.values()):
        return _err(
            h,
            400,
            "BadArgument",
            "a custom container needs inferenceConfig liveness, readiness and scoring routes",
        )
    if not _DIGEST_IMAGE.match(image):
        return _err(h, 400, "BadArgument", f"image {image!r}: this workspace pins images by digest")
    old = stored.get(name)
    record = {
        "id": f"{base}/onlineEndpoints/{ep}/deployments/{name}", "name": name, "location": online.location,
        "type": "Microsoft.MachineLearningServices/workspaces/onlineEndpoints/deployments",
        "tags": body.get("tags") or {}, "sku": body.get("sku"), "kind": "K8S" if kubernetes else "Managed",
        # What the service fills in where the request left it out, and the SDK then reads back.
        "properties": {**SERVICE_DEFAULTS, **props, "provisioningState": "Updating" if old else "Creating"},
    }  # fmt: skip
    stored[name] = record

    def work() -> str | None:
        error = online.provision(ep, name, image, routes)  # type: ignore[arg-type]
        record["properties"]["provisioningState"] = "Failed" if error else "Succeeded"
        return error

    return _operation(h, base, work, 200 if old else 201, record)


def _delete_deployment(h: Any, base: str, ep: str, name: str) -> int:
    online: Online = h.state.online
    stored = online.deployments.setdefault(ep, {})
    if name not in stored:
        return _err(h, 404, "ResourceNotFound", f"deployment {name} not found on {ep}")
    props = online.endpoints[ep]["properties"]
    if props.get("traffic", {}).get(name) or props.get("mirrorTraffic", {}).get(name):
        return _err(h, 400, "BadArgument", f"deployment {name} takes traffic: move it first")

    def remove() -> str | None:
        online.drop(ep, name)
        stored.pop(name, None)
        return None

    return _operation(h, base, remove, 202, None)
