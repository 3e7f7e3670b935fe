"""OpenAPI description of the score body and response, built from the model's feature schema.

``/score`` parses its body itself (orjson, for speed), so FastAPI cannot infer the schema: it is given here.
"""

from __future__ import annotations

from typing import Any

from .matrix import FLOAT32_LIMIT, FeatureSpec
from .model import ModelSchema
from .settings import Settings


def _feature_schema(spec: FeatureSpec, unknown_as_missing: bool) -> dict[str, Any]:
    """Exactly what the server accepts for one feature (see :mod:`.matrix`)."""
    if not spec.categorical:
        return {
            "type": ["number", "null"],
            "exclusiveMinimum": -FLOAT32_LIMIT,
            "exclusiveMaximum": FLOAT32_LIMIT,
            "description": "number within the float32 range; null = missing",
        }
    if unknown_as_missing:
        kinds = ["string", "null"] if spec.string_categories else ["string", "number", "null"]
        return {"type": kinds, "description": "category (unknown ones are scored as missing); null = missing"}
    accepted = [value for value in spec.codes if value is not None]
    return {"enum": [*accepted, None], "description": "category; null = missing"}


def _error_response(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ScoringError"}}},
    }


def _closed(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": required, "additionalProperties": False}


def score_openapi(schema: ModelSchema, settings: Settings) -> dict[str, Any]:
    """``openapi_extra`` for the score route: the body schema is as strict as the server, no looser."""
    names = list(schema.feature_names)
    n = len(names)
    unknown_as_missing = settings.unknown_category == "missing"
    values = [_feature_schema(spec, unknown_as_missing) for spec in schema.specs]
    record = _closed(dict(zip(names, values, strict=True)), names)
    rows = {"minItems": 1, "maxItems": settings.max_rows}
    split = _closed(
        {
            "columns": {
                "type": "array",
                "prefixItems": [{"const": name} for name in names],
                "minItems": n,
                "maxItems": n,
                "description": "the model's features, in this order",
            },
            "data": {
                "type": "array",
                "items": {"type": "array", "prefixItems": values, "minItems": n, "maxItems": n},
                **rows,
            },
            "index": {"type": "array", "description": "ignored"},
        },
        ["columns", "data"],
    )
    records = {"type": "array", "items": record, **rows}
    example = {
        "columns": names,
        "data": [[(spec.categories or [None])[0] if spec.categorical else 0.0 for spec in schema.specs]],
    }
    body = {
        "oneOf": [
            records,
            split,
            _closed({"input_data": {"oneOf": [split, records]}}, ["input_data"]),
            _closed({"data": records}, ["data"]),
            record,
        ]
    }
    prediction_items: dict[str, Any] = {"type": "number"} if schema.task == "regression" else {}
    response = {
        "type": "object",
        "properties": {
            "predictions": {
                "type": "array",
                "items": prediction_items,
                "description": "labels for classifiers, values for regression",
            },
            "probabilities": {
                "type": "array",
                "description": "binary: P(classes[1]) per row; "
                "multiclass: one probability per class (metadata classes order) per row",
            },
        },
        "required": ["predictions"],
    }
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": body, "example": example}},
        },
        "responses": {
            "200": {
                "description": "predictions, one per row",
                "content": {"application/json": {"schema": response}},
            },
            "400": _error_response("malformed JSON, NaN/Infinity, bad gzip"),
            "408": _error_response("body not received within EDGETRAIN_BODY_TIMEOUT"),
            "413": _error_response("body (or decompressed body) larger than EDGETRAIN_MAX_BODY_BYTES"),
            "415": _error_response("Content-Type not JSON, or Content-Encoding other than gzip"),
            "422": _error_response(
                "wrong, repeated or misordered columns, wrong types, unknown category, empty batch, "
                "too many rows or values"
            ),
            "503": _error_response("model not loaded yet, or EDGETRAIN_MAX_CONCURRENT_SCORES in progress"),
        },
    }


ERROR_SCHEMA = {
    "type": "object",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "status": {"type": "integer"},
                "code": {"type": "string"},
                "message": {"type": "string"},
            },
            "required": ["status", "code", "message"],
        }
    },
    "required": ["error"],
}
