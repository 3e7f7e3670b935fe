"""What the port tells anyone who reaches it: /metadata and /openapi.json can be off; no CDN pages."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from tests.serving.helpers import Server, TrainedModel, serve_context

from edgetrain.serving.scoring_server.settings import Settings, SettingsError


def test_metadata_and_openapi_can_be_switched_off(binary_model: TrainedModel, tmp_path: Path) -> None:
    env = {"EDGETRAIN_METADATA": "off", "EDGETRAIN_OPENAPI": "0"}
    server = serve_context(binary_model.context, tmp_path, env)
    try:
        for path in ("/metadata", "/openapi.json", "/docs", "/redoc"):
            response = httpx.get(server.url + path)
            assert response.status_code == 404, path
            assert response.json()["error"]["code"] == "not_found"
        assert httpx.get(server.url + "/ready").status_code == 200
        body = [{"type": "L", "air_temperature_k": 301.0, "torque_nm": None, "tool_wear_min": 5}]
        assert httpx.post(server.url + "/score", json=body).status_code == 200
    finally:
        server.stop_gracefully()


def test_defaults_keep_metadata_and_schema_but_no_cdn_pages(
    default_server: tuple[TrainedModel, Server],
) -> None:
    _, server = default_server
    assert httpx.get(server.url + "/metadata").status_code == 200
    spec = httpx.get(server.url + "/openapi.json")
    assert spec.status_code == 200
    assert "cdn" not in spec.text.lower()
    for page in ("/docs", "/redoc", "/docs/oauth2-redirect"):
        assert httpx.get(server.url + page).status_code == 404


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("EDGETRAIN_METADATA", "maybe"),
        ("EDGETRAIN_HEADER_TIMEOUT", "soon"),
        ("EDGETRAIN_BODY_TIMEOUT", "0"),
        ("EDGETRAIN_KEEP_ALIVE_TIMEOUT", "inf"),
        ("EDGETRAIN_MAX_HEADER_BYTES", "10"),
        ("EDGETRAIN_MAX_CONCURRENT_SCORES", "0"),
        ("EDGETRAIN_MAX_ERROR_BYTES", "x"),
    ],
)
def test_bad_limit_settings_name_the_variable(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        Settings.from_env({name: value})


def test_limit_defaults() -> None:
    settings = Settings.from_env({})
    assert settings.max_header_bytes == 32 * 1024
    assert (settings.header_timeout, settings.body_timeout, settings.keep_alive_timeout) == (10.0, 30.0, 5.0)
    assert settings.max_concurrent_scores == 64
    assert settings.max_pending_body_bytes == 4 * settings.max_body_bytes
    assert Settings.from_env({"EDGETRAIN_MAX_BODY_BYTES": "1000"}).max_pending_body_bytes == 4000
    with pytest.raises(SettingsError, match="EDGETRAIN_MAX_PENDING_BODY_BYTES"):
        Settings.from_env({"EDGETRAIN_MAX_BODY_BYTES": "1000", "EDGETRAIN_MAX_PENDING_BODY_BYTES": "999"})
    assert settings.max_error_bytes == 4096
    assert settings.metadata_enabled
    assert settings.openapi_enabled
