"""The smoke test: synthetic requests from metadata.json only, checked for status, shape and latency."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.serving.helpers import serve_context, train_model

from edgetrain.config.deploy import SmokeConfig
from edgetrain.deploy.errors import DeployError
from edgetrain.deploy.smoke import read_schema, run, synthetic_rows


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return train_model(tmp_path_factory.mktemp("smoke") / "repo", "multiclass")


def post_to(url: str) -> Any:
    def post(body: bytes, timeout: float) -> tuple[int, bytes]:
        answer = httpx.post(url, content=body, headers={"Content-Type": "application/json"}, timeout=timeout)
        return answer.status_code, answer.content

    return post


def test_rows_come_from_the_schema_alone(trained: Any) -> None:
    schema = read_schema(trained.model_dir / "metadata.json")
    rows = synthetic_rows(schema, 14)
    names = [f["name"] for f in schema["features"]]
    assert all(list(row) == names for row in rows)
    types = {row["type"] for row in rows} - {None}
    assert types == {"H", "L", "M"}  # every category, from metadata.json
    assert any(value is None for row in rows for value in row.values())  # the missing-value path
    assert synthetic_rows(schema, 14) == rows  # deterministic
    data_values = {float(v) for v in trained.test_frame["torque_nm"].dropna()}
    assert not {row["torque_nm"] for row in rows} & data_values


def test_passes_against_the_real_server(trained: Any, tmp_path: Path) -> None:
    schema = read_schema(trained.model_dir / "metadata.json")
    server = serve_context(trained.context, tmp_path)
    try:
        result = run(post_to(server.url + "/score"), schema, SmokeConfig(requests=3, rows=5), "local")
    finally:
        server.stop_gracefully()
    assert (result.requests, result.rows) == (3, 5)
    assert 0 < result.p50_ms <= result.max_ms


class _Answer(BaseHTTPRequestHandler):
    status = 500
    body: bytes = b'{"error": {"status": 500, "code": "internal_error"}}'

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(self.status)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture
def fake() -> Iterator[tuple[ThreadingHTTPServer, type[_Answer]]]:
    handler = type("Handler", (_Answer,), {})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server, handler
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(
    ("status", "body", "message"),
    [
        (500, b'{"error": "boom"}', "request 1 answered HTTP 500"),
        (200, json.dumps({"predictions": [1]}).encode(), "expected 4 predictions, got 1"),
        (200, json.dumps({"predictions": [1, 1, 1, 1]}).encode(), "expected 4 probabilities"),
        (200, b"<html>", "answer is not JSON"),
    ],
)
def test_fails_in_one_line(trained: Any, fake: Any, status: int, body: bytes, message: str) -> None:
    server, handler = fake
    handler.status, handler.body = status, body
    schema = read_schema(trained.model_dir / "metadata.json")
    url = f"http://127.0.0.1:{server.server_address[1]}/score"
    with pytest.raises(DeployError) as err:
        run(post_to(url), schema, SmokeConfig(requests=2, rows=4), "slot green")
    assert message in str(err.value)
    assert "slot green" in str(err.value)
    assert "\n" not in str(err.value)


def test_a_schema_without_features_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "metadata.json"
    path.write_text(json.dumps({"task": "binary", "features": []}))
    with pytest.raises(DeployError, match="features: no feature schema"):
        read_schema(path)
