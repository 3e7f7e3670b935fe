"""Send one real scoring request to a running server (``edgetrain score-example``)."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any

from edgetrain.errors import EdgetrainError


def http_json(url: str, body: Any = None, timeout: float = 10.0) -> tuple[int, Any]:
    """GET (``body`` None) or POST JSON; returns (status, parsed JSON or text)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method="GET" if body is None else "POST")  # noqa: S310
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - http(s) URL from the user
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as err:
        status, raw = err.code, err.read()
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise EdgetrainError(f"{url}: cannot reach the scoring server ({reason})") from None
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode(errors="replace")


def wait_ready(base_url: str, route: str, timeout: float) -> None:
    """Poll the readiness route until it answers 200 (bounded by ``timeout`` seconds)."""
    deadline = time.monotonic() + timeout
    last = ""
    while True:
        try:
            status, _ = http_json(base_url + route, timeout=2.0)
            if status == 200:
                return
            last = f"HTTP {status}"
        except EdgetrainError as exc:
            last = str(exc)
        if time.monotonic() >= deadline:
            raise EdgetrainError(f"{base_url}{route}: not ready after {timeout:.0f}s ({last})")
        time.sleep(0.2)


def _example_value(feature: dict[str, Any]) -> Any:
    if feature.get("dtype") == "category":
        categories = feature.get("categories") or [None]
        return feature["example"] if feature.get("example") in categories else categories[0]
    for key in ("example", "median", "mean"):
        if isinstance(feature.get(key), int | float):
            return feature[key]
    return 0.0


def example_body(metadata: dict[str, Any]) -> dict[str, Any]:
    """A one-row request in the split form, from the server's ``/metadata`` feature schema."""
    features = metadata.get("features") or []
    return {
        "columns": [f["name"] for f in features],
        "data": [[_example_value(f) for f in features]],
    }
