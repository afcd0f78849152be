"""``simulate``: latency percentiles under load for a model on a GPU layout, and the search for
the highest load that still meets percentile SLOs."""

from __future__ import annotations

import bisect
import math
import random
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from canserve.arch.spec import ModelSpec
from canserve.catalog.gpus import GPU
from canserve.errors import InvalidInputError
from canserve.kv import kv_layout
from canserve.memory import estimate_memory
from canserve.perf.step import Hardware
from canserve.serving import ServingConfig
from canserve.sim.cluster import LOAD_BALANCERS, closed_loop, run
from canserve.sim.cost import StepCost
from canserve.sim.metrics import SLO, SloRow, parse_slos, percentiles, request_latencies
from canserve.sim.replica import ITL_BUCKETS_PER_S, Replica, ReplicaConfig
from canserve.sim.workload import (
    MAX_DURATION_S,
    Request,
    TraceRow,
    Workload,
    open_loop_requests,
    parse_length,
    read_trace,
)
from canserve.units import format_bytes
from canserve.validation import check_float, check_int

__all__ = [
    "DEFAULT_MAX_SIM_REQUESTS",
    "MAX_SIM_REQUESTS",
    "SimResult",
    "find_max_rate",
    "saturation_throughput",
    "simulate",
]

_SAMPLES = 400  # points kept for the batch / KV timeline
# A bound on work: requests one call may simulate (about 10-50 us each on one core of the
# development machine, measured 2026-12-04 with benchmarks/bench_sim.py), so a default call stays
# within a minute; the CLI's --max-sim-requests raises it up to MAX_SIM_REQUESTS.
DEFAULT_MAX_SIM_REQUESTS = 2_000_000
MAX_SIM_REQUESTS = 100_000_000
# A run is unstable when, over the second half of its arrivals, the requests that arrived exceed
# those that finished by more than 4 standard deviations of a Poisson count plus 2% of the
# arrivals (a queue that keeps growing). Chosen 2026-12-04: stable runs at 97% of the highest
# stable rate stay below it, runs 5% above it exceed it within 4,000 requests.
_GROWTH_SIGMAS = 4.0
_GROWTH_SLACK = 0.02


