"""OpenAPI description of the score body and response, built from the model's feature schema.

``/score`` parses its body itself (orjson, for speed), so FastAPI cannot infer the schema: it is given here.
"""

from __future__ import annotations

from typing import Any

from .model import ModelSchema


def _feature_schema(entry: dict[str, Any]) -> dict[str, Any]:
    if entry.get("dtype") == "category":
        return {
            "enum": [*list(entry.get("categories") or []), None],
            "description": "category; null = missing",
        }
    return {"type": ["number", "null"], "description": "number; null = missing"}


def _error_response(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ScoringError"}}},
    }


def score_openapi(schema: ModelSchema) -> dict[str, Any]:
    """``openapi_extra`` for the score route."""
    names = list(schema.feature_names)
    record = {
        "type": "object",
        "properties": {e["name"]: _feature_schema(e) for e in schema.metadata["features"]},
        "required": names,
        "additionalProperties": False,
    }
    split = {
        "type": "object",
        "properties": {
            "columns": {"type": "array", "items": {"type": "string", "enum": names}},
            "data": {"type": "array", "items": {"type": "array"}, "minItems": 1},
            "index": {"type": "array"},
        },
        "required": ["columns", "data"],
    }
    records = {"type": "array", "items": record, "minItems": 1}
    example = {
        "columns": names,
        "data": [
            [
                (e.get("categories") or [None])[0] if e.get("dtype") == "category" else 0.0
                for e in schema.metadata["features"]
            ]
        ],
    }
    body = {
        "oneOf": [
            records,
            split,
            {
                "type": "object",
                "properties": {"input_data": {"oneOf": [split, records]}},
                "required": ["input_data"],
            },
            {"type": "object", "properties": {"data": records}, "required": ["data"]},
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
            "400": _error_response("malformed JSON, NaN/Infinity"),
            "413": _error_response("body larger than EDGETRAIN_MAX_BODY_BYTES"),
            "415": _error_response("Content-Type is not application/json"),
            "422": _error_response("wrong columns, types, unknown category, empty batch, too many rows"),
            "503": _error_response("model not loaded yet"),
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
