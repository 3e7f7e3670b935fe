"""A small closed-loop HTTP/1.1 load generator: keep-alive raw sockets on asyncio, a bounded request count.

Run as its own process (so the client never shares an interpreter with the server):
    python loadgen.py --url http://127.0.0.1:5001/score --body body.json --requests 4000 --connections 8
Prints one JSON line: requests, errors, seconds, rps, p50_ms, p99_ms, statuses.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit


def build_request(host: str, port: int, path: str, body: bytes) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: keep-alive\r\n\r\n"
    )
    return head.encode() + body


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """(status, whether the server keeps the connection open)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    length = None
    chunked = False
    keep_alive = not lines[0].startswith("HTTP/1.0")
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.lower() == "content-length":
            length = int(value.strip())
        elif name.lower() == "transfer-encoding" and "chunked" in value.lower():
            chunked = True
        elif name.lower() == "connection":
            keep_alive = value.strip().lower() != "close"
    if chunked:
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip(), 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    elif length:
        await reader.readexactly(length)
    return status, keep_alive


async def worker(
    host: str, port: int, request: bytes, *, budget: list[int], latencies: list[float], statuses: Counter
) -> None:
    """Send requests back to back; reconnect (inside the timed span) when the server closes the connection."""
    connection = None
    try:
        while budget[0] > 0:
            budget[0] -= 1
            start = time.perf_counter()
            if connection is None:
                connection = await asyncio.open_connection(host, port)
            reader, writer = connection
            writer.write(request)
            status, keep_alive = await read_response(reader)
            latencies.append(time.perf_counter() - start)
            statuses[status] += 1
            if not keep_alive:
                writer.close()
                connection = None
    finally:
        if connection is not None:
            connection[1].close()


async def run(url: str, body: bytes, requests: int, connections: int, warmup: int) -> dict:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    request = build_request(host, port, parts.path or "/", body)
    if warmup:
        await asyncio.gather(
            *(
                worker(host, port, request, budget=[warmup // connections], latencies=[], statuses=Counter())
                for _ in range(connections)
            )
        )
    budget, latencies, statuses = [requests], [], Counter()
    started = time.perf_counter()
    await asyncio.gather(
        *(
            worker(host, port, request, budget=budget, latencies=latencies, statuses=statuses)
            for _ in range(connections)
        )
    )
    elapsed = time.perf_counter() - started
    quantiles = statistics.quantiles(latencies, n=100, method="inclusive")
    return {
        "requests": len(latencies),
        "errors": sum(v for k, v in statuses.items() if k != 200),
        "seconds": round(elapsed, 3),
        "rps": round(len(latencies) / elapsed, 1),
        "p50_ms": round(quantiles[49] * 1000, 2),
        "p99_ms": round(quantiles[98] * 1000, 2),
        "statuses": {str(k): v for k, v in statuses.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--body", type=Path, required=True)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=200)
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    result = asyncio.run(run(args.url, args.body.read_bytes(), args.requests, args.connections, args.warmup))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
