"""``canserve bench --sweep``: the measured SLO capacity of a live server, the same question
``canserve simulate --find-max-rate`` answers for a predicted one.

Like the load generators people use for this (guidellm's ``sweep`` profile, vLLM's
``benchmark_serving`` at several ``--request-rate`` values): a **synchronous** run (one request
at a time: the latency floor), a **throughput** run (``concurrency`` requests in flight: the
saturation throughput), then open-loop Poisson runs at ``points`` rates evenly spaced up to that
saturation throughput. A rate point meets the SLOs when every ``--slo`` percentile is met and no
request failed; the measured SLO capacity is the highest rate point that meets them with every
lower rate point meeting them too (the next rate point, which misses, brackets it from above).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Any

from canserve.bench.client import BenchConfig, RequestRecord, run_bench
from canserve.bench.summary import BenchSummary, summarize
from canserve.errors import InvalidInputError
from canserve.validation import check_int

__all__ = ["Sweep", "SweepPoint", "run_sweep"]

MAX_POINTS = 50  # rate points in one sweep
DEFAULT_THROUGHPUT_CONCURRENCY = 256  # requests in flight for the saturation run (at most)


@dataclass(frozen=True)
class SweepPoint:
    kind: str  # "synchronous", "throughput" or "rate"
    rate: float | None  # requests/s sent (open loop), None for the closed-loop points
    concurrency: int | None
    slo_met: bool | None  # None without --slo
    summary: BenchSummary


@dataclass(frozen=True)
class Sweep:
    points: list[SweepPoint]
    saturation_throughput_requests_per_s: float
    synchronous_throughput_requests_per_s: float
    slo: str | None
    slo_capacity_requests_per_s: float | None  # None: no --slo, or the lowest rate misses
    first_missing_rate_requests_per_s: float | None  # the rate point above the capacity

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _met(summary: BenchSummary) -> bool | None:
    if not summary.slo:
        return None
    return summary.errors == 0 and all(row.met for row in summary.slo)


def sweep_rates(sync_rps: float, saturation_rps: float, points: int) -> list[float]:
    """``points`` Poisson rates evenly spaced up to the saturation throughput, the lowest at
    the synchronous rate or at ``saturation / points``, whichever is lower."""
    low = min(sync_rps, saturation_rps / points)
    if points == 1:
        return [saturation_rps]
    return [low + (saturation_rps - low) * i / (points - 1) for i in range(points)]


def run_sweep(
    cfg: BenchConfig,
    points: int = 5,
    throughput_concurrency: int | None = None,
    progress: Callable[[str, int], None] = lambda kind, n: None,
    on_point: Callable[[SweepPoint, BenchConfig, list[RequestRecord]], None] = lambda *a: None,
) -> Sweep:
    """Run the sweep (see the module docstring). ``cfg`` gives the traffic shape, the bound per
    point (``requests`` and/or ``duration_s``), the SLOs and the warm-up (sent once, before the
    synchronous run); its ``rate`` and ``concurrency`` are ignored. ``on_point`` sees each
    point as it finishes (to save it)."""
    check_int("sweep points", points, 1, MAX_POINTS)
    if throughput_concurrency is None:
        throughput_concurrency = min(cfg.requests or DEFAULT_THROUGHPUT_CONCURRENCY, 256)
    check_int("concurrency", throughput_concurrency, 1, 10_000)
    done: list[SweepPoint] = []

    def one(kind: str, run_cfg: BenchConfig) -> SweepPoint:
        records, complete = run_bench(run_cfg, lambda n: progress(kind, n))
        if not complete:
            raise KeyboardInterrupt
        summary = summarize(run_cfg, records, complete)
        point = SweepPoint(kind, run_cfg.rate, run_cfg.concurrency, _met(summary), summary)
        done.append(point)
        on_point(point, run_cfg, records)
        return point

    base = replace(cfg, rate=None, concurrency=None)
    sync = one("synchronous", replace(base, concurrency=1))
    if not sync.summary.succeeded:
        raise InvalidInputError(
            "no request succeeded: " + ("; ".join(sync.summary.error_samples) or "none sent")
        )
    peak = one("throughput", replace(base, concurrency=throughput_concurrency, warmup=0))
    sync_rps = sync.summary.throughput_requests_per_s
    sat_rps = max(peak.summary.throughput_requests_per_s, sync_rps)
    capacity = first_miss = None
    failed = False
    for i, rate in enumerate(sweep_rates(sync_rps, sat_rps, points)):
        point = one("rate", replace(base, rate=rate, warmup=0, seed=cfg.seed + i + 1))
        if point.slo_met is None:
            continue
        if point.slo_met and not failed:
            capacity = rate
        elif not point.slo_met and not failed:
            failed, first_miss = True, rate
    return Sweep(
        points=done,
        saturation_throughput_requests_per_s=sat_rps,
        synchronous_throughput_requests_per_s=sync_rps,
        slo=cfg.slo,
        slo_capacity_requests_per_s=capacity,
        first_missing_rate_requests_per_s=first_miss,
    )
