"""A strict Azure Stack Hub stand-in: a loopback reverse proxy in front of Azurite.

Azurite accepts any recent ``x-ms-version``; Azure Stack Hub does not. This proxy forwards every
request to Azurite unchanged but first applies Stack Hub's rule: a request whose ``x-ms-version`` is
newer than the configured version gets ``400 InvalidHeaderValue`` with the same XML error body and
``x-ms-error-code`` header Stack Hub sends, and a SAS signed for a newer version (``sv=``) gets
``403 AuthenticationFailed``. It also accepts production-style hosts
(``<account>.blob.<endpoint suffix>``, e.g. sent through it as an HTTP proxy) and hands them to
Azurite with that host, so endpoint-suffix configurations (and their shared-key signatures) are
exercised for real.

Every request is recorded (method, path, version, status) for tests, optionally as JSON lines.
Run it with ``python -m edgetrain.storage.strict_proxy --help``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import re
import socket
import threading
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

from aiohttp import ClientSession, ClientTimeout, TCPConnector, web

log = logging.getLogger(__name__)

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "proxy-connection",
    }
)
PRODUCTION_HOST = re.compile(r"^(?P<account>[a-z0-9]{3,24})\.blob\.[^:]+(?::\d+)?$")
CHUNK = 1 << 20


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    host: str
    path: str
    version: str | None
    status: int


@dataclass
class ProxyState:
    max_version: str
    upstream: str
    records: list[RecordedRequest] = field(default_factory=list)
    log_path: Path | None = None

    def record(self, entry: RecordedRequest) -> None:
        self.records.append(entry)
        if self.log_path is not None:
            with self.log_path.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(asdict(entry)) + "\n")


def invalid_header_response(version: str) -> web.Response:
    """The error Azure Stack Hub storage returns for an API version it does not speak."""
    request_id = str(uuid.uuid4())
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f0Z")
    body = (
        '<?xml version="1.0" encoding="utf-8"?><Error><Code>InvalidHeaderValue</Code>'
        "<Message>The value for one of the HTTP headers is not in the correct format.\n"
        f"RequestId:{request_id}\nTime:{now}</Message>"
        f"<HeaderName>x-ms-version</HeaderName><HeaderValue>{version}</HeaderValue></Error>"
    )
    return web.Response(
        status=400,
        reason="The value for one of the HTTP headers is not in the correct format.",
        body=body.encode(),
        headers={
            "Content-Type": "application/xml",
            "x-ms-error-code": "InvalidHeaderValue",
            "x-ms-request-id": request_id,
        },
    )


def sas_version_response(signed_version: str) -> web.Response:
    """Stack Hub's answer to a SAS whose ``sv`` it does not speak: it cannot check the signature (403)."""
    request_id = str(uuid.uuid4())
    message = (
        "Server failed to authenticate the request. Make sure the value of Authorization header is formed "
        f"correctly including the signature.\nRequestId:{request_id}"
    )
    body = (
        '<?xml version="1.0" encoding="utf-8"?><Error><Code>AuthenticationFailed</Code>'
        f"<Message>{message}</Message><AuthenticationErrorDetail>Signed version {signed_version} is not "
        "supported.</AuthenticationErrorDetail></Error>"
    )
    return web.Response(
        status=403,
        reason="Server failed to authenticate the request.",
        body=body.encode(),
        headers={
            "Content-Type": "application/xml",
            "x-ms-error-code": "AuthenticationFailed",
            "x-ms-request-id": request_id,
        },
    )


def is_production_style(host: str) -> bool:
    """True for a Stack Hub style host (``<account>.blob.<suffix>``) rather than ``127.0.0.1:port``."""
    return PRODUCTION_HOST.match(host.lower()) is not None


