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

import json
import math
import tempfile
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from canserve.bench.client import BenchConfig, RequestRecord
from canserve.bench.summary import BenchSummary
from canserve.catalog.gpus import GPU
from canserve.errors import InvalidInputError
from canserve.perf.calibration import CPU_FRACTION_MAX, Calibration, load_calibration
from canserve.perf.estimate import estimate_perf
from canserve.serving import ServingConfig
from canserve.sim.api import SimResult, simulate
from canserve.sim.workload import Workload

__all__ = [
    "CalibrationValues",
    "CompareRow",
    "Comparison",
    "calibrate",
    "compare",
    "predict",
    "write_calibration",
]


@dataclass(frozen=True)
class CompareRow:
    """One metric measured and predicted; ``error``: predicted / measured - 1 (NaN when
    nothing was measured)."""

    metric: str  # e.g. "ttft p50", "output tokens/s"
    measured: float
    predicted: float
    error: float


@dataclass(frozen=True)
class Comparison:
    """``canserve compare``: a benchmark beside the prediction for the same traffic."""

    model: str
    gpu: str
    framework: str
    rows: list[CompareRow]
    median_abs_error: float  # of the rows' errors (NaN when none is defined)
    calibration: str  # the calibration's source

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class CalibrationValues:
    """What :func:`calibrate` fits (the keys of ``canserve calibrate --json``'s ``values``)."""

    stream_bw_fraction: float  # of the device's streaming bandwidth
    decode_overhead_s: float  # per decode step
    sequence_overhead_s: float  # per sequence a decode step runs
    compute_efficiency: float  # of the device's peak FLOP/s, from TTFT

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def _replay(records: list[RequestRecord], folder: Path) -> Path:
    """The run's arrivals as a JSONL trace: each request's send time, prompt and output
    tokens (the measured count where it succeeded, else its ``max_tokens``)."""
    path = folder / "arrivals.jsonl"
    lines = [
        json.dumps(
            dict(
                arrival_s=r.start_s,
                prompt=max(1, r.prompt_tokens),
                output=max(1, r.output_tokens if r.ok else r.max_tokens),
            )
        )
        for r in sorted(records, key=lambda r: r.start_s)
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def predict(
    cfg: BenchConfig,
    summary: BenchSummary,
    serving: ServingConfig,
    records: list[RequestRecord] | None = None,
) -> SimResult:
    """The simulator's answer for the benchmark's traffic. A closed-loop run is replayed as
    ``concurrency`` users with no think time; an open-loop run with its ``records`` as a trace
    of its own arrival times and lengths (so the prediction sees the same bursts the server
    saw), else as a Poisson process at its rate."""
    prompt = cfg.prompt
    if prompt.strip().isdigit() and summary.mean_prompt_tokens >= 1:
        prompt = str(round(summary.mean_prompt_tokens))  # as the server's tokenizer counted
    common: dict[str, Any] = dict(
        prompt=prompt,
        output=cfg.output,
        requests=max(1, summary.succeeded),
        seed=cfg.seed,
    )
    if cfg.concurrency is not None:
        return simulate(serving, Workload(users=cfg.concurrency, think_s=0.0, **common))
    if not records:
        return simulate(serving, Workload(rate=cfg.rate, **common))
    with tempfile.TemporaryDirectory(prefix="canserve-replay-") as folder:
        trace = _replay(records, Path(folder))
        return simulate(serving, Workload(trace=trace, requests=len(records)))


def compare(
    cfg: BenchConfig,
    summary: BenchSummary,
    serving: ServingConfig,
    records: list[RequestRecord] | None = None,
) -> Comparison:
    """Measured vs. predicted percentiles and throughput, with signed % errors.

    ``serving.max_num_seqs``: how many sequences the server runs at once (1 for a serial
    server), when it differs from the framework profile's default. ``records``: the run's
    requests, so that an open-loop run is replayed with its own arrival times."""
    pred = predict(cfg, summary, serving, records)
    rows = [
        _row(f"{name} {stat}", measured.stat(stat), predicted[stat])
        for name, measured, predicted in (
            ("ttft", summary.ttft_s, pred.ttft_s),
            ("tpot", summary.tpot_s, pred.tpot_s),
            ("e2e", summary.e2e_s, pred.e2e_s),
        )
        for stat in ("p50", "p95")
    ]
    rows.append(
        _row(
            "output tokens/s",
            summary.throughput_output_tokens_per_s,
            pred.throughput_output_tokens_per_s,
        )
    )
    decode = estimate_perf(
        serving,
        batch=min(cfg.concurrency or 1, serving.max_num_seqs or 10**6),
        context=int(summary.mean_prompt_tokens + summary.mean_output_tokens / 2) or 1,
    )
    measured_decode = 1 / summary.tpot_s.p50 if summary.tpot_s.p50 else math.nan
    rows.append(_row("decode tok/s per sequence", measured_decode, 1 / decode.tpot_s))
    errors = [abs(r.error) for r in rows if not math.isnan(r.error)]
    gpu = serving.require_gpu("compare")
    return Comparison(
        model=serving.model.model_id,
        gpu=gpu.id,
        framework=serving.framework.id,
        rows=rows,
        median_abs_error=sorted(errors)[len(errors) // 2] if errors else math.nan,
        calibration=serving.calibration.source,
    )


def _row(name: str, measured: float, predicted: float) -> CompareRow:
    error = predicted / measured - 1 if measured else math.nan
    return CompareRow(metric=name, measured=measured, predicted=predicted, error=error)


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
    benches: list[tuple[BenchConfig, BenchSummary]], max_num_seqs: int | None
) -> tuple[list[tuple[int, int, float]], list[tuple[int, float]]]:
    """(batch, context, measured decode step) of every run, and (prompt, TTFT) of the
    uncontended ones (concurrency 1). The decode step is the median inter-token gap (ITL p50):
    with several sequences running, a request's TPOT also holds the steps that prefilled the
    others' prompts, which the step model prices separately; its median gap is a pure decode
    step. TPOT p50 where a run has no ITL."""
    points, prefill = [], []
    for cfg, summary in benches:
        batch = cfg.concurrency or max(
            1, round(summary.throughput_requests_per_s * summary.e2e_s.mean)
        )
        batch = min(batch, max_num_seqs or batch)  # a server running fewer at once
        context = int(summary.mean_prompt_tokens + summary.mean_output_tokens / 2) or 1
        step = summary.itl_s.p50
        if not _positive(step):
            step = summary.tpot_s.p50
        if _positive(step):
            points.append((batch, context, step))
        ttft = summary.ttft_s.p50
        if (cfg.concurrency or 0) <= 1 and _positive(ttft):
            prefill.append((int(summary.mean_prompt_tokens) or 1, ttft))
    return points, prefill


def _positive(value: object) -> bool:
    return isinstance(value, int | float) and math.isfinite(value) and value > 0


def _fit_overheads(
    gaps: list[tuple[float, float, int]], per_sequence: bool
) -> tuple[float, float, float]:
    """Non-negative least squares for ``measured - model = overhead + batch x per_sequence``
    over ``gaps`` of (gap, measured, batch), in relative terms (weights 1 / measured^2).
    Returns (overhead, per_sequence, squared relative error)."""

    def error(o: float, q: float) -> float:
        return sum(((g - o - b * q) / m) ** 2 for g, m, b in gaps)

    w = [1 / m**2 for _, m, _ in gaps]
    sw = sum(w)
    only_o = max(0.0, sum(wi * g for wi, (g, _, _) in zip(w, gaps, strict=True)) / sw)
    candidates = [(only_o, 0.0)]
    if per_sequence:
        sb = sum(wi * b for wi, (_, _, b) in zip(w, gaps, strict=True))
        sbb = sum(wi * b * b for wi, (_, _, b) in zip(w, gaps, strict=True))
        sg = sum(wi * g for wi, (g, _, _) in zip(w, gaps, strict=True))
        sbg = sum(wi * b * g for wi, (g, _, b) in zip(w, gaps, strict=True))
        det = sw * sbb - sb * sb
        if det > 0:
            o, q = (sg * sbb - sb * sbg) / det, (sw * sbg - sb * sg) / det
            if o >= 0 and q >= 0:
                candidates.append((o, q))
        candidates.append((0.0, max(0.0, sbg / sbb)))
    o, q = min(candidates, key=lambda c: error(*c))
    return o, q, error(o, q)


def calibrate(
    benches: list[tuple[BenchConfig, BenchSummary]], serving: ServingConfig
) -> tuple[Calibration, CalibrationValues]:
    """Fit, to the benchmarks, the framework's fixed time per decode step
    (``decode_overhead_s`` >= 0) and, from two or more batch sizes, its time per decoded
    sequence (``sequence_overhead_s`` >= 0: sampling, detokenizing, streaming), both from the
    measured decode steps (:func:`_bench_points`); the device's ``compute_efficiency`` from the
    TTFT of uncontended runs; and its streaming bandwidth (``stream_bw_fraction``), kept at its
    prior unless the overheads cannot explain the decode steps (a server faster than the prior
    allows, or a batch-size curve it cannot draw). Every fraction stays in (0, 1], the host
    CPU's in (0, CPU_FRACTION_MAX]."""
    gpu = serving.require_gpu("calibrate")
    framework = serving.framework.id
    base = load_calibration()
    kernels = base.kernels_for(gpu.id)
    fw = base.framework(framework)
    points, prefill = _bench_points(benches, serving.max_num_seqs)
    if not points:
        raise InvalidInputError("no benchmark with a measured TPOT to calibrate from")
    several = len({b for b, _, _ in points}) >= 2

    def with_values(
        stream: float, compute: float, overhead: float = 0.0, per_seq: float = 0.0
    ) -> Calibration:
        device = replace(kernels, stream_bw_fraction=stream, compute_efficiency=compute)
        devices = {**base.devices, gpu.id: device}
        sources = {**base.device_sources, gpu.id: "canserve calibrate (benchmarks of a server)"}
        costs = replace(fw, decode_overhead_s=overhead, sequence_overhead_s=per_seq)
        return replace(
            base,
            devices=devices,
            device_sources=sources,
            frameworks={**base.frameworks, framework: costs},
            source="calibrated",
        )

    def step_s(cal: Calibration, batch: int, context: int) -> float:
        return estimate_perf(
            serving.with_changes(calibration=cal), batch=batch, context=context
        ).tpot_s

    def fit_overheads(stream: float, compute: float) -> tuple[float, float, float]:
        cal = with_values(stream, compute)
        gaps = [(m - step_s(cal, b, c), m, b) for b, c, m in points]
        return _fit_overheads(gaps, several)

    def fit_compute(stream: float, overhead: float, per_seq: float) -> float:
        if not prefill:
            return kernels.compute_efficiency
        trial = with_values(stream, 1.0, overhead, per_seq)
        ratios = [
            estimate_perf(serving.with_changes(calibration=trial), prompt=p, output=1).ttft_s / t
            for p, t in prefill
        ]
        return max(0.01, min(grid[-1], sum(ratios) / len(ratios)))

    grid = fraction_grid(gpu)
    prior = kernels.stream_bw_fraction

    def best_stream(compute: float) -> float:
        """The fraction with the least error; among equal errors, the one nearest the prior."""

        def key(f: float) -> tuple[float, float]:
            return round(fit_overheads(f, compute)[2], 9), abs(f - prior)

        coarse = min([*grid[::5], prior], key=key)  # steps of 0.05, then 0.01 near the best
        return min([prior, *(f for f in grid if abs(f - coarse) <= 0.05)], key=key)

    stream, compute = prior, kernels.compute_efficiency
    for _ in range(2):  # the decode steps see compute at larger batches; TTFT sees bandwidth
        stream = best_stream(compute)
        overhead, per_seq, _ = fit_overheads(stream, compute)
        compute = fit_compute(stream, overhead, per_seq)
    overhead, per_seq, _ = fit_overheads(stream, compute)
    values = CalibrationValues(
        stream_bw_fraction=stream,
        decode_overhead_s=overhead,
        sequence_overhead_s=per_seq,
        compute_efficiency=compute,
    )
    return with_values(stream, compute, overhead, per_seq), values


def write_calibration(
    path: str | Path, gpu: GPU, framework: str, values: CalibrationValues, sources: list[str]
) -> None:
    lines = [
        "# canserve calibration fitted by `canserve calibrate` from benchmarks of a live server:",
        *[f"#   {s}" for s in sources],
        "# Pass it to perf, simulate and plan with --calibration FILE.",
        "",
        f'[device."{gpu.id}"]',
        f"stream_bw_fraction = {values.stream_bw_fraction:.4f}",
        f"compute_efficiency = {values.compute_efficiency:.4f}",
        "",
        f'[framework."{framework}"]',
        f"decode_overhead_s = {values.decode_overhead_s:.6f}",
        f"sequence_overhead_s = {values.sequence_overhead_s:.6f}",
        "",
    ]
    Path(path).write_text("\n".join(lines))
