"""The FastAPI application: score, liveness, readiness, and (optional) metadata and OpenAPI document.

Route paths come from the environment (see :mod:`.settings`) so the image meets Azure ML's custom
container contract without a rebuild. Every error is JSON ``{"error": {status, code, message}}`` with the
message capped at ``EDGETRAIN_MAX_ERROR_BYTES``; a client error is logged as one line, an unexpected fault
once with its trace (server log only); no stack trace ever reaches a client. Connection-level limits
(header size and time, keep-alive) live in :mod:`.protocol`.
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
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .body import CLOSE, Inflight, read_body
from .errors import ScoringError, clip, error_body
from .matrix import build_matrix
from .model import ModelSchema, Predictor
from .openapi import ERROR_SCHEMA, score_openapi
from .payload import check_cost, parse_json, to_columns
from .settings import Settings

log = logging.getLogger("scoring_server")

JSON = "application/json"
_HTTP_CODES = {
    404: "not_found",
    405: "method_not_allowed",
    413: "body_too_large",
    415: "unsupported_media_type",
}
_LOGGED_MESSAGE = 300


def _json(content: Any, status: int = 200) -> Response:
    return Response(
        orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY), status_code=status, media_type=JSON
    )


def _check_content_type(request: Request) -> None:
    ctype = request.headers.get("content-type", "")
    media = ctype.split(";", 1)[0].strip().lower()
    if media != JSON and not media.endswith("+json"):
        shown = ctype[:60] or "none"
        raise ScoringError(
            415,
            "unsupported_media_type",
            f"Content-Type {shown!r} is not supported: send application/json",
            CLOSE,
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
    inflight = Inflight(settings.max_concurrent_scores, settings.max_pending_body_bytes)

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
        docs_url=None,  # Swagger UI / ReDoc load scripts from a public CDN: blank on-premises
        redoc_url=None,
        openapi_url="/openapi.json" if settings.openapi_enabled else None,
    )

    async def score(request: Request) -> Response:
        predictor = state.get("predictor")
        if predictor is None:
            raise ScoringError(503, "not_ready", "model is not loaded yet")
        _check_content_type(request)
        body = await read_body(request, settings.max_body_bytes, settings.body_timeout, inflight)
        check_cost(body, settings.max_rows, len(features))
        doc = parse_json(body)
        columns, n_rows = to_columns(doc, features, feature_set, settings.max_rows, body)
        matrix = build_matrix(columns, n_rows, specs, unknown_as_missing)
        return _json(predictor.predict(matrix))

    async def liveness() -> Response:
        return _json({"status": "alive"})

    async def readiness() -> Response:
        if "predictor" not in state:
            return Response(error_body(503, "not_ready", "model is not loaded yet"), 503, media_type=JSON)
        return _json({"status": "ready"})

    async def metadata() -> Response:
        return _json(schema.describe())

    app.add_api_route(
        settings.score_route,
        score,
        methods=["POST"],
        summary="Score rows",
        openapi_extra=score_openapi(schema, settings),
        response_class=Response,
    )
    app.add_api_route(settings.liveness_route, liveness, methods=["GET"], summary="Liveness (process is up)")
    app.add_api_route(
        settings.readiness_route, readiness, methods=["GET"], summary="Readiness (model loaded)"
    )
    if settings.metadata_enabled:
        app.add_api_route(
            settings.metadata_route,
            metadata,
            methods=["GET"],
            summary="Model name, version, git commit, data version, test metrics, feature schema",
        )
    _install_error_handlers(app, settings.max_error_bytes)
    app.add_middleware(UnexpectedErrors, max_error_bytes=settings.max_error_bytes)
    _install_openapi(app)
    return app


def _install_error_handlers(app: FastAPI, max_error_bytes: int) -> None:
    def answer(request: Request, status: int, code: str, message: str, headers: dict[str, str]) -> Response:
        log.info(
            "%s %s -> %d %s: %s",
            request.method,
            clip(request.url.path, 100),
            status,
            code,
            clip(message, _LOGGED_MESSAGE),
        )
        body = error_body(status, code, message, max_error_bytes)
        return Response(body, status_code=status, media_type=JSON, headers=headers)

    async def on_scoring_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ScoringError)
        return answer(request, exc.status, exc.code, exc.message, exc.headers)

    async def on_http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        return answer(request, exc.status_code, code, str(exc.detail), dict(exc.headers or {}))

    async def on_validation_error(request: Request, exc: Exception) -> Response:
        return answer(request, 422, "invalid_request", str(exc), {})

    async def on_disconnect(request: Request, _exc: Exception) -> Response:
        message = "client closed the connection before sending the whole body"
        return answer(request, 400, "client_disconnected", message, CLOSE)

    app.add_exception_handler(ScoringError, on_scoring_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(ClientDisconnect, on_disconnect)


class UnexpectedErrors:
    """Turn an unexpected exception into a 500 JSON error, logged once with its trace (server side only).

    Starlette's own last-resort handler re-raises after answering, so uvicorn logs the trace a second
    time; this middleware sits inside it and does not re-raise.
    """

    def __init__(self, app: ASGIApp, max_error_bytes: int) -> None:
        self.app = app
        self.max_error_bytes = max_error_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except Exception as exc:
            path = clip(str(scope.get("path", "")), 100)
            log.error("unexpected error on %s %s: %s", scope.get("method"), path, exc, exc_info=exc)
            if started:
                return
            message = "internal error while scoring; see the server log"
            body = error_body(500, "internal_error", message, self.max_error_bytes)
            await Response(body, status_code=500, media_type=JSON)(scope, receive, send)


def _install_openapi(app: FastAPI) -> None:
    base = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = base()
            document.setdefault("components", {}).setdefault("schemas", {})["ScoringError"] = ERROR_SCHEMA
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
