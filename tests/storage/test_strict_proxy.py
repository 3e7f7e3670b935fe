"""The strict stand-in behaves like Stack Hub storage: old API versions only, production-style hosts."""

from __future__ import annotations

import http.client

import pytest

from edgetrain.storage.strict_proxy import is_production_style

pytestmark = pytest.mark.integration


def _raw_request(port: int, version: str, path: str = "/devstoreaccount1?comp=list") -> tuple[int, dict, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path, headers={"x-ms-version": version})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read().decode()
    finally:
        conn.close()


def test_newer_version_gets_stack_hub_error(standin) -> None:  # type: ignore[no-untyped-def]
    status, headers, body = _raw_request(standin.endpoints.port, "2026-10-06")
    assert status == 400
    assert headers["x-ms-error-code"] == "InvalidHeaderValue"
    assert "<Code>InvalidHeaderValue</Code>" in body
    assert "<HeaderName>x-ms-version</HeaderName><HeaderValue>2026-10-06</HeaderValue>" in body
    assert standin.requests[-1].status == 400


def test_supported_version_is_forwarded(standin) -> None:  # type: ignore[no-untyped-def]
    status, headers, _ = _raw_request(standin.endpoints.port, "2019-07-07")
    assert status == 403  # Azurite answers (the request is unsigned): the gate let it through
    assert headers["x-ms-error-code"] != "InvalidHeaderValue"


def test_production_style_host_detection() -> None:
    assert is_production_style("acct.blob.local.azurestack.external")
    assert is_production_style("acct.blob.local.azurestack.external:443")
    assert not is_production_style("127.0.0.1:10000")


def test_endpoint_suffix_works_end_to_end(standin, clean_env) -> None:  # type: ignore[no-untyped-def]
    """A Stack Hub style EndpointSuffix account URL (no .core.) with shared-key auth, via the proxy."""
    from azure.storage.blob import BlobServiceClient

    from edgetrain.config.edge import StorageConfig
    from edgetrain.storage.azurite import DEV_KEY
    from edgetrain.storage.connection import build_connection_string

    cfg = StorageConfig(
        account_name="devstoreaccount1", endpoint_suffix="local.azurestack.external", protocol="http"
    )
    assert cfg.blob_url == "http://devstoreaccount1.blob.local.azurestack.external"
    conn = build_connection_string(cfg, DEV_KEY)
    assert "EndpointSuffix=local.azurestack.external" in conn
    proxy = f"http://127.0.0.1:{standin.endpoints.port}"
    start = len(standin.requests)  # the stand-in is shared by the session: only count this test's requests
    # api_version explicit: this test is about the endpoint, not the venv-wide pin (tested elsewhere).
    service = BlobServiceClient.from_connection_string(
        conn, proxies={"http": proxy}, api_version=cfg.api_version
    )
    assert service.url.startswith("http://devstoreaccount1.blob.local.azurestack.external")
    container = service.get_container_client("suffix-check")
    container.create_container()
    container.upload_blob("hello.txt", b"hello stack hub")
    assert container.download_blob("hello.txt").readall() == b"hello stack hub"
    seen = [
        r
        for r in standin.requests[start:]
        if r.host.startswith("devstoreaccount1.blob.local.azurestack.external")
    ]
    assert len(seen) >= 3
    assert {r.version for r in seen} == {"2019-07-07"}
    assert all(r.status < 400 for r in seen)
