"""A small closed-loop HTTP/1.1 load generator: keep-alive raw sockets on asyncio, a fixed time window.

Run as its own process (so the client never shares an interpreter with the server):
    python loadgen.py --url http://127.0.0.1:5001/score --body body.json --seconds 10 --connections 8
Prints one JSON line: requests, errors, seconds, rps, p50_ms, p99_ms, statuses, connects (TCP connections
opened in the window: 8 for a server that keeps connections alive, one per request for one that closes
them) and client_cores (the client's own CPU seconds per second of window: how much of the machine the
load itself took).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
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
    host: str,
    port: int,
    request: bytes,
    *,
    deadline: float,
    latencies: list[float],
    statuses: Counter,
    connects: list[int],
) -> None:
    """Send requests back to back until the deadline; reconnect (inside the timed span) when the server
    closes the connection. A connection error counts as status 0 and the worker reconnects."""
    connection = None
    try:
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            try:
                if connection is None:
                    connection = await asyncio.open_connection(host, port)
                    connects[0] += 1
                reader, writer = connection
                writer.write(request)
                status, keep_alive = await read_response(reader)
            except (OSError, asyncio.IncompleteReadError, ValueError, IndexError):
                statuses[0] += 1
                if connection is not None:
                    connection[1].close()
                connection = None
                await asyncio.sleep(0.01)
                continue
            latencies.append(time.perf_counter() - start)
            statuses[status] += 1
            if not keep_alive:
                connection[1].close()
                connection = None
    finally:
        if connection is not None:
            connection[1].close()


async def run(url: str, body: bytes, seconds: float, connections: int, warmup: float) -> dict:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    request = build_request(host, port, parts.path or "/", body)

    async def window(length: float, latencies: list[float], statuses: Counter, connects: list[int]) -> float:
        started = time.perf_counter()
        deadline = started + length
        await asyncio.gather(
            *(
                worker(
                    host,
                    port,
                    request,
                    deadline=deadline,
                    latencies=latencies,
                    statuses=statuses,
                    connects=connects,
                )
                for _ in range(connections)
            )
        )
        return time.perf_counter() - started

    if warmup > 0:
        await window(warmup, [], Counter(), [0])
    latencies: list[float] = []
    statuses: Counter = Counter()
    connects = [0]
    cpu_start = resource.getrusage(resource.RUSAGE_SELF)
    elapsed = await window(seconds, latencies, statuses, connects)
    cpu_end = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (cpu_end.ru_utime - cpu_start.ru_utime) + (cpu_end.ru_stime - cpu_start.ru_stime)
    quantiles = (
        statistics.quantiles(latencies, n=100, method="inclusive") if len(latencies) > 1 else [0.0] * 99
    )
    return {
        "requests": len(latencies),
        "errors": sum(v for k, v in statuses.items() if k != 200),
        "seconds": round(elapsed, 3),
        "rps": round(len(latencies) / elapsed, 1),
        "p50_ms": round(quantiles[49] * 1000, 3),
        "p99_ms": round(quantiles[98] * 1000, 3),
        "statuses": {str(k): v for k, v in statuses.items()},
        "connects": connects[0],
        "client_cores": round(cpu / elapsed, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--body", type=Path, required=True)
    parser.add_argument("--seconds", type=float, default=10.0, help="timed window")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds of untimed load first")
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    result = asyncio.run(run(args.url, args.body.read_bytes(), args.seconds, args.connections, args.warmup))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
