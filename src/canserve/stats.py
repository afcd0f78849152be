"""Summary statistics shared by the simulator and the load client, so that a prediction and a
measurement of the same run are summarised alike.

Percentiles use linear interpolation between order statistics (numpy's default ``"linear"``
method, Hyndman & Fan type 7): for ``n`` sorted values the ``q`` quantile sits at rank
``h = (n - 1) q`` and is ``x[floor h] + (h - floor h) (x[floor h + 1] - x[floor h])``. A weighted
sample (a histogram: value ``v`` seen ``w`` times, integer ``w``) gives the same answer as the
sample with each value repeated ``w`` times.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

__all__ = ["QUANTILES", "Percentiles", "percentiles", "quantile"]

QUANTILES = {"p50": 0.50, "p90": 0.90, "p95": 0.95, "p99": 0.99}
_NUMPY_FROM = 50_000  # values; larger samples are sorted by numpy (a gguf dependency)


def quantile(ordered: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0..1) of ``ordered`` (sorted ascending, not empty), linear
    interpolation (see the module docstring)."""
    h = (len(ordered) - 1) * q
    low = math.floor(h)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (h - low) * (ordered[high] - ordered[low])


def _weighted_quantile(pairs: Sequence[tuple[float, float]], total: float, q: float) -> float:
    """The ``q`` quantile of a histogram: ``pairs`` of (value, count) sorted by value."""
    h = (total - 1) * q
    low_rank, high_rank = math.floor(h), math.floor(h) + 1
    low = high = pairs[-1][0]
    seen = 0.0
    found_low = False
    for value, count in pairs:
        seen += count
        if not found_low and seen > low_rank:
            low, found_low = value, True
        if seen > high_rank:
            high = value
            break
    return low + (h - low_rank) * (high - low)


def percentiles(
    values: Sequence[float], weights: Sequence[float] | None = None
) -> dict[str, float]:
    """p50/p90/p95/p99 (linear interpolation) and the mean; ``weights``: integer counts of each
    value (a histogram). NaN for every statistic of an empty sample."""
    if not values:
        return {k: math.nan for k in (*QUANTILES, "mean")}
    if weights is not None:
        pairs = sorted(zip(values, weights, strict=True))
        total = math.fsum(weights)
        out = {k: _weighted_quantile(pairs, total, q) for k, q in QUANTILES.items()}
        out["mean"] = math.fsum(v * w for v, w in pairs) / total
        return out
    if len(values) > _NUMPY_FROM:
        import numpy as np

        ordered_np = np.sort(np.asarray(values, dtype=np.float64))
        out = {k: float(np.quantile(ordered_np, q)) for k, q in QUANTILES.items()}
        out["mean"] = float(ordered_np.mean())
        return out
    ordered = sorted(values)
    out = {k: quantile(ordered, q) for k, q in QUANTILES.items()}
    out["mean"] = math.fsum(ordered) / len(ordered)
    return out


@dataclass(frozen=True)
class Percentiles:
    """:func:`percentiles` as a typed object: one field per key of its dict, in its order."""

    p50: float
    p90: float
    p95: float
    p99: float
    mean: float

    @classmethod
    def of(cls, values: Sequence[float], weights: Sequence[float] | None = None) -> Percentiles:
        return cls(**percentiles(values, weights))

    def stat(self, name: str) -> float:
        """The statistic named ``name`` (``"p95"``, ``"mean"``: an SLO's ``stat``)."""
        return self.to_dict()[name]

    def to_dict(self) -> dict[str, float]:
        return asdict(self)
