"""Benchmark: how the performance model transfers, leave-one-group-out on the H100 measurements.

    make bench      # or: .venv/bin/python benchmarks/bench_perf_accuracy.py

For each group of measured steps (8B bf16 at short and long context, the 70B shape, FP8 W8A8,
Mixtral-shaped MoE, prefill) the step constants are refitted without it and the group is
predicted. Prints every held-out row and the issue's targets: dense bf16 and FP8 median <= 5%,
worst <= 15%; MoE median <= 12%, worst <= 30%. Exits 1 if a target is missed. (The numbers are
the same as in docs/perf-accuracy.md, which scripts/fit_perf.py writes.)
"""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("fit_perf", ROOT / "scripts" / "fit_perf.py")
assert spec and spec.loader
fit_perf = importlib.util.module_from_spec(spec)
sys.modules["fit_perf"] = fit_perf
spec.loader.exec_module(fit_perf)


def main() -> int:
    from canserve.perf.calibration import load_calibration

    start = time.perf_counter()
    folds = fit_perf.leave_one_group_out(load_calibration())
    print(f"{'held-out group':32s} {'batch':>5s} {'tokens':>7s} {'measured':>10s} {'error':>7s}")
    for fold in folds:
        for row, err in fold.errors.items():
            print(
                f"{fit_perf.GROUPS[fold.group]:32s} {row.batch:5d} {row.tokens:7d} "
                f"{row.measured_s * 1e3:8.2f}ms {err:+7.1%}"
            )
    ok = True
    for name, (median, worst, med_t, worst_t) in fit_perf.category_errors(folds).items():
        met = median <= med_t and worst <= worst_t
        ok = ok and met
        print(
            f"{name:10s} held out: median {median:.1%} (target <= {med_t:.0%}), worst "
            f"{worst:.1%} (target <= {worst_t:.0%}): {'met' if met else 'MISSED'}"
        )
    print(f"{len(folds)} refits in {time.perf_counter() - start:.1f} s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