@dataclass
class SimResult:
    model: str
    gpu: str
    tensor_parallel_size: int
    replicas: int
    framework: str
    scheduler: str
    requests: int
    duration_s: float
    ttft_s: dict[str, float]
    tpot_s: dict[str, float]
    itl_s: dict[str, float]
    e2e_s: dict[str, float]
    queue_s: dict[str, float]
    throughput_requests_per_s: float
    throughput_output_tokens_per_s: float
    goodput: float | None
    preemptions: int
    max_num_seqs: int
    max_num_batched_tokens: int
    kv_capacity_tokens: int
    mean_batch: float
    mean_kv_utilization: float
    gpu_utilization: float
    slo: list[SloRow] = field(default_factory=list)
    timeline: list[dict[str, float]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    peak_kv_utilization: float = 0.0  # highest share of the KV capacity in use (never > 1)
    stable: bool = True  # False: arrivals exceed what the deployment can serve
    offered_rate_requests_per_s: float | None = None  # open loop and traces: arrivals per second
    saturation_throughput_requests_per_s: float | None = None  # measured when stability is in doubt
    saturation_throughput_output_tokens_per_s: float | None = None
    warmup_requests: int = 0  # requests left out of the statistics (a warm-up)
    clipped_requests: int = 0  # requests cut to fit max_model_len
    pipeline_parallel_size: int = 1

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class _Setup:
    spec: ModelSpec
    device: GPU
    config: ReplicaConfig
    cost: StepCost
    max_model_len: int
    framework: str
    notes: tuple[str, ...]
    max_num_seqs: int = 0  # the replica's (all micro-batches)
    pp: int = 1  # pipeline stages = micro-batch schedulers per replica


def _setup(cfg: ServingConfig, static: bool | None, typical_context: int) -> _Setup:
    spec, fw, cal = cfg.model, cfg.framework, cfg.calibration
    device = cfg.require_gpu("simulate")
    seqs_default, chunk_default = fw.batch_defaults(device.memory_bytes, device.id)
    seqs = cfg.max_num_seqs or seqs_default
    chunk = cfg.max_num_batched_tokens or chunk_default or spec.max_position_embeddings
    model_len = cfg.model_len
    est = estimate_memory(
        cfg.with_changes(max_num_seqs=seqs, headroom=0.0, max_num_batched_tokens=chunk),
        batch=1,
        context=min(model_len, 2048),
    )
    budget = est.engine_kv_budget_bytes_per_gpu
    if budget is None:  # no memory fraction: what is left after weights, activations, overhead
        budget = (
            device.memory_bytes
            - est.per_gpu["weights_bytes"]
            - est.per_gpu["activation_bytes"]
            - est.per_gpu["overhead_bytes"]
        )
    layout = kv_layout(spec, cfg.tp)
    bits = cfg.kv_bits
    per_token = layout.elements_per_token_at(0) * bits / 8
    state = layout.state_elements * 2
    pp = cfg.pp
    # pipeline stages hold 1/pp of the layers each: a stage GPU's budget holds pp x the tokens
    capacity = int((budget * pp - seqs * state) / per_token) if per_token else 10**12
    notes = []
    if capacity < 1:
        raise InvalidInputError(
            f"{spec.model_id} leaves no room for a KV cache on {device.id} x{cfg.tp}: "
            f"{format_bytes(budget, 'GB', 1)} after weights and overheads"
        )
    block = fw.kv_block_size_tokens if fw.kv_allocation == "paged" else 1

    def kept(tokens: int) -> int:  # the KV of one sequence, in tokens of every layer
        held = layout.elements_per_sequence(tokens) * bits / 8
        return math.ceil(held / per_token) if per_token else 0

    if capacity - block < kept(model_len):  # one sequence alone must fit, with a block of slack
        if capacity - block < 2:
            raise InvalidInputError(
                f"{spec.model_id} on {device.id} x{cfg.tp} has room for {capacity:,} KV tokens: "
                "too few to serve any request"
            )
        model_len = _longest_fitting(kept, capacity - block, model_len)
        notes.append(
            f"max_model_len capped at {model_len:,} tokens: the KV capacity of "
            f"{capacity:,} tokens less one block"
        )
    continuous = cal.framework(fw.id).continuous_batching if static is None else not static
    # pipeline parallel: pp micro-batches in flight, each its own scheduler (vLLM's virtual
    # engines) with 1/pp of the sequences and of the KV blocks; a step of one micro-batch
    # crosses every stage (the performance model's time with pp stages and their hops)
    config = ReplicaConfig(
        max_num_seqs=-(-seqs // pp),
        max_num_batched_tokens=max(cfg.max_num_batched_tokens or fw.step_tokens or chunk, 1),
        kv_capacity_tokens=capacity // pp,
        block_size=block,
        static_batching=not continuous,
    )
    if pp > 1 and config.kv_capacity_tokens - block < kept(model_len):
        model_len = _longest_fitting(kept, config.kv_capacity_tokens - block, model_len)
        notes.append(
            f"max_model_len capped at {model_len:,} tokens: one micro-batch's share of the KV "
            "capacity less one block"
        )
    if model_len < 2:
        raise InvalidInputError(
            f"{spec.model_id} on {device.id} x{cfg.tp} x pp {pp} has too little KV room to "
            "serve any request"
        )
    step_tokens = config.max_num_batched_tokens
    cost = StepCost(
        spec,
        cfg.quant,
        Hardware(device, cfg.tp, pp),
        bits,
        fw.id,
        cal,
        max(1, typical_context),
        ubatch_tokens=chunk if chunk < step_tokens else 0,
    )
    return _Setup(spec, device, config, cost, model_len, fw.id, tuple(notes), seqs, pp)


def _clip(req: Request, max_model_len: int) -> Request:
    """Prompts longer than max_model_len are cut (vLLM would reject them); outputs stop there
    (as the engine stops at max_model_len). The request is marked ``clipped``."""
    prompt = min(req.prompt, max_model_len - 1)
    output = max(1, min(req.output, max_model_len - prompt))
    if (prompt, output) != (req.prompt, req.output):
        req.prompt, req.output, req.clipped = prompt, output, True
    return req


def _trace_requests(
    rows: list[TraceRow], max_model_len: int, limit: int | None, until_s: float | None
) -> Iterator[Request]:
    for i, row in enumerate(rows):
        if (limit is not None and i >= limit) or (until_s is not None and row.arrival_s > until_s):
            return
        yield _clip(Request(i, row.arrival_s, row.prompt, row.output), max_model_len)


def _budgeted(arrivals: Iterator[Request], budget: int) -> Iterator[Request]:
    """``arrivals``, refusing to go past ``budget`` requests (a bound on work)."""
    for n, req in enumerate(arrivals):
        if n >= budget:
            raise _over_budget(f"more than {budget:,}", budget)
        yield req


def _over_budget(what: str, budget: int) -> InvalidInputError:
    return InvalidInputError(
        f"this simulation would run {what} requests (at most {budget:,}, a bound on work): "
        f"shorten it with --requests or --duration-s, or raise the bound with "
        f"--max-sim-requests (up to {MAX_SIM_REQUESTS:,})"
    )


def _expected_requests(workload: Workload, rows: list[TraceRow] | None) -> float | None:
    """Requests the run will simulate, when known before it starts."""
    bounds = [float(workload.requests)] if workload.requests is not None else []
    if rows is not None:
        bounds.append(float(len(rows)))
    elif workload.rate is not None and workload.duration_s is not None:
        bounds.append(workload.rate * workload.duration_s)
    elif workload.users is not None and workload.duration_s is not None and workload.think_s > 0:
        bounds.append(workload.users * (1 + workload.duration_s / workload.think_s))
    return min(bounds) if bounds else None


def check_budget(workload: Workload, budget: int, rows: list[TraceRow] | None = None) -> None:
    """Refuse, before any work, a run expected to simulate more than ``budget`` requests."""
    check_int("max_sim_requests", budget, 1, MAX_SIM_REQUESTS)
    if workload.users is not None and workload.users > budget:  # each user sends one at least
        raise _over_budget(f"at least {workload.users:,}", budget)
    expected = _expected_requests(workload, rows)
    if expected is not None and expected > budget:
        raise _over_budget(f"about {expected:,.0f}", budget)


def _check_prompt_fits(workload: Workload, max_model_len: int) -> None:
    """A fixed prompt that cannot fit the context is an error, not a silent clip."""
    text = workload.prompt.strip()
    if workload.trace is None and text.isdigit() and int(text) >= max_model_len:
        raise InvalidInputError(
            f"a prompt of {int(text):,} tokens does not fit max_model_len {max_model_len:,} "
            "(the engine would reject every request; raise --context or shorten --prompt)"
        )


@dataclass
class _Run:
    setup: _Setup
    fleet: list[Replica]
    done: list[Request]


def _execute(
    config: ServingConfig,
    workload: Workload,
    *,
    static_batching: bool | None,
    load_balancer: str,
    budget: int,
    itl_from_s: float = 0.0,
    setup: _Setup | None = None,
) -> _Run:
    """Run ``workload`` on the deployment; the finished requests and the replicas' state."""
    if load_balancer not in LOAD_BALANCERS:
        raise InvalidInputError(f"load balancer must be one of {', '.join(LOAD_BALANCERS)}")
    requests, duration_s = workload.requests, workload.duration_s
    if requests is None and duration_s is None:
        requests = 1000
    rng = random.Random(workload.seed)
    rows = read_trace(workload.trace) if workload.trace is not None else None
    check_budget(replace(workload, requests=requests), budget, rows)
    if setup is None:
        typical = _typical_context(workload.prompt, workload.output, rows, rng)
        setup = _setup(config, static_batching, typical)
    _check_prompt_fits(workload, setup.max_model_len)
    engines = config.replicas * setup.pp  # each pipeline-parallel replica: pp micro-batches
    fleet = [Replica(setup.config, setup.cost, itl_from_s=itl_from_s) for _ in range(engines)]
    think = None
    if rows is not None:
        arrivals: Iterator[Request] = _trace_requests(
            rows, setup.max_model_len, requests, duration_s
        )
    elif workload.rate is not None:
        arrivals = open_loop_requests(
            workload.seed,
            workload.rate,
            workload.cv,
            workload.prompt,
            workload.output,
            setup.max_model_len,
            requests,
            duration_s,
        )
    else:
        assert workload.users is not None
        arrivals, think = _closed(rng, workload, setup, requests, duration_s, budget)
    done = run(fleet, _budgeted(arrivals, budget), load_balancer, think=think)
    if not done:
        raise InvalidInputError("the workload produced no requests (check --duration-s)")
    return _Run(setup, fleet, done)


def simulate(
    config: ServingConfig,
    workload: Workload,
    slo: str | list[SLO] | None = None,
    *,
    static_batching: bool | None = None,
    load_balancer: str = "least-loaded",
    max_sim_requests: int = DEFAULT_MAX_SIM_REQUESTS,
    warmup_s: float = 0.0,
) -> SimResult:
    """Simulate ``config.replicas`` replicas serving ``workload`` (default length: 1,000
    requests); the statistics leave out the requests that arrive before ``warmup_s`` (and the
    token gaps before it). An open-loop or trace run whose queue keeps growing to the end of
    its arrivals is marked ``stable=False``, with the throughput the deployment kept up. At
    most ``max_sim_requests`` requests are simulated (a bound on work)."""
    slos = parse_slos(slo) if isinstance(slo, str) or slo is None else slo
    check_float("warmup_s", warmup_s, 0.0, MAX_DURATION_S)
    done = _execute(
        config,
        workload,
        static_batching=static_batching,
        load_balancer=load_balancer,
        budget=max_sim_requests,
        itl_from_s=warmup_s,
    )
    result = _result(done, slos, warmup_s)
    if not workload.closed_loop:
        _check_stability(result, done)
    return result


def queue_growth(done: list[Request]) -> tuple[bool, float]:
    """Whether the requests in the system kept growing over the second half of the arrivals
    (more than ``_GROWTH_SIGMAS`` Poisson standard deviations of the arrivals in that window),
    and the completions per second in that window (the throughput the deployment kept up)."""
    arrivals = sorted(r.arrival_s for r in done)
    first, last = arrivals[0], arrivals[-1]
    if last <= first:
        return False, math.nan
    mid = first + (last - first) / 2
    came = len(arrivals) - bisect.bisect_right(arrivals, mid)
    served = sum(1 for r in done if mid < r.finish_s <= last)
    grown = came - served > _GROWTH_SIGMAS * math.sqrt(max(came, 1)) + _GROWTH_SLACK * came
    if served >= 20:
        return grown, served / (last - mid)
    ends = sorted(r.finish_s for r in done)  # a burst: count the middle half of completions
    lo, hi = len(ends) // 4, 3 * len(ends) // 4
    return grown, (hi - lo) / max(ends[hi] - ends[lo], 1e-12)


def _check_stability(result: SimResult, run_: _Run) -> None:
    """Mark ``result`` unstable when its queue kept growing to the end of the arrivals, with the
    throughput the deployment kept up while it grew (its saturation throughput)."""
    done = run_.done
    first = min(r.arrival_s for r in done)
    last = max(r.arrival_s for r in done)
    if last <= first:
        return
    result.offered_rate_requests_per_s = (len(done) - 1) / (last - first)
    grown, served_rps = queue_growth(done)
    if not grown:
        return
    result.stable = False
    mean_output = sum(r.output for r in done) / len(done)
    result.saturation_throughput_requests_per_s = served_rps
    result.saturation_throughput_output_tokens_per_s = served_rps * mean_output
    result.notes.append(
        f"unstable: {result.offered_rate_requests_per_s:,.3g} requests/s arrive but the "
        f"deployment keeps up with {served_rps:,.3g} requests/s; the queue grows without "
        "bound and the latencies with the length of the run"
    )


def saturation_throughput(
    config: ServingConfig,
    workload: Workload,
    *,
    static_batching: bool | None = None,
    budget: int = DEFAULT_MAX_SIM_REQUESTS,
    setup: _Setup | None = None,
) -> tuple[float, float]:
    """(requests/s, output tokens/s) the deployment serves flat out, steady state, for the
    workload's request lengths: a burst of requests all queued at once on one replica, counted
    between the 25th and the 75th percentile of their completions (after the batch has filled,
    before it drains), times the replicas."""
    if setup is None:
        rows = read_trace(workload.trace) if workload.trace is not None else None
        typical = _typical_context(
            workload.prompt, workload.output, rows, random.Random(workload.seed)
        )
        setup = _setup(config, static_batching, typical)
    c = setup.config
    mean_tokens = max(1.0, setup.cost.reference_context * 1.5)
    concurrency = min(c.max_num_seqs, c.kv_capacity_tokens / mean_tokens)
    n = int(min(20_000, max(1_000, 6 * concurrency)))
    if n > budget:
        raise _over_budget(f"{n:,}", budget)
    lengths = _burst_lengths(workload, setup, n)
    replica = Replica(c, setup.cost)
    done = run([replica], iter(lengths))
    ends = sorted(r.finish_s for r in done)
    lo, hi = len(ends) // 4, (3 * len(ends)) // 4
    span = max(ends[hi] - ends[lo], 1e-12)
    by_finish = sorted(done, key=lambda r: r.finish_s)[lo:hi]
    tokens = sum(r.output for r in by_finish)
    engines = config.replicas * setup.pp
    return (hi - lo) / span * engines, tokens / span * engines


def _burst_lengths(workload: Workload, setup: _Setup, n: int) -> list[Request]:
    """``n`` requests with the workload's lengths, all arriving within a microsecond-spaced
    burst at time 0 (trace lengths are replayed in order, cycling)."""
    if workload.trace is not None:
        rows = read_trace(workload.trace)
        return [
            _clip(
                Request(i, i * 1e-9, rows[i % len(rows)].prompt, rows[i % len(rows)].output),
                setup.max_model_len,
            )
            for i in range(n)
        ]
    reqs = open_loop_requests(
        workload.seed, 1e6, 1.0, workload.prompt, workload.output, setup.max_model_len, n, None
    )
    return list(reqs)


def _typical_context(
    prompt: str, output: str, rows: list[TraceRow] | None, rng: random.Random
) -> int:
    """Mean prompt + output / 2: the context at which decode steps are costed."""
    if rows is not None:
        sample = rows[:1000]
        return int(sum(r.prompt + r.output / 2 for r in sample) / len(sample))
    probe = random.Random(rng.random())
    p, o = parse_length(prompt), parse_length(output)
    return int(sum(p(probe) + o(probe) / 2 for _ in range(200)) / 200)


def _closed(
    rng: random.Random,
    workload: Workload,
    setup: _Setup,
    limit: int | None,
    until_s: float | None,
    budget: int,
) -> tuple[Iterator[Request], Any]:
    assert workload.users is not None
    prompt_of, output_of = parse_length(workload.prompt), parse_length(workload.output)
    counter = iter(range(limit if limit is not None else 10**12))

    def make(user: int, t: float) -> Request | None:
        if until_s is not None and t > until_s:
            return None
        i = next(counter, None)
        if i is None:
            return None
        if i >= budget:
            raise _over_budget(f"more than {budget:,}", budget)
        req = Request(i, t, prompt_of(rng), output_of(rng), user=user)
        return _clip(req, setup.max_model_len)

    return closed_loop(workload.users, workload.think_s, make, rng)


def _result(run_: _Run, slos: list[SLO], warmup_s: float = 0.0) -> SimResult:
    """The run's statistics over the requests that arrived from ``warmup_s`` on (all of them
    by default); throughput over the whole run."""
    setup, fleet, done = run_.setup, run_.fleet, run_.done
    kept = [r for r in done if r.arrival_s >= warmup_s] if warmup_s > 0 else done
    if not kept:
        kept = done
    lat = request_latencies(kept)
    itl: dict[int, int] = {}
    for r in fleet:
        for key, tokens in r.itl.items():
            itl[key] = itl.get(key, 0) + tokens
    buckets = sorted(itl)
    lat_itl = (
        percentiles([(k + 0.5) / ITL_BUCKETS_PER_S for k in buckets], [itl[k] for k in buckets])
        if buckets
        else {}
    )
    start = min(r.arrival_s for r in done)
    end = max(r.finish_s for r in done)
    span = max(end - start, 1e-9)
    stats = {k: percentiles(v) for k, v in lat.items()}
    stats["itl_s"] = lat_itl or percentiles([])
    slo_rows, goodput = _slo_report(slos, stats, kept)
    cap = setup.config.kv_capacity_tokens
    mean_batch, mean_kv = _time_averages(fleet, start, end)
    stride = max(1, math.ceil(len(fleet[0].samples) / _SAMPLES))
    timeline = [
        dict(t_s=t, batch=b, kv_utilization=k / cap) for t, b, k in fleet[0].samples[::stride]
    ]
    clipped = sum(r.clipped for r in done)
    notes = list(setup.notes)
    if clipped:
        notes.append(
            f"{clipped:,} of {len(done):,} requests cut to max_model_len "
            f"{setup.max_model_len:,} (prompt cut, output stopped at the limit)"
        )
    return SimResult(
        model=setup.spec.model_id,
        gpu=setup.device.id,
        tensor_parallel_size=setup.cost.hw.tp,
        replicas=len(fleet) // setup.pp,
        framework=setup.framework,
        scheduler="static" if setup.config.static_batching else "continuous",
        requests=len(done),
        duration_s=span,
        ttft_s=stats["ttft_s"],
        tpot_s=stats["tpot_s"],
        itl_s=stats["itl_s"],
        e2e_s=stats["e2e_s"],
        queue_s=stats["queue_s"],
        throughput_requests_per_s=len(done) / span,
        throughput_output_tokens_per_s=sum(r.output for r in done) / span,
        goodput=goodput,
        preemptions=sum(r.preemptions for r in fleet),
        max_num_seqs=setup.max_num_seqs,
        max_num_batched_tokens=setup.config.max_num_batched_tokens,
        kv_capacity_tokens=cap * setup.pp,
        mean_batch=mean_batch,
        mean_kv_utilization=mean_kv,
        # a micro-batch's step keeps each stage busy 1/pp of its time
        gpu_utilization=sum(r.busy_s for r in fleet) / (span * len(fleet)),
        slo=slo_rows,
        timeline=timeline,
        notes=notes,
        peak_kv_utilization=max(r.peak_kv_tokens for r in fleet) / cap,
        warmup_requests=len(done) - len(kept),
        clipped_requests=clipped,
        pipeline_parallel_size=setup.cost.hw.pp,
    )


def _longest_fitting(kept: Callable[[int], int], room: int, longest: int) -> int:
    """The longest sequence, at most ``longest`` tokens, whose KV ``kept(tokens)`` fits in
    ``room`` (at least ``room`` tokens: a sequence keeps at most one KV entry per token)."""
    low, high = max(room, 0), longest
    while low < high:
        mid = (low + high + 1) // 2
        if kept(mid) <= room:
            low = mid
        else:
            high = mid - 1
    return low


def _time_averages(fleet: list[Replica], start: float, end: float) -> tuple[float, float]:
    """Time-weighted mean running batch (summed over replicas) and mean KV utilization."""
    span = max(end - start, 1e-9)
    batch = sum(r.batch_area for r in fleet) / span
    kv = sum(r.kv_area / r.config.kv_capacity_tokens for r in fleet) / (span * len(fleet))
    return batch, kv


def slo_values(slos: list[SLO], stats: dict[str, dict[str, float]]) -> list[float]:
    """Each SLO's statistic in ``stats`` (metric -> percentiles)."""
    return [stats[s.metric][s.stat] for s in slos]


def _slo_report(
    slos: list[SLO], stats: dict[str, dict[str, float]], done: list[Request]
) -> tuple[list[SloRow], float | None]:
    if not slos:
        return [], None
    rows = []
    for s, value in zip(slos, slo_values(slos, stats), strict=True):
        rows.append(SloRow(s.name, s.target_s, value, value <= s.target_s))
    per_request = [s for s in slos if s.metric in ("ttft_s", "tpot_s", "e2e_s", "queue_s")]
    good = 0
    for r in done:
        values = {
            "ttft_s": r.first_token_s - r.arrival_s,
            "e2e_s": r.finish_s - r.arrival_s,
            "queue_s": max(0.0, r.scheduled_s - r.arrival_s),
            "tpot_s": (r.finish_s - r.first_token_s) / (r.output - 1) if r.output > 1 else 0.0,
        }
        good += all(values[s.metric] <= s.target_s for s in per_request)
    return rows, good / len(done)


def find_max_rate(
    config: ServingConfig,
    workload: Workload,
    slo: str,
    *,
    requests: int | None = None,
    **kwargs: Any,
) -> tuple[float, SimResult]:
    """Highest Poisson request rate the deployment sustains in steady state with every SLO met
    (:func:`canserve.sim.capacity.slo_capacity`); the rate and the steady-state run at it.
    ``requests``: each probe's length (default: until the SLO statistics converge)."""
    from canserve.sim.capacity import slo_capacity

    traffic = replace(workload, users=None, trace=None, rate=workload.rate or 1.0)
    if requests is not None:
        traffic = replace(traffic, requests=requests, duration_s=None)
    cap = slo_capacity(config, traffic, slo, **kwargs)
    assert cap.max_rate_requests_per_s is not None and cap.result is not None
    return cap.max_rate_requests_per_s, cap.result
