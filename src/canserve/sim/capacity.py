"""Steady-state SLO capacity: the highest load a deployment serves with every SLO met in a long
run, not in the start-up transient.

:func:`slo_capacity` runs three named steps:

1. **Saturation** (:func:`~canserve.sim.api.saturation_throughput`): the requests/s the
   deployment serves flooded (KV full, preempting). No open-loop rate at or above it is stable
   in a long run, so it bounds the search from above: the answer lies in ``(0, saturation)``.
2. **Bisection** on the arrival rate (open loop) or on the number of users (closed loop, with
   their think time), with the same seed at every probe. Each probe discards a warm-up (the
   requests that arrive in the first :data:`WARMUP_SHARE` of the run) and meets the SLOs only
   when both halves of the rest meet them, so a queue still growing at the end fails. A probe
   that meets its targets but whose halves disagree by more than :data:`CONVERGED_SPREAD` is
   run again twice as long (up to :data:`MAX_PROBE_REQUESTS`), unless the user fixed the run
   length (``requests``/``duration_s``): the percentiles have converged, or the run is the
   length asked for.
3. **Confirmation**: the answer is run again with another seed and twice the requests; a miss
   steps the answer down by the tolerance (at most :data:`CONFIRMATIONS` times).

The confidence reported: the bracket (a load met, the next one missed), whether the SLO
statistics converged at the answer, and their spread between the two halves of its run.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from canserve.errors import InvalidInputError
from canserve.serving import ServingConfig
from canserve.sim.api import (
    DEFAULT_MAX_SIM_REQUESTS,
    SimResult,
    _execute,
    _result,
    _Run,
    check_budget,
    queue_growth,
    saturation_throughput,
    slo_values,
)
from canserve.sim.metrics import SLO, parse_slos, percentiles, request_latencies
from canserve.sim.workload import MAX_USERS, Workload

__all__ = ["Capacity", "slo_capacity"]


# Method constants (chosen 2026-12-04 against 10,000- to 40,000-request runs of the issue's
# cases; see benchmarks/bench_sim.py):
WARMUP_SHARE = 0.2  # of the arrivals: the first 20% are a warm-up, left out of the statistics
CONVERGED_SPREAD = 0.10  # SLO statistics of the two halves within 10% of each other: converged
FIRST_PROBE_REQUESTS = 2_000  # a probe's first length
MAX_PROBE_REQUESTS = 8_000  # longest probe the convergence loop runs
TOLERANCE = 0.03  # stop bisecting when the bracket is this narrow (relative)
CONFIRMATIONS = 3  # confirmation runs at most
LOWEST_SHARE = 0.01  # no rate below 1% of the saturation throughput: none meets the SLOs
CLOSED_REQUESTS_PER_USER = 10  # closed-loop probes: at least 10 requests per user
CLOSED_WARMUP_PER_USER = 2  # and the first 2 requests per user are a warm-up


@dataclass
class Capacity:
    """The answer of :func:`slo_capacity` and how far to trust it."""

    mode: str  # "rate" (open loop) or "users" (closed loop)
    max_rate_requests_per_s: float | None  # open loop: the answer
    max_users: int | None  # closed loop: the answer
    saturation_throughput_requests_per_s: float
    saturation_throughput_output_tokens_per_s: float
    bracket: tuple[float, float | None]  # met at [0], missed at [1] (None: never missed)
    bracket_relative_width: float | None
    converged: bool  # the SLO statistics at the answer agree between the halves of its run
    spread: float  # largest relative difference of an SLO statistic between the halves
    limiting_slo: str | None  # the SLO missed just above the answer
    probe_requests: int  # requests in the answer's run
    probes: int
    simulated_requests: int
    result: SimResult | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def value(self) -> float:
        if self.mode == "users":
            assert self.max_users is not None
            return float(self.max_users)
        assert self.max_rate_requests_per_s is not None
        return self.max_rate_requests_per_s

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("result")
        data["bracket"] = list(self.bracket)
        return data


@dataclass
class _Probe:
    load: float
    met: bool
    converged: bool
    spread: float
    missed: str | None
    requests: int
    run: _Run
    warmup_s: float


class _Search:
    """The state one capacity search carries: the deployment, the traffic, the budget."""

    def __init__(
        self,
        cfg: ServingConfig,
        workload: Workload,
        slos: list[SLO],
        static: bool | None,
        lb: str,
        budget: int,
    ) -> None:
        self.cfg, self.workload, self.slos = cfg, workload, slos
        self.static, self.lb, self.budget = static, lb, budget
        self.fixed_length = workload.requests is not None or workload.duration_s is not None
        self.simulated = 0
        self.probes = 0
        self.setup: Any = None
        self.lowest_miss: _Probe | None = None

    def longest(self, load: float) -> int:
        """The longest probe the convergence loop runs at ``load``."""
        if self.workload.users is None:
            return MAX_PROBE_REQUESTS
        return max(MAX_PROBE_REQUESTS, 2 * CLOSED_REQUESTS_PER_USER * int(load))

    def missed_above(self, p: _Probe) -> None:
        """Remember the lowest load that missed (the bracket's upper end)."""
        if self.lowest_miss is None or p.load < self.lowest_miss.load:
            self.lowest_miss = p

    def traffic(self, load: float, requests: int, seed: int) -> Workload:
        w = self.workload
        if self.fixed_length:
            length = dict(requests=w.requests, duration_s=w.duration_s)
        else:
            length = dict(requests=requests, duration_s=None)
        if w.users is not None:
            return replace(w, users=int(load), seed=seed, **length)  # type: ignore[arg-type]
        return replace(w, rate=load, seed=seed, **length)  # type: ignore[arg-type]

    def probe(self, load: float, requests: int | None = None, seed_offset: int = 0) -> _Probe:
        """One run at ``load``, lengthened until its SLO statistics converge."""
        n = requests or FIRST_PROBE_REQUESTS
        if self.workload.users is not None:  # every user's first requests are a warm-up
            n = max(n, CLOSED_REQUESTS_PER_USER * int(load))
        while True:
            p = self._once(load, n, self.workload.seed + seed_offset)
            if p.converged or not p.met or self.fixed_length or n >= self.longest(load):
                return p
            n = min(2 * n, self.longest(load))

    def _once(self, load: float, n: int, seed: int) -> _Probe:
        traffic = self.traffic(load, n, seed)
        remaining = self.budget - self.simulated
        check_budget(traffic, remaining)
        warmup = _warmup_s(traffic)
        run = _execute(
            self.cfg,
            traffic,
            static_batching=self.static,
            load_balancer=self.lb,
            budget=remaining,
            itl_from_s=warmup if warmup is not None else 0.0,
            setup=self.setup,
        )
        self.setup = run.setup
        self.simulated += len(run.done)
        self.probes += 1
        out = _judge(load, run, self.slos, warmup)
        if not out.met:
            self.missed_above(out)
        return out


def _warmup_s(traffic: Workload) -> float | None:
    """The end of the warm-up, when known before the run (open loop: a share of the expected
    arrival span); None: decided from the run (closed loop)."""
    if traffic.rate is None:
        return None
    if traffic.duration_s is not None:
        span = traffic.duration_s
        if traffic.requests is not None:
            span = min(span, traffic.requests / traffic.rate)
    else:
        assert traffic.requests is not None
        span = traffic.requests / traffic.rate
    return WARMUP_SHARE * span


def _judge(load: float, run: _Run, slos: list[SLO], warmup_s: float | None) -> _Probe:
    """Whether the run's steady part meets every SLO in both of its halves."""
    done = run.done
    if warmup_s is None:  # closed loop: a share of the run, and every user's first requests
        arrivals = sorted(r.arrival_s for r in done)
        users = len({r.user for r in done})
        skip = max(int(WARMUP_SHARE * (len(arrivals) - 1)), CLOSED_WARMUP_PER_USER * users)
        warmup_s = arrivals[min(skip, len(arrivals) - 1)]
    kept = sorted((r for r in done if r.arrival_s >= warmup_s), key=lambda r: r.arrival_s)
    if len(kept) < 4:
        kept = sorted(done, key=lambda r: r.arrival_s)
    half = len(kept) // 2
    parts = [kept, kept[:half], kept[half:]]
    values = [_stats(run, part, slos) for part in parts]
    met, spread, missed = True, 0.0, None
    if run.setup is not None and not _closed(done) and queue_growth(done)[0]:
        met, missed = False, "queue growth"
    for i, s in enumerate(slos):
        whole, first, second = (v[i] for v in values)
        # the whole run's statistic plus its standard error (two halves: |a - b| / 2), and the
        # later half alone: a margin for the noise of a finite run, and a trend caught
        worst = max(whole + abs(first - second) / 2, second)
        if not worst <= s.target_s:  # NaN (no such statistic) counts as missed
            met = False
            missed = missed or s.name
        top = max(first, second)
        if top > 0 and math.isfinite(top):
            spread = max(spread, abs(second - first) / top)
    return _Probe(load, met, spread <= CONVERGED_SPREAD, spread, missed, len(done), run, warmup_s)


def _closed(done: list[Any]) -> bool:
    return bool(done) and done[0].user >= 0


def _stats(run: _Run, part: list[Any], slos: list[SLO]) -> list[float]:
    lat = request_latencies(part)
    stats = {k: percentiles(v) for k, v in lat.items()}
    if any(s.metric == "itl_s" for s in slos):
        stats["itl_s"] = _result(run, [], 0.0).itl_s  # whole-run token gaps after the warm-up
    return slo_values(slos, stats)


def slo_capacity(
    cfg: ServingConfig,
    workload: Workload,
    slos: str | list[SLO],
    *,
    static_batching: bool | None = None,
    load_balancer: str = "least-loaded",
    tolerance: float = TOLERANCE,
    max_sim_requests: int = DEFAULT_MAX_SIM_REQUESTS,
) -> Capacity:
    """The highest open-loop rate (``workload.rate`` given; its value is ignored) or number of
    closed-loop users (``workload.users`` given: the search starts there) at which a long run
    meets every SLO (see the module docstring). ``workload.requests``/``duration_s`` fix each
    probe's length; otherwise probes run until their SLO statistics converge."""
    targets = parse_slos(slos) if isinstance(slos, str) else list(slos)
    if not targets:
        raise InvalidInputError("the search needs at least one SLO (--slo ttft_p95=1s,...)")
    if workload.trace is not None:
        raise InvalidInputError(
            "the capacity search draws its own arrivals: give --rate or --users, not --trace"
        )
    if not 0 < tolerance < 1:
        raise InvalidInputError("tolerance must be between 0 and 1")
    search = _Search(cfg, workload, targets, static_batching, load_balancer, max_sim_requests)
    sat_rps, sat_tps = saturation_throughput(
        cfg, workload, static_batching=static_batching, budget=max_sim_requests
    )
    if workload.users is not None:
        return _users_capacity(search, sat_rps, sat_tps, tolerance)
    return _rate_capacity(search, sat_rps, sat_tps, tolerance)


def _no_load_meets(p: _Probe, what: str, slos: list[SLO]) -> InvalidInputError:
    res = _result(p.run, slos, p.warmup_s)
    misses = ", ".join(
        f"{r.name} ({r.value_s:.3g} s > {r.target_s:.3g} s)" for r in res.slo if not r.met
    )
    return InvalidInputError(f"no {what} meets the SLOs: even {p.load:g} misses {misses or 'them'}")


def _rate_capacity(search: _Search, sat: float, sat_tokens: float, tol: float) -> Capacity:
    """Bisection on the rate below the throughput under overload (``sat``). A flooded engine
    preempts and serves less than it does just below overload, so rates between the two can
    look fine for thousands of requests, but once a burst of arrivals fills the KV cache the
    queue never drains (arrivals then exceed what the flooded engine serves): in a long enough
    run every rate above ``sat`` tips over. No rate at or above it is the steady-state answer."""
    lo, hi = 0.0, sat
    lo_p: _Probe | None = None
    hi_p: _Probe | None = None
    while lo == 0.0 or (hi - lo) / hi > tol:
        if lo == 0.0 and hi < LOWEST_SHARE * sat:
            assert hi_p is not None
            raise _no_load_meets(hi_p, "rate", search.slos)
        mid = _next_rate(lo, hi, sat, tol)
        p = search.probe(mid)
        if p.met:
            lo, lo_p = mid, p
        else:
            hi, hi_p = mid, p
    assert lo_p is not None
    lo_p = _confirm(search, lo_p, tol)
    return _capacity(search, "rate", lo_p, hi_p, hi, sat, sat_tokens)


def _next_rate(lo: float, hi: float, sat: float, tol: float) -> float:
    """The next probe: just below saturation first, then halving down to the first rate that
    meets, then bisecting the bracket."""
    if lo > 0.0:
        return (lo + hi) / 2
    return hi * (1 - tol) if hi == sat else hi / 2


def _confirm(search: _Search, best: _Probe, tol: float) -> _Probe:
    """Run the answer again with another seed and twice as long; on a miss, step the answer
    down by twice the tolerance and try again (at most :data:`CONFIRMATIONS` times). Near the
    stability limit a flooded engine preempts, serves less and cannot recover: a run that tips
    over there is a miss, not bad luck."""
    users = search.workload.users is not None
    for attempt in range(1, CONFIRMATIONS + 1):
        n = (
            best.requests
            if search.fixed_length
            else max(2 * best.requests, search.longest(best.load))
        )
        check = search.probe(best.load, n, seed_offset=attempt)
        if check.met:
            return check if not search.fixed_length else best
        search.missed_above(check)
        step = 2 * tol if check.missed == "queue growth" else tol
        lower = _step_down(best.load, step, users=users)
        if lower is None:
            break
        best = search.probe(lower)
        while not best.met:
            search.missed_above(best)
            lower = _step_down(best.load, step, users=users)
            if lower is None:
                raise _no_load_meets(best, "load", search.slos)
            best = search.probe(lower)
    best.converged = False
    return best


def _step_down(load: float, share: float, *, users: bool) -> float | None:
    if users:
        lower = load - max(1, math.floor(load * share))
        return lower if lower >= 1 else None
    return load * (1 - share)


def _users_capacity(search: _Search, sat: float, sat_tokens: float, tol: float) -> Capacity:
    """Bisection on the number of users, from the user's own count: doubled until a count
    misses (a closed loop never diverges, but its queue grows with the users), or, when that
    count misses already, down to one user."""
    assert search.workload.users is not None
    guess = search.workload.users
    first = search.probe(guess)
    lo, lo_p, hi, hi_p = 0, first, 0, first
    if first.met:
        lo = guess
        while hi == 0:
            if guess >= MAX_USERS:
                raise InvalidInputError(
                    f"every number of users up to {MAX_USERS:,} meets the SLOs (a bound on work)"
                )
            guess = min(2 * guess, MAX_USERS)
            p = search.probe(guess)
            if p.met:
                lo, lo_p = guess, p
            else:
                hi, hi_p = guess, p
    else:
        hi = guess
        if guess > 1:
            lo_p = search.probe(1)
        if not lo_p.met or guess == 1:
            raise _no_load_meets(lo_p, "number of users", search.slos)
        lo = 1
    while hi - lo > max(1, math.floor(lo * tol)):
        mid = (lo + hi) // 2
        p = search.probe(mid)
        if p.met:
            lo, lo_p = mid, p
        else:
            hi, hi_p = mid, p
    lo_p = _confirm(search, lo_p, tol)
    return _capacity(search, "users", lo_p, hi_p, float(hi), sat, sat_tokens)


def _capacity(
    search: _Search,
    mode: str,
    best: _Probe,
    above: _Probe | None,
    hi: float,
    sat: float,
    sat_tokens: float,
) -> Capacity:
    result = _result(best.run, search.slos, best.warmup_s)
    above = search.lowest_miss if search.lowest_miss is not None else above
    upper = above.load if above is not None else (hi if mode == "rate" else None)
    limiting = above.missed if above is not None else ("saturation" if mode == "rate" else None)
    notes = []
    if not best.converged:
        notes.append(
            f"the SLO statistics at the answer differ by {best.spread:.0%} between the halves "
            "of its run: not converged (a longer run, --requests, narrows it)"
        )
    return Capacity(
        mode=mode,
        max_rate_requests_per_s=best.load if mode == "rate" else None,
        max_users=int(best.load) if mode == "users" else None,
        saturation_throughput_requests_per_s=sat,
        saturation_throughput_output_tokens_per_s=sat_tokens,
        bracket=(best.load, upper),
        bracket_relative_width=(upper - best.load) / upper if upper else None,
        converged=best.converged,
        spread=best.spread,
        limiting_slo=limiting,
        probe_requests=best.requests,
        probes=search.probes,
        simulated_requests=search.simulated,
        result=result,
        notes=notes,
    )
