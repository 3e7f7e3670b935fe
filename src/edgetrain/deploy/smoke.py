"""The smoke test a new slot passes before it takes traffic: synthetic requests from the model's own schema.

Rows are generated from ``metadata.json`` alone (feature names, types, categories and the per-feature
``example`` aggregate that ``prepare`` records), never read from data: each numeric feature varies around
its example (or 0), each categorical one cycles through its categories, and every few cells are null, so
the request exercises the missing-value path too. Each request must answer 200 with one prediction per row
(and one probability row per row for classifiers) within ``max_latency_ms``.
"""

from __future__ import annotations

import json
import random
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgetrain.config.deploy import SmokeConfig
from edgetrain.deploy.errors import DeployError

NULL_EVERY = 7
SEED = 20261204


def read_schema(metadata: Path) -> dict[str, Any]:
    try:
        data = json.loads(metadata.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DeployError(f"{metadata}: cannot read the model's schema: {exc}") from None
    features = data.get("features") if isinstance(data, dict) else None
    if not isinstance(features, list) or not features:
        raise DeployError(f"{metadata}: features: no feature schema to build a smoke test from")
    for index, feature in enumerate(features):
        if not isinstance(feature, dict) or not isinstance(feature.get("name"), str):
            raise DeployError(f"{metadata}: features[{index}]: needs a name")
        if feature.get("dtype") == "category" and not feature.get("categories"):
            raise DeployError(
                f"{metadata}: features[{index}] ({feature['name']}): category without categories"
            )
    return dict(data)


def synthetic_rows(schema: dict[str, Any], n_rows: int, seed: int = SEED) -> list[dict[str, Any]]:
    """``n_rows`` JSON records built from the schema only (deterministic for a seed)."""
    rng = random.Random(seed)  # noqa: S311 - test inputs, not secrets
    rows: list[dict[str, Any]] = []
    for r in range(n_rows):
        row: dict[str, Any] = {}
        for c, feature in enumerate(schema["features"]):
            if (r + c) % NULL_EVERY == NULL_EVERY - 1:
                row[feature["name"]] = None
            elif feature.get("dtype") == "category":
                categories = feature["categories"]
                row[feature["name"]] = categories[(r + c) % len(categories)]
            else:
                example = feature.get("example")
                base = float(example) if isinstance(example, int | float) else 0.0
                row[feature["name"]] = round(base * (1 + rng.uniform(-0.2, 0.2)) + rng.uniform(-1, 1), 4)
        rows.append(row)
    return rows


@dataclass(frozen=True)
class SmokeResult:
    requests: int
    rows: int
    p50_ms: float
    max_ms: float

    def to_dict(self) -> dict[str, Any]:
        return {"requests": self.requests, "rows": self.rows, "p50_ms": self.p50_ms, "max_ms": self.max_ms}

    def summary(self) -> str:
        return (
            f"{self.requests} requests x {self.rows} rows, p50 {self.p50_ms:.1f} ms, max {self.max_ms:.1f} ms"
        )


def _check_shape(answer: bytes, schema: dict[str, Any], n_rows: int) -> str | None:
    try:
        doc = json.loads(answer)
    except ValueError:
        return "answer is not JSON"
    predictions = doc.get("predictions") if isinstance(doc, dict) else None
    if not isinstance(predictions, list) or len(predictions) != n_rows:
        got = len(predictions) if isinstance(predictions, list) else "none"
        return f"expected {n_rows} predictions, got {got}"
    if schema.get("task") in {"binary", "multiclass"}:
        probabilities = doc.get("probabilities")
        if not isinstance(probabilities, list) or len(probabilities) != n_rows:
            return f"expected {n_rows} probabilities"
    return None


def run(
    post: Callable[[bytes, float], tuple[int, bytes]], schema: dict[str, Any], cfg: SmokeConfig, where: str
) -> SmokeResult:
    """Send ``cfg.requests`` requests through ``post(body, timeout)``; raise DeployError on the first miss."""
    latencies: list[float] = []
    for index in range(cfg.requests):
        body = json.dumps(synthetic_rows(schema, cfg.rows, SEED + index)).encode()
        started = time.perf_counter()
        try:
            status, answer = post(body, max(cfg.max_latency_ms / 1000 * 5, 5.0))
        except OSError as exc:
            raise DeployError(f"smoke test on {where}: request {index + 1} failed: {exc}") from None
        elapsed = (time.perf_counter() - started) * 1000
        if status != 200:
            text = answer[:200].decode("utf-8", "replace").replace("\n", " ")
            raise DeployError(f"smoke test on {where}: request {index + 1} answered HTTP {status}: {text}")
        problem = _check_shape(answer, schema, cfg.rows)
        if problem:
            raise DeployError(f"smoke test on {where}: request {index + 1}: {problem}")
        latencies.append(elapsed)
    p50 = statistics.median(latencies)
    if p50 > cfg.max_latency_ms:
        raise DeployError(
            f"smoke test on {where}: median latency {p50:.0f} ms is over "
            f"max_latency_ms {cfg.max_latency_ms:g}"
        )
    return SmokeResult(cfg.requests, cfg.rows, round(p50, 2), round(max(latencies), 2))
