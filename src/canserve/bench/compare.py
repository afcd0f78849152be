"""Compare a benchmark with canserve's prediction for the same setup, and calibrate from
benchmarks.

The prediction replays the benchmark's traffic in the simulator: the same prompt and output
lengths, the same concurrency (a closed loop with no think time) or Poisson rate, the same number
of requests, on the given device and framework profile. Calibration fits three physically
bounded numbers per setup to the benchmarks: the device's ``stream_bw_fraction`` (its achievable
streaming bandwidth, a fraction of the datasheet's, from TPOT at two or more batch sizes) and
the framework's ``decode_overhead_s`` (fixed time per decode step, e.g. the server's Python
loop), from the measured TPOT; and the device's ``compute_efficiency`` from the measured TTFT of
uncontended requests. It writes a TOML file that ``--calibration`` accepts.
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path
from typing import Any

from canserve.bench.client import BenchConfig
from canserve.catalog.gpus import GPU
from canserve.errors import InvalidInputError
from canserve.perf.calibration import CPU_FRACTION_MAX, Calibration, load_calibration
from canserve.perf.estimate import estimate_perf
from canserve.serving import ServingConfig
from canserve.sim.api import simulate
from canserve.sim.workload import Workload

__all__ = ["calibrate", "compare", "write_calibration"]

_METRICS = [
    ("ttft_s", "p50"),
    ("ttft_s", "p95"),
    ("tpot_s", "p50"),
    ("tpot_s", "p95"),
    ("e2e_s", "p50"),
    ("e2e_s", "p95"),
]


def predict(cfg: BenchConfig, summary: dict[str, Any], serving: ServingConfig) -> dict[str, Any]:
    """The simulator's answer for the benchmark's traffic."""
    common: dict[str, Any] = dict(
        prompt=cfg.prompt,
        output=cfg.output,
        requests=max(1, summary["succeeded"]),
        seed=cfg.seed,
    )
    if cfg.concurrency is not None:
        traffic = Workload(users=cfg.concurrency, think_s=0.0, **common)
    else:
        traffic = Workload(rate=cfg.rate, **common)
    return simulate(serving, traffic).to_dict()


def compare(cfg: BenchConfig, summary: dict[str, Any], serving: ServingConfig) -> dict[str, Any]:
    """Measured vs. predicted percentiles and throughput, with signed % errors.

    ``serving.max_num_seqs``: how many sequences the server runs at once (1 for a serial
    server), when it differs from the framework profile's default."""
    pred = predict(cfg, summary, serving)
    rows = []
    for metric, stat in _METRICS:
        rows.append(
            _row(f"{metric.removesuffix('_s')} {stat}", summary[metric][stat], pred[metric][stat])
        )
    rows.append(
        _row(
            "output tokens/s",
            summary["throughput_output_tokens_per_s"],
            pred["throughput_output_tokens_per_s"],
        )
    )
    decode = estimate_perf(
        serving,
        batch=min(cfg.concurrency or 1, serving.max_num_seqs or 10**6),
        context=int(summary["mean_prompt_tokens"] + summary["mean_output_tokens"] / 2) or 1,
    )
    measured_decode = 1 / summary["tpot_s"]["p50"] if summary["tpot_s"]["p50"] else math.nan
    rows.append(_row("decode tok/s per sequence", measured_decode, 1 / decode.tpot_s))
    errors = [abs(r["error"]) for r in rows if not math.isnan(r["error"])]
    gpu = serving.require_gpu("compare")
    return dict(
        model=serving.model.model_id,
        gpu=gpu.id,
        framework=serving.framework.id,
        rows=rows,
        median_abs_error=sorted(errors)[len(errors) // 2] if errors else math.nan,
        calibration=serving.calibration.source,
    )


def _row(name: str, measured: float, predicted: float) -> dict[str, Any]:
    error = predicted / measured - 1 if measured else math.nan
    return dict(metric=name, measured=measured, predicted=predicted, error=error)


# The host CPU's rates are a probe's (a numpy read and GEMM), not a datasheet's: a measurement
# that errs low when other processes run (on 2026-12-04 on this 2-core machine, under load, the
# same 256 MiB probe read 6.5 to 23.8 GB/s, `python -c "from canserve.catalog.cpu import
# probe_cpu; print(probe_cpu())"`). An engine may stream or compute faster than the probe did,
# so its fitted fractions may exceed 1, up to CPU_FRACTION_MAX (perf.calibration).


def fraction_grid(gpu: GPU) -> list[float]:
    """Candidate fractions in (0, 1] of the device's rates, in steps of 0.01 (the host CPU's
    up to :data:`CPU_FRACTION_MAX`)."""
    high = CPU_FRACTION_MAX if gpu.vendor == "cpu" else 1.0
    return [x / 100 for x in range(2, round(high * 100) + 1)]


def _bench_points(
    benches: list[tuple[BenchConfig, dict[str, Any]]], max_num_seqs: int | None
) -> tuple[list[tuple[int, int, float]], list[tuple[int, float]]]:
    """(batch, context, measured TPOT) of every run with a TPOT, and (prompt, TTFT) of the
    uncontended ones (concurrency 1)."""
    points, prefill = [], []
    for cfg, summary in benches:
        batch = cfg.concurrency or max(
            1, round(summary["throughput_requests_per_s"] * summary["e2e_s"]["mean"])
        )
        batch = min(batch, max_num_seqs or batch)  # a server running fewer at once
        context = int(summary["mean_prompt_tokens"] + summary["mean_output_tokens"] / 2) or 1
        tpot = summary["tpot_s"]["p50"]
        if not math.isnan(tpot) and tpot > 0:
            points.append((batch, context, tpot))
        ttft = summary["ttft_s"]["p50"]
        if (cfg.concurrency or 0) <= 1 and not math.isnan(ttft) and ttft > 0:
            prefill.append((int(summary["mean_prompt_tokens"]) or 1, ttft))
    return points, prefill


def calibrate(
    benches: list[tuple[BenchConfig, dict[str, Any]]], serving: ServingConfig
) -> tuple[Calibration, dict[str, float]]:
    """Fit, to the benchmarks, the device's streaming bandwidth (``stream_bw_fraction``, from
    the TPOT of runs at two or more batch sizes; kept at its prior with one), the framework's
    fixed time per decode step (``decode_overhead_s`` >= 0, from every TPOT) and the device's
    ``compute_efficiency`` (from the TTFT of uncontended runs). Every fraction stays in (0, 1]."""
    gpu = serving.require_gpu("calibrate")
    framework = serving.framework.id
    base = load_calibration()
    kernels = base.kernels_for(gpu.id)
    fw = base.framework(framework)
    points, prefill = _bench_points(benches, serving.max_num_seqs)
    if not points:
        raise InvalidInputError("no benchmark with a measured TPOT to calibrate from")

    def with_values(stream: float, overhead: float, compute: float) -> Calibration:
        device = replace(kernels, stream_bw_fraction=stream, compute_efficiency=compute)
        devices = {**base.devices, gpu.id: device}
        sources = {**base.device_sources, gpu.id: "canserve calibrate (benchmarks of a server)"}
        frameworks = {**base.frameworks, framework: replace(fw, decode_overhead_s=overhead)}
        return replace(
            base,
            devices=devices,
            device_sources=sources,
            frameworks=frameworks,
            source="calibrated",
        )

    def tpot(cal: Calibration, batch: int, context: int) -> float:
        return estimate_perf(
            serving.with_changes(calibration=cal), batch=batch, context=context
        ).tpot_s

    def fit_overhead(stream: float, compute: float) -> tuple[float, float]:
        """Least-squares decode overhead (>= 0) for these fractions, and the squared error."""
        cal = with_values(stream, 0.0, compute)
        gaps = [(m - tpot(cal, b, c), m) for b, c, m in points]
        # minimise the relative errors: weights 1 / measured^2
        overhead = max(0.0, sum(g / m**2 for g, m in gaps) / sum(1 / m**2 for _, m in gaps))
        return overhead, sum(((g - overhead) / m) ** 2 for g, m in gaps)

    def fit_compute(stream: float, overhead: float) -> float:
        if not prefill:
            return kernels.compute_efficiency
        trial = with_values(stream, overhead, 1.0)
        ratios = [
            estimate_perf(serving.with_changes(calibration=trial), prompt=p, output=1).ttft_s / t
            for p, t in prefill
        ]
        return max(0.01, min(grid[-1], sum(ratios) / len(ratios)))

    grid = fraction_grid(gpu)
    prior = kernels.stream_bw_fraction

    def best_stream(compute: float) -> float:
        """The fraction with the least TPOT error; among equal errors, the one nearest the
        prior (one batch size fixes the bandwidth only when overheads >= 0 cannot fit)."""

        def key(f: float) -> tuple[float, float]:
            return round(fit_overhead(f, compute)[1], 9), abs(f - prior)

        coarse = min([*grid[::5], prior], key=key)  # steps of 0.05, then 0.01 near the best
        return min([prior, *(f for f in grid if abs(f - coarse) <= 0.05)], key=key)

    stream, compute = prior, kernels.compute_efficiency
    for _ in range(2):  # TPOT at larger batch sees compute; TTFT sees the bandwidth
        stream = best_stream(compute)
        overhead = fit_overhead(stream, compute)[0]
        compute = fit_compute(stream, overhead)
    values = dict(stream_bw_fraction=stream, decode_overhead_s=overhead, compute_efficiency=compute)
    return with_values(stream, overhead, compute), values


def write_calibration(
    path: str | Path, gpu: GPU, framework: str, values: dict[str, float], sources: list[str]
) -> None:
    lines = [
        "# canserve calibration fitted by `canserve calibrate` from benchmarks of a live server:",
        *[f"#   {s}" for s in sources],
        "# Pass it to perf, simulate and plan with --calibration FILE.",
        "",
        f'[device."{gpu.id}"]',
        f"stream_bw_fraction = {values['stream_bw_fraction']:.4f}",
        f"compute_efficiency = {values['compute_efficiency']:.4f}",
        "",
        f'[framework."{framework}"]',
        f"decode_overhead_s = {values['decode_overhead_s']:.6f}",
        "",
    ]
    Path(path).write_text("\n".join(lines))
