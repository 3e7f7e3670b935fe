"""A bounded concurrent load (2,000 requests, 16 in flight): no 5xx, every good answer correct."""

from __future__ import annotations

import asyncio

import httpx
import numpy as np
import orjson
import xgboost as xgb
from tests.serving.helpers import Server, TrainedModel, records

REQUESTS = 2000
CONCURRENCY = 16
BAD_BODIES = [b"{", b"[]", b'[{"type": "Q"}]', b'[{"type": "M", "air_temperature_k": "x"}]', b"null"]


def test_concurrent_load_has_no_5xx(binary_server: tuple[TrainedModel, Server]) -> None:
    model, server = binary_server
    frame = model.test_frame
    rows = records(frame)
    want = model.booster.predict(xgb.DMatrix(frame, enable_categorical=True))
    headers = {"Content-Type": "application/json"}
    statuses: list[int] = []
    mismatches: list[int] = []

    async def one(client: httpx.AsyncClient, gate: asyncio.Semaphore, i: int) -> None:
        start, size = (i * 7) % 150, 1 + i % 40
        bad = i % 10 == 9
        body = BAD_BODIES[i % len(BAD_BODIES)] if bad else orjson.dumps(rows[start : start + size])
        async with gate:
            response = await client.post("/score", content=body, headers=headers)
        statuses.append(response.status_code)
        if not bad:
            got = np.asarray(response.json()["probabilities"], dtype=np.float32)
            if not np.array_equal(got, want[start : start + size]):
                mismatches.append(i)

    async def run() -> None:
        limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
        async with httpx.AsyncClient(base_url=server.url, limits=limits, timeout=30) as client:
            gate = asyncio.Semaphore(CONCURRENCY)
            await asyncio.gather(*(one(client, gate, i) for i in range(REQUESTS)))

    asyncio.run(run())
    assert len(statuses) == REQUESTS
    assert not [s for s in statuses if s >= 500]
    assert statuses.count(200) == REQUESTS - REQUESTS // 10
    assert set(statuses) <= {200, 400, 422}
    assert not mismatches
