"""Benchmark: simulator speed (target: one million requests through one replica in under 10 s
on one core, cost growing linearly with the number of requests).

    make bench      # or: .venv/bin/python benchmarks/bench_sim.py [--max 1000000]

Workload: Llama-3.1-8B on one H100 (vLLM profile), Poisson arrivals at 30 requests/s, prompts
uniform 100-1,000 tokens, outputs uniform 50-500 tokens (about 180 sequences running).
"""

from __future__ import annotations

import sys
import time

from canserve import Workload, get_model, serving_config
from canserve.sim import simulate


def main() -> int:
    top = int(sys.argv[sys.argv.index("--max") + 1]) if "--max" in sys.argv else 1_000_000
    spec = get_model("llama-3.1-8b")
    sizes = [n for n in (10_000, 100_000, 1_000_000) if n <= top]
    timings = []
    print(f"{'requests':>10s} {'seconds':>9s} {'us/request':>11s} {'req/s simulated':>16s}")
    for n in sizes:
        start = time.perf_counter()
        result = simulate(
            serving_config(spec, gpu="H100"),
            Workload("uniform:100-1000", "uniform:50-500", rate=30, requests=n, seed=1),
        )
        seconds = time.perf_counter() - start
        timings.append(seconds)
        print(
            f"{n:10,d} {seconds:9.2f} {seconds / n * 1e6:11.1f} "
            f"{result.throughput_requests_per_s:16.2f}"
        )
    per_request = [t / n for t, n in zip(timings, sizes, strict=True)]
    print(
        f"cost per request grows {per_request[-1] / per_request[0]:.2f}x from "
        f"{sizes[0]:,} to {sizes[-1]:,} requests (1.0 = linear)"
    )
    if top >= 1_000_000:
        print(f"1M requests: {timings[-1]:.1f} s (target < 10 s)")
        return 0 if timings[-1] < 10 else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
