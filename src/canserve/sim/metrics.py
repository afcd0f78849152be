"""Latency percentiles, throughput and goodput of a simulated (or measured) run.

Definitions (the same ones ``canserve bench`` uses, aligned with vLLM's benchmark client):

* ``ttft_s``: arrival to the first output token;
* ``tpot_s``: (finish - first token) / (output tokens - 1), per request with >1 output token;
* ``itl_s``: the gap between consecutive output tokens of a sequence (one engine step), over
  all tokens;
* ``e2e_s``: arrival to the last token; ``queue_s``: arrival to the first step that runs any of
  the request's tokens;
* ``goodput``: the share of finished requests that meet every per-request SLO given;
* throughput: finished requests (output tokens) per second between the first arrival and the
  last finish.

Percentiles: linear interpolation, from :mod:`canserve.stats` (the load client uses the same).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from canserve.errors import InvalidInputError
from canserve.sim.workload import Request
from canserve.stats import QUANTILES, percentiles

__all__ = [
    "SLO",
    "SloRow",
    "format_slos",
    "parse_duration",
    "parse_slos",
    "percentiles",
    "request_latencies",
]

METRICS = ("ttft_s", "tpot_s", "itl_s", "e2e_s", "queue_s")
_DURATION = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:e[+-]?\d+)?)\s*(us|ms|s|m)?\s*$")
_UNIT = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, None: 1.0}


def parse_duration(text: str) -> float:
    """``'50ms'`` -> 0.05; ``'1s'``, ``'1.5'`` (seconds), ``'200us'``, ``'2m'``."""
    match = _DURATION.match(text)
    if not match:
        raise InvalidInputError(f"not a duration: {text!r} (examples: 1s, 50ms)")
    return float(match.group(1)) * _UNIT[match.group(2)]


@dataclass(frozen=True)
class SloRow:
    """One ``--slo`` target beside a run's value of its statistic (simulated or measured)."""

    name: str  # e.g. "ttft_p95"
    target_s: float
    value_s: float
    met: bool


@dataclass(frozen=True)
class SLO:
    """``ttft_p95=1s``: the metric, the percentile that must meet it, and the target."""

    metric: str
    stat: str
    target_s: float

    @property
    def name(self) -> str:
        return f"{self.metric.removesuffix('_s')}_{self.stat}"

    def __str__(self) -> str:
        return f"{self.name}={self.target_s:g}s"


def format_slos(slos: Sequence[SLO]) -> str:
    """The inverse of :func:`parse_slos`: ``'ttft_p95=1s,tpot_p99=0.05s'``."""
    return ",".join(str(s) for s in slos)


def parse_slos(text: str | None) -> list[SLO]:
    """``'ttft_p95=1s,tpot_p99=50ms'`` -> SLOs; metrics ttft, tpot, itl, e2e, queue."""
    if not text:
        return []
    slos = []
    for part in text.split(","):
        name, _, value = part.partition("=")
        metric, _, stat = name.strip().partition("_")
        if f"{metric}_s" not in METRICS or stat not in (*QUANTILES, "mean") or not value:
            raise InvalidInputError(
                f"bad SLO {part.strip()!r} (use e.g. ttft_p95=1s,tpot_p99=50ms; metrics "
                "ttft, tpot, itl, e2e, queue; stats p50, p90, p95, p99, mean)"
            )
        target = parse_duration(value)
        if not 0 < target <= 86_400:
            raise InvalidInputError(f"SLO {name.strip()} must be between 0 and 1 day")
        slos.append(SLO(f"{metric}_s", stat, target))
    return slos


def request_latencies(done: Sequence[Request]) -> dict[str, list[float]]:
    """Per-request ttft, tpot, e2e and queue times of finished requests."""
    ttft = [r.first_token_s - r.arrival_s for r in done]
    e2e = [r.finish_s - r.arrival_s for r in done]
    queue = [max(0.0, r.scheduled_s - r.arrival_s) for r in done]
    tpot = [(r.finish_s - r.first_token_s) / (r.output - 1) for r in done if r.output > 1]
    return {"ttft_s": ttft, "tpot_s": tpot, "e2e_s": e2e, "queue_s": queue}
