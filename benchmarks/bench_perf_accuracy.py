"""Benchmark: accuracy of the performance model against the measurements in calibration/.

    make bench      # or: .venv/bin/python benchmarks/bench_perf_accuracy.py

Prints predicted vs. measured for every row and the median / max absolute error of the rows
held out of the fit (the issue's target: <= 10% median, <= 25% worst, on GPUs and model sizes not
used for fitting; only one GPU and one model size have been measured so far, so this reports
held-out contexts and shapes on that GPU). Exits 1 if the held-out optimized-engine rows miss it.
"""

from __future__ import annotations

import importlib.util
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("fit_perf", ROOT / "scripts" / "fit_perf.py")
assert spec and spec.loader
fit_perf = importlib.util.module_from_spec(spec)
sys.modules["fit_perf"] = fit_perf
spec.loader.exec_module(fit_perf)


def main() -> int:
    from canserve.perf.calibration import load_calibration

    cal = load_calibration()
    held: list[float] = []
    print(
        f"{'set':9s} {'kind':11s} {'batch':>5s} {'tokens':>7s} {'measured':>10s} "
        f"{'predicted':>10s} {'error':>7s}"
    )
    for row in fit_perf.load_rows():
        predicted = fit_perf.predict(row, cal)
        err = predicted / row.measured_s - 1
        if not row.fit and not row.kind.startswith("hf"):
            held.append(abs(err))
        print(
            f"{'fit' if row.fit else 'held-out':9s} {row.kind:11s} {row.batch:5d} "
            f"{row.tokens:7d} {row.measured_s * 1e3:8.2f}ms {predicted * 1e3:8.2f}ms "
            f"{err:+7.1%}"
        )
    median, worst = statistics.median(held), max(held)
    print(
        f"held-out optimized-engine rows: {len(held)}, median {median:.1%}, max {worst:.1%} "
        "(target: median <= 10%, max <= 25%)"
    )
    return 0 if median <= 0.10 and worst <= 0.25 else 1


if __name__ == "__main__":
    sys.exit(main())
