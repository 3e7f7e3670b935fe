"""The server's predictions equal xgboost's own ``predict`` on the same pandas frame (category dtype)."""

from __future__ import annotations

import httpx
import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from tests.serving.helpers import Server, TrainedModel, records


def expected(model: TrainedModel, frame: pd.DataFrame) -> np.ndarray:
    return model.booster.predict(xgb.DMatrix(frame, enable_categorical=True))


def check(model: TrainedModel, frame: pd.DataFrame, body: dict) -> None:
    want = expected(model, frame)
    if model.task == "regression":
        np.testing.assert_array_equal(np.asarray(body["predictions"], dtype=np.float32), want)
        assert "probabilities" not in body
        return
    probabilities = np.asarray(body["probabilities"], dtype=np.float32)
    np.testing.assert_array_equal(probabilities, want)
    classes = np.asarray(model.classes)
    labels = (
        classes[(want >= model.threshold).astype(int)] if model.task == "binary" else classes[want.argmax(1)]
    )
    assert body["predictions"] == labels.tolist()


def post(server: Server, payload: object) -> dict:
    response = httpx.post(server.url + "/score", json=payload, timeout=30)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    return response.json()


def test_records_many_rows(served: tuple[TrainedModel, Server]) -> None:
    model, server = served
    frame = model.test_frame
    assert frame["type"].isna().any()
    assert frame["torque_nm"].isna().any()
    check(model, frame, post(server, records(frame)))


def test_split_and_azureml_forms(served: tuple[TrainedModel, Server]) -> None:
    model, server = served
    frame = model.test_frame.iloc[:50]
    rows = records(frame)
    split = {"columns": list(frame.columns), "data": [list(r.values()) for r in rows]}
    check(model, frame, post(server, split))
    check(model, frame, post(server, {"input_data": split}))
    check(model, frame, post(server, {"input_data": rows}))
    check(model, frame, post(server, {"data": rows}))
    # The split form lists the model's features in order (what the OpenAPI document can state exactly):
    # reordered columns are refused with the expected order, never silently mapped.
    reordered = {"columns": list(reversed(frame.columns)), "data": [list(reversed(r.values())) for r in rows]}
    refused = httpx.post(server.url + "/score", json=reordered)
    assert refused.status_code == 422
    error = refused.json()["error"]
    assert error["code"] == "column_order"
    assert "'type', 'air_temperature_k', 'torque_nm', 'tool_wear_min'" in error["message"]


def test_single_row(served: tuple[TrainedModel, Server]) -> None:
    model, server = served
    frame = model.test_frame.iloc[3:4]
    check(model, frame, post(server, records(frame)))
    check(model, frame, post(server, records(frame)[0]))


def test_category_order_is_recoded_like_pandas(served: tuple[TrainedModel, Server]) -> None:
    """xgboost recodes a frame whose category order differs from training; the server must agree."""
    model, server = served
    frame = model.test_frame.copy()
    frame["type"] = frame["type"].cat.reorder_categories(["M", "H", "L"])
    check(model, frame, post(server, records(frame)))


def test_metadata_and_probes(served: tuple[TrainedModel, Server]) -> None:
    model, server = served
    assert httpx.get(server.url + "/health").json() == {"status": "alive"}
    assert httpx.get(server.url + "/ready").json() == {"status": "ready"}
    meta = httpx.get(server.url + "/metadata").json()
    assert meta["model"]["name"] == "edgetrain-xgb"
    assert meta["model"]["version"] == "7"
    assert meta["model"]["task"] == model.task
    assert meta["data_version"]["md5"] == "0123456789abcdef0123456789abcdef"
    assert meta["git_commit"]
    assert meta["metrics"]["rows"] == 100
    assert [f["name"] for f in meta["features"]] == list(model.test_frame.columns)


def test_openapi_describes_score_body(served: tuple[TrainedModel, Server]) -> None:
    _, server = served
    spec = httpx.get(server.url + "/openapi.json").json()
    body = spec["paths"]["/score"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    record = body["oneOf"][0]["items"]
    assert record["properties"]["type"]["enum"] == ["H", "L", "M", None]
    assert set(record["required"]) == {"type", "air_temperature_k", "torque_nm", "tool_wear_min"}
    assert "ScoringError" in spec["components"]["schemas"]
    # Swagger UI and ReDoc would load their scripts from a public CDN (blank on-premises): not served.
    for page in ("/docs", "/redoc"):
        response = httpx.get(server.url + page)
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("n", [1, 7])
def test_sizes(binary_server: tuple[TrainedModel, Server], n: int) -> None:
    model, server = binary_server
    frame = model.test_frame.iloc[:n]
    check(model, frame, post(server, records(frame)))
