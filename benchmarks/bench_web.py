"""Benchmark: the HTTP API under sustained load on loopback (target: at least 500 requests/s,
zero errors, P99 under 50 ms on this 2-core machine).

    make bench      # or: .venv/bin/python benchmarks/bench_web.py [--seconds 60]

Starts ``canserve web`` in a subprocess on a free loopback port, then drives POST /api/memory
and POST /api/perf (alternating, varied batch and context) from 12 concurrent connections for
``--seconds`` seconds (60 by default), and reports requests/s, errors and latency percentiles.
The load generator runs on the same 2 cores as the server, so it takes part of the CPU.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time

import httpx2

CONCURRENCY = 12


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _worker(
    client: httpx2.AsyncClient, stop: float, lat: list[float], errors: list[str], seed: int
) -> None:
    i = seed
    while time.perf_counter() < stop:
        i += 1
        if i % 2:
            path, body = (
                "/api/memory",
                {
                    "model": "llama-3.1-70b",
                    "quant": "awq",
                    "gpu": "A100-80GB",
                    "batch": 1 + i % 64,
                    "context": 1024 * (1 + i % 8),
                },
            )
        else:
            path, body = (
                "/api/perf",
                {
                    "model": "llama-3.1-8b",
                    "gpu": "H100",
                    "batch": 1 + i % 128,
                    "context": 512 * (1 + i % 16),
                },
            )
        t0 = time.perf_counter()
        try:
            r = await client.post(path, json=body)
            if r.status_code != 200:
                errors.append(f"{path}: HTTP {r.status_code}")
        except httpx2.HTTPError as exc:
            errors.append(f"{path}: {exc!r}")
        lat.append(time.perf_counter() - t0)


async def _load(base: str, seconds: float) -> tuple[list[float], list[str], float]:
    lat: list[float] = []
    errors: list[str] = []
    limits = httpx2.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    async with httpx2.AsyncClient(base_url=base, limits=limits, timeout=10) as client:
        start = time.perf_counter()
        stop = start + seconds
        await asyncio.gather(*(_worker(client, stop, lat, errors, k) for k in range(CONCURRENCY)))
        return lat, errors, time.perf_counter() - start


def main() -> int:
    seconds = float(sys.argv[sys.argv.index("--seconds") + 1]) if "--seconds" in sys.argv else 60
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "canserve", "web", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                if httpx2.get(base + "/api/health", timeout=1).status_code == 200:
                    break
            except httpx2.HTTPError:
                time.sleep(0.1)
        asyncio.run(_load(base, 2))  # warm the caches
        lat, errors, elapsed = asyncio.run(_load(base, seconds))
    finally:
        server.terminate()
        server.wait(timeout=10)
    lat.sort()
    n = len(lat)

    def pct(q: float) -> float:
        return lat[min(n - 1, int(q * n))] * 1e3

    rate = n / elapsed
    print(f"{n:,} requests in {elapsed:.1f} s: {rate:,.0f} requests/s, {len(errors)} errors")
    print(
        f"latency ms: p50 {pct(0.5):.1f}, p90 {pct(0.9):.1f}, p99 {pct(0.99):.1f}, "
        f"max {lat[-1] * 1e3:.1f}"
    )
    for e in errors[:5]:
        print("error:", e)
    ok = rate >= 500 and not errors and pct(0.99) < 50
    print("target (>= 500 req/s, 0 errors, p99 < 50 ms):", "met" if ok else "NOT met")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