def build_app(state: ProxyState) -> web.Application:
    session: dict[str, ClientSession] = {}

    async def on_startup(_: web.Application) -> None:
        session["s"] = ClientSession(
            connector=TCPConnector(limit=256),
            timeout=ClientTimeout(total=None, sock_connect=10),
            auto_decompress=False,
        )

    async def on_cleanup(_: web.Application) -> None:
        await session["s"].close()

    async def handle(request: web.Request) -> web.StreamResponse:
        version = request.headers.get("x-ms-version")
        url = urlsplit(str(request.url)) if request.url.is_absolute() else None
        host = request.headers.get("Host", url.netloc if url else "")
        path_qs = request.rel_url.raw_path_qs if hasattr(request.rel_url, "raw_path_qs") else request.path_qs
        if version is not None and version > state.max_version:
            state.record(RecordedRequest(request.method, host, request.path, version, 400))
            return invalid_header_response(version)
        signed = request.query.get("sv")
        if signed is not None and signed > state.max_version:
            state.record(RecordedRequest(request.method, host, request.path, version, 403))
            return sas_version_response(signed)
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        if is_production_style(host):
            headers["Host"] = host  # Azurite takes the account from a production-style host, as Azure does
        body = request.content if request.body_exists else None
        target = state.upstream + path_qs
        async with session["s"].request(
            request.method,
            target,
            headers=headers,
            data=body,
            allow_redirects=False,
            skip_auto_headers=("Content-Type", "Accept-Encoding", "User-Agent"),
        ) as upstream:
            out_headers = {k: v for k, v in upstream.headers.items() if k.lower() not in HOP_BY_HOP}
            state.record(RecordedRequest(request.method, host, request.path, version, upstream.status))
            if request.method == "HEAD" or upstream.status in (204, 304):
                return web.Response(status=upstream.status, reason=upstream.reason, headers=out_headers)
            resp = web.StreamResponse(status=upstream.status, reason=upstream.reason, headers=out_headers)
            await resp.prepare(request)
            async for chunk in upstream.content.iter_chunked(CHUNK):
                await resp.write(chunk)
            await resp.write_eof()
            return resp

    app = web.Application(client_max_size=0)
    app.on_startup.append(on_startup)
    app.on_cleanup.append(on_cleanup)
    app.router.add_route("*", "/{tail:.*}", handle)
    return app


class ProxyThread:
    """Run the proxy in a background thread (for tests): ``with ProxyThread(...) as proxy: proxy.port``."""

    def __init__(self, upstream: str, max_version: str, host: str = "127.0.0.1", port: int = 0) -> None:
        self.state = ProxyState(max_version=max_version, upstream=upstream.rstrip("/"))
        self._host, self._port = host, port
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="strict-proxy", daemon=True)
        self._runner: web.AppRunner | None = None
        self.port = 0

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._runner = web.AppRunner(build_app(self.state), access_log=None)
        self._loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, self._host, self._port)
        self._loop.run_until_complete(site.start())
        self.port = int(self._runner.addresses[0][1])
        self._ready.set()
        self._loop.run_forever()
        self._loop.run_until_complete(self._runner.cleanup())
        self._loop.close()

    def __enter__(self) -> ProxyThread:
        self._thread.start()
        if not self._ready.wait(timeout=30):
            raise RuntimeError("strict proxy did not start within 30 s")
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m edgetrain.storage.strict_proxy", description=__doc__)
    parser.add_argument("--listen", default="127.0.0.1:10000", help="HOST:PORT to listen on (loopback)")
    parser.add_argument(
        "--upstream", required=True, help="Azurite blob endpoint, e.g. http://127.0.0.1:10001"
    )
    parser.add_argument("--max-version", default="2019-07-07", help="newest x-ms-version to accept")
    parser.add_argument("--log", type=Path, help="append one JSON line per request here")
    parser.add_argument(
        "--fd", type=int, help="serve on this inherited listening socket instead of --listen (no port race)"
    )
    args = parser.parse_args(argv)
    state = ProxyState(max_version=args.max_version, upstream=args.upstream.rstrip("/"), log_path=args.log)
    if args.fd is not None:
        sock = socket.socket(fileno=args.fd)
        web.run_app(build_app(state), sock=sock, access_log=None, print=None)
        return 0
    host, _, port = args.listen.rpartition(":")
    web.run_app(build_app(state), host=host, port=int(port), access_log=None, print=None)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
