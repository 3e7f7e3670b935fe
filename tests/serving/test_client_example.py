"""``score-example`` builds a realistic one-row request from the model's feature schema."""

from __future__ import annotations

from edgetrain.serving.client import example_body


def test_uses_the_typical_values_the_pipeline_recorded() -> None:
    metadata = {
        "features": [
            {"name": "type", "dtype": "category", "categories": ["H", "L", "M"], "example": "L"},
            {"name": "torque_nm", "dtype": "float64", "example": 39.8},
        ]
    }
    assert example_body(metadata) == {"columns": ["type", "torque_nm"], "data": [["L", 39.8]]}


def test_falls_back_without_examples() -> None:
    metadata = {
        "features": [
            {"name": "type", "dtype": "category", "categories": ["H", "L"], "example": "unknown"},
            {"name": "torque_nm", "dtype": "float64"},
        ]
    }
    assert example_body(metadata) == {"columns": ["type", "torque_nm"], "data": [["H", 0.0]]}
