"""Runtime contract: routes/port/workers from the environment (Azure ML custom container), SIGTERM,
``score-example``, and the matrix rules that need no server."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import numpy as np
import pytest
from tests.serving.helpers import TrainedModel, serve_context

from edgetrain.serving.scoring_server.matrix import FeatureSpec, build_matrix
from edgetrain.serving.scoring_server.settings import Settings, SettingsError

AZUREML_ENV = {
    "EDGETRAIN_SCORE_ROUTE": "/v1/score",
    "EDGETRAIN_LIVENESS_ROUTE": "/live",
    "EDGETRAIN_READINESS_ROUTE": "ready2",
    "WORKERS": "2",
}


def test_routes_and_workers_from_environment(binary_model: TrainedModel, tmp_path: Path) -> None:
    server = serve_context(binary_model.context, tmp_path, AZUREML_ENV)
    try:
        assert httpx.get(server.url + "/ready2").status_code == 200
        assert httpx.get(server.url + "/live").status_code == 200
        assert httpx.get(server.url + "/score").status_code == 404
        assert httpx.get(server.url + "/ready").status_code == 404
        body = [{"type": "L", "air_temperature_k": 301.0, "torque_nm": None, "tool_wear_min": 5}]
        assert httpx.post(server.url + "/v1/score", json=body).status_code == 200
        spec = httpx.get(server.url + "/openapi.json").json()
        assert "/v1/score" in spec["paths"]
        done = subprocess.run(
            [sys.executable, "-m", "edgetrain", "score-example", "--url", server.url, "--route", "/v1/score",
             "--ready-route", "/ready2", "--wait", "30"],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert "POST " + server.url + "/v1/score" in done.stdout
        assert "HTTP 200" in done.stdout
        assert '"probabilities"' in done.stdout
    finally:
        server.stop_gracefully()


def test_score_example_reports_unreachable_server() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "edgetrain", "score-example", "--url", "http://127.0.0.1:9", "--wait", "0"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode != 0
    assert done.stderr.startswith("edgetrain: error:")
    assert len(done.stderr.strip().splitlines()) == 1


def test_serve_without_context_is_one_line(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "edgetrain", "serve", "--context", str(tmp_path / "nope")],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode != 0
    assert "Dockerfile" in done.stderr
    assert "edgetrain package" in done.stderr


SPECS = [FeatureSpec.from_metadata({"name": "type", "dtype": "category", "categories": ["H", "L", "M"]}),
         FeatureSpec.from_metadata({"name": "x", "dtype": "float64"})]  # fmt: skip


def test_matrix_codes_and_missing() -> None:
    matrix = build_matrix({"type": ["M", None, "H"], "x": [1, None, 2.5]}, 3, SPECS)
    assert matrix.dtype == np.float32
    assert matrix.flags.c_contiguous
    np.testing.assert_array_equal(matrix[:, 0], [2, np.nan, 0])
    np.testing.assert_array_equal(matrix[:, 1], [1, np.nan, 2.5])


def test_unknown_category_as_missing_policy() -> None:
    matrix = build_matrix({"type": ["Z", "L"], "x": [0, 0]}, 2, SPECS, unknown_as_missing=True)
    np.testing.assert_array_equal(matrix[:, 0], [np.nan, 1])
    with pytest.raises(Exception, match=r"expected one of"):
        build_matrix({"type": [True, "L"], "x": [0, 0]}, 2, SPECS, unknown_as_missing=True)


def test_numeric_categories() -> None:
    spec = FeatureSpec.from_metadata({"name": "c", "dtype": "category", "categories": [10, 20]})
    matrix = build_matrix({"c": [20, "10", None]}, 3, [spec])
    np.testing.assert_array_equal(matrix[:, 0], [1, 0, np.nan])
    with pytest.raises(Exception, match="unknown category 30"):
        build_matrix({"c": [30]}, 1, [spec])
    with pytest.raises(Exception, match="boolean"):
        build_matrix({"c": [True]}, 1, [spec])


def test_settings_from_env() -> None:
    settings = Settings.from_env({"PORT": "8080", "EDGETRAIN_SCORE_ROUTE": "score", "WORKERS": "3"})
    assert (settings.port, settings.score_route, settings.workers) == (8080, "/score", 3)
    with pytest.raises(SettingsError, match="PORT"):
        Settings.from_env({"PORT": "eighty"})
    with pytest.raises(SettingsError, match="EDGETRAIN_UNKNOWN_CATEGORY"):
        Settings.from_env({"EDGETRAIN_UNKNOWN_CATEGORY": "guess"})


def test_internal_error_is_json_without_trace(
    binary_model: TrainedModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio

    from edgetrain.serving.scoring_server.app import create_app
    from edgetrain.serving.scoring_server.model import Predictor

    def broken(self: Predictor, matrix: np.ndarray) -> dict:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(Predictor, "predict", broken)
    app = create_app(Settings(model_dir=binary_model.context / "model"))
    body = [{"type": "L", "air_temperature_k": 301.0, "torque_nm": 3.0, "tool_wear_min": 5}]

    async def exercise() -> tuple[httpx.Response, int]:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url="http://scoring") as client:
                return await client.post("/score", json=body), (await client.get("/ready")).status_code

    response, ready = asyncio.run(exercise())
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "internal_error"
    assert "secret" not in response.text
    assert "Traceback" not in response.text
    assert ready == 200


def test_unexpected_error_is_logged_once_and_not_reraised(
    binary_model: TrainedModel, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Starlette's last-resort handler re-raises, so uvicorn logged the trace a second time: no longer."""
    import asyncio
    import logging

    from edgetrain.serving.scoring_server.app import create_app
    from edgetrain.serving.scoring_server.model import Predictor

    def broken(self: Predictor, matrix: np.ndarray) -> dict:
        raise RuntimeError("boom")

    monkeypatch.setattr(Predictor, "predict", broken)
    app = create_app(Settings(model_dir=binary_model.context / "model"))
    body = [{"type": "L", "air_temperature_k": 301.0, "torque_nm": 3.0, "tool_wear_min": 5}]

    async def exercise() -> httpx.Response:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app, raise_app_exceptions=True)
            async with httpx.AsyncClient(transport=transport, base_url="http://scoring") as client:
                return await client.post("/score", json=body)

    with caplog.at_level(logging.INFO):
        response = asyncio.run(exercise())
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "internal_error"
    traced = [r for r in caplog.records if r.exc_info]
    assert len(traced) == 1
    assert "boom" in traced[0].getMessage()
