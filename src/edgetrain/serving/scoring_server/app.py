"""The FastAPI application: score, liveness, readiness, metadata and OpenAPI docs.

Route paths come from the environment (see :mod:`.settings`) so the image meets Azure ML's custom
container contract without a rebuild. Every error is JSON ``{"error": {status, code, message}}``; no
stack trace ever reaches a client.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from .errors import ScoringError, error_body
from .matrix import build_matrix
from .model import ModelSchema, Predictor
from .openapi import ERROR_SCHEMA, score_openapi
from .payload import parse_json, to_columns
from .settings import Settings

log = logging.getLogger("scoring_server")

JSON = "application/json"
_HTTP_CODES = {
    404: "not_found",
    405: "method_not_allowed",
    413: "body_too_large",
    415: "unsupported_media_type",
}


def _json(content: Any, status: int = 200) -> Response:
    return Response(
        orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY), status_code=status, media_type=JSON
    )


def _error(status: int, code: str, message: str) -> Response:
    return Response(error_body(status, code, message), status_code=status, media_type=JSON)


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refusing (413) as soon as it passes ``limit`` bytes: never buffers more than that."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ScoringError(
            413, "body_too_large", f"body of {declared} bytes exceeds the limit of {limit} bytes"
        )
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ScoringError(413, "body_too_large", f"body exceeds the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _check_content_type(request: Request) -> None:
    ctype = request.headers.get("content-type", "")
    media = ctype.split(";", 1)[0].strip().lower()
    if media != JSON and not media.endswith("+json"):
        shown = ctype or "none"
        raise ScoringError(
            415, "unsupported_media_type", f"Content-Type {shown!r} is not supported: send application/json"
        )


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app (uvicorn ``--factory`` entry). The booster loads at start-up, before ``ready``."""
    settings = settings or Settings.from_env()
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    schema = ModelSchema.load(settings.model_dir)
    state: dict[str, Predictor] = {}
    features = schema.feature_names
    feature_set = frozenset(features)
    specs = schema.specs
    unknown_as_missing = settings.unknown_category == "missing"

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        state["predictor"] = Predictor(schema, settings.model_dir, settings.nthread)
        log.info(
            "model %s loaded (%s, %d features)", schema.info.get("model_name"), schema.task, len(features)
        )
        yield
        log.info("shutting down")

    app = FastAPI(
        title=f"edgetrain scoring: {schema.info.get('model_name') or 'model'}",
        version=str(schema.info.get("model_version") or "dev"),
        description="XGBoost scoring server. Send rows as JSON to the score route; see the schema below.",
        lifespan=lifespan,
    )

    async def score(request: Request) -> Response:
        predictor = state.get("predictor")
        if predictor is None:
            raise ScoringError(503, "not_ready", "model is not loaded yet")
        _check_content_type(request)
        body = await read_body(request, settings.max_body_bytes)
        doc = parse_json(body)
        columns, n_rows = to_columns(doc, features, feature_set, settings.max_rows)
        matrix = build_matrix(columns, n_rows, specs, unknown_as_missing)
        return _json(predictor.predict(matrix))

    async def liveness() -> Response:
        return _json({"status": "alive"})

    async def readiness() -> Response:
        if "predictor" not in state:
            return _error(503, "not_ready", "model is not loaded yet")
        return _json({"status": "ready"})

    async def metadata() -> Response:
        return _json(schema.describe())

    app.add_api_route(
        settings.score_route,
        score,
        methods=["POST"],
        summary="Score rows",
        openapi_extra=score_openapi(schema),
        response_class=Response,
    )
    app.add_api_route(settings.liveness_route, liveness, methods=["GET"], summary="Liveness (process is up)")
    app.add_api_route(
        settings.readiness_route, readiness, methods=["GET"], summary="Readiness (model loaded)"
    )
    app.add_api_route(
        settings.metadata_route,
        metadata,
        methods=["GET"],
        summary="Model name, version, git commit, data version, test metrics, feature schema",
    )
    _install_error_handlers(app)
    _install_openapi(app)
    return app


def _install_error_handlers(app: FastAPI) -> None:
    async def on_scoring_error(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ScoringError)
        return Response(exc.to_json(), status_code=exc.status, media_type=JSON)

    async def on_http_error(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        return _error(exc.status_code, code, str(exc.detail))

    async def on_validation_error(_request: Request, exc: Exception) -> Response:
        return _error(422, "invalid_request", str(exc)[:300])

    async def on_disconnect(_request: Request, _exc: Exception) -> Response:
        return _error(
            400, "client_disconnected", "client closed the connection before sending the whole body"
        )

    async def on_unexpected(request: Request, exc: Exception) -> Response:
        log.error("unexpected error on %s %s: %s", request.method, request.url.path, exc, exc_info=exc)
        return _error(500, "internal_error", "internal error while scoring; see the server log")

    app.add_exception_handler(ScoringError, on_scoring_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(ClientDisconnect, on_disconnect)
    app.add_exception_handler(Exception, on_unexpected)


def _install_openapi(app: FastAPI) -> None:
    base = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = base()
            document.setdefault("components", {}).setdefault("schemas", {})["ScoringError"] = ERROR_SCHEMA
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
