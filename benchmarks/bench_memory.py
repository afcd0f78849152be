"""Benchmark: how long one memory estimate takes (target: well under a millisecond).

    make bench        # or: .venv/bin/python benchmarks/bench_memory.py

Reports, per model, the first estimate (config parsing, tensor inventory, weight bytes: cached
afterwards) and the median of repeated estimates that vary batch, context and GPU (the planner's
hot path). Prints a table and exits 1 if the warm median exceeds 1 ms.
"""

from __future__ import annotations

import statistics
import sys
import time

from canserve import estimate_memory, get_model, serving_config

MODELS = ["llama-3.1-8b", "llama-3.1-70b", "deepseek-v3", "qwen3-next-80b-a3b", "gpt-oss-120b"]
GPUS = ["H100", "A100-80GB", "L40S", "H200", "MI300X"]
TARGET_S = 1e-3


def main() -> int:
    worst = 0.0
    print(f"{'model':24s} {'first (ms)':>11s} {'warm median (us)':>17s} {'warm p99 (us)':>14s}")
    for name in MODELS:
        start = time.perf_counter()
        spec = get_model(name)
        estimate_memory(serving_config(spec, gpu="H100"), batch=8, context=4096)
        first = time.perf_counter() - start
        times = []
        for i in range(2000):
            t0 = time.perf_counter()
            cfg = serving_config(spec, gpu=GPUS[i % 5])
            estimate_memory(cfg, batch=1 + i % 64, context=1024 * (1 + i % 8))
            times.append(time.perf_counter() - t0)
        times.sort()
        median, p99 = statistics.median(times), times[int(0.99 * len(times))]
        worst = max(worst, median)
        print(f"{name:24s} {first * 1e3:11.1f} {median * 1e6:17.1f} {p99 * 1e6:14.1f}")
    print(f"worst warm median {worst * 1e6:.1f} us (target < {TARGET_S * 1e6:.0f} us)")
    return 0 if worst < TARGET_S else 1


if __name__ == "__main__":
    sys.exit(main())
