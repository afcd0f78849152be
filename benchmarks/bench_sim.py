"""Benchmark: simulator speed (target: one million requests through one replica in under 10 s
on one core, cost growing linearly with the number of requests), and the steady-state capacity
search: the time of one search (target: under 1 s for a typical workload) and a long-run check of
its answers (a 20,000-request run with another seed meets every SLO at the answer; 15% more
misses one, or is unstable).

    make bench      # or: .venv/bin/python benchmarks/bench_sim.py [--max 1000000] [--capacity-only]

Speed workload: Llama-3.1-8B on one H100 (vLLM profile), Poisson arrivals at 30 requests/s,
prompts uniform 100-1,000 tokens, outputs uniform 50-500 tokens. Capacity cases: issue 12's
(llama-3.1-8b, H100, ttft_p95=1s; the old search said 78 requests/s) and the README's (L40S,
ttft_p95=500ms,tpot_p99=40ms), prompts 512 and outputs 256 tokens.
"""

from __future__ import annotations

import sys
import time

from canserve import Workload, get_model, serving_config
from canserve.sim import simulate
from canserve.sim.capacity import slo_capacity

CAPACITY_CASES = (
    ("llama-3.1-8b", "H100", "ttft_p95=1s"),
    ("llama-3.1-8b", "L40S", "ttft_p95=500ms,tpot_p99=40ms"),
    ("llama-3.1-70b", "H100", "ttft_p95=2s,tpot_p99=100ms"),
)
LONG_RUN_REQUESTS = 20_000


def capacity() -> int:
    """Time each capacity search, then check its answer in long runs; 1 if an answer fails."""
    print(
        f"{'case':44s} {'search s':>8s} {'answer':>8s} {'runs':>4s} {'at answer':>10s} "
        f"{'at 1.15x':>10s}"
    )
    failures = 0
    for model, gpu, slo in CAPACITY_CASES:
        tp = 4 if model.endswith("70b") else 1
        cfg = serving_config(get_model(model), gpu=gpu, tp=tp)
        start = time.perf_counter()
        cap = slo_capacity(cfg, Workload(rate=1.0), slo)
        seconds = time.perf_counter() - start
        verdicts = []
        for factor in (1.0, 1.15):
            rate = cap.value * factor
            w = Workload(rate=rate, requests=LONG_RUN_REQUESTS, seed=97)
            res = simulate(cfg, w, slo, warmup_s=0.2 * LONG_RUN_REQUESTS / rate)
            met = res.stable and all(s.met for s in res.slo)
            verdicts.append("met" if met else ("unstable" if not res.stable else "missed"))
        failures += verdicts[0] != "met" or verdicts[1] == "met"
        print(
            f"{f'{model} {gpu} {slo}':44s} {seconds:8.2f} {cap.value:8.2f} {cap.probes:4d} "
            f"{verdicts[0]:>10s} {verdicts[1]:>10s}"
        )
    return 1 if failures else 0


def main() -> int:
    if "--capacity-only" in sys.argv:
        return capacity()
    status = capacity()
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
        return status or (0 if timings[-1] < 10 else 1)
    return status


if __name__ == "__main__":
    sys.exit(main())
