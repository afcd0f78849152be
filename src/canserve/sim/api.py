"""``simulate``: latency percentiles under load for a model on a GPU layout, and the search for
the highest load that still meets percentile SLOs."""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
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
from canserve.sim.metrics import SLO, parse_slos, percentiles, request_latencies
from canserve.sim.replica import ITL_BUCKETS_PER_S, Replica, ReplicaConfig
from canserve.sim.workload import (
    Request,
    TraceRow,
    Workload,
    open_loop_requests,
    parse_length,
    read_trace,
)

__all__ = ["SimResult", "find_max_rate", "simulate"]

_SAMPLES = 400  # points kept for the batch / KV timeline


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
    slo: list[dict[str, Any]] = field(default_factory=list)
    timeline: list[dict[str, float]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

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
    capacity = int((budget - seqs * state) / per_token) if per_token else 10**12
    notes = []
    if capacity < 1:
        raise InvalidInputError(
            f"{spec.model_id} leaves no room for a KV cache on {device.id} x{cfg.tp}: "
            f"{budget / 1e9:.1f} GB after weights and overheads"
        )
    if capacity < model_len:
        notes.append(f"max_model_len capped at the KV capacity of {capacity:,} tokens")
        model_len = capacity
    continuous = cal.framework(fw.id).continuous_batching if static is None else not static
    config = ReplicaConfig(
        max_num_seqs=seqs,
        max_num_batched_tokens=max(chunk, 1),
        kv_capacity_tokens=capacity,
        block_size=fw.kv_block_size_tokens if fw.kv_allocation == "paged" else 1,
        static_batching=not continuous,
    )
    cost = StepCost(
        spec, cfg.quant, Hardware(device, cfg.tp, 1), bits, fw.id, cal, max(1, typical_context)
    )
    return _Setup(spec, device, config, cost, model_len, fw.id, tuple(notes))


def _clip(req: Request, max_model_len: int) -> Request:
    """Prompts longer than max_model_len are cut (vLLM would reject them); outputs stop there."""
    req.prompt = min(req.prompt, max_model_len - 1)
    req.output = max(1, min(req.output, max_model_len - req.prompt))
    return req


def _trace_requests(
    rows: list[TraceRow], max_model_len: int, limit: int | None, until_s: float | None
) -> Iterator[Request]:
    for i, row in enumerate(rows):
        if (limit is not None and i >= limit) or (until_s is not None and row.arrival_s > until_s):
            return
        yield _clip(Request(i, row.arrival_s, row.prompt, row.output), max_model_len)


def simulate(
    config: ServingConfig,
    workload: Workload,
    slo: str | list[SLO] | None = None,
    *,
    static_batching: bool | None = None,
    load_balancer: str = "least-loaded",
) -> SimResult:
    """Simulate ``config.replicas`` replicas serving ``workload`` (default length: 1,000
    requests)."""
    if load_balancer not in LOAD_BALANCERS:
        raise InvalidInputError(f"load balancer must be one of {', '.join(LOAD_BALANCERS)}")
    if config.pp > 1:
        raise InvalidInputError("the simulator runs tensor-parallel replicas only (pp 1)")
    requests, duration_s = workload.requests, workload.duration_s
    if requests is None and duration_s is None:
        requests = 1000
    slos = parse_slos(slo) if isinstance(slo, str) or slo is None else slo
    rng = random.Random(workload.seed)
    rows = read_trace(workload.trace) if workload.trace is not None else None
    typical = _typical_context(workload.prompt, workload.output, rows, rng)
    setup = _setup(config, static_batching, typical)
    fleet = [Replica(setup.config, setup.cost) for _ in range(config.replicas)]
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
        arrivals, think = _closed(rng, workload, setup, requests, duration_s)
    done = run(fleet, arrivals, load_balancer, think=think)
    if not done:
        raise InvalidInputError("the workload produced no requests (check --duration-s)")
    return _result(setup, fleet, done, slos)


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
        req = Request(i, t, prompt_of(rng), output_of(rng), user=user)
        return _clip(req, setup.max_model_len)

    return closed_loop(workload.users, workload.think_s, make, rng)


def _result(setup: _Setup, fleet: list[Replica], done: list[Request], slos: list[SLO]) -> SimResult:
    lat = request_latencies(done)
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
    slo_rows, goodput = _slo_report(slos, stats, done)
    cap = setup.config.kv_capacity_tokens
    mean_batch, mean_kv = _time_averages(fleet, start, end)
    stride = max(1, math.ceil(len(fleet[0].samples) / _SAMPLES))
    timeline = [
        dict(t_s=t, batch=b, kv_utilization=k / cap) for t, b, k in fleet[0].samples[::stride]
    ]
    return SimResult(
        model=setup.spec.model_id,
        gpu=setup.device.id,
        tensor_parallel_size=setup.cost.hw.tp,
        replicas=len(fleet),
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
        max_num_seqs=setup.config.max_num_seqs,
        max_num_batched_tokens=setup.config.max_num_batched_tokens,
        kv_capacity_tokens=cap,
        mean_batch=mean_batch,
        mean_kv_utilization=mean_kv,
        gpu_utilization=sum(r.busy_s for r in fleet) / (span * len(fleet)),
        slo=slo_rows,
        timeline=timeline,
        notes=list(setup.notes),
    )


def _time_averages(fleet: list[Replica], start: float, end: float) -> tuple[float, float]:
    """Time-weighted mean running batch (summed over replicas) and mean KV utilization."""
    span = max(end - start, 1e-9)
    batch = sum(r.batch_area for r in fleet) / span
    kv = sum(r.kv_area / r.config.kv_capacity_tokens for r in fleet) / (span * len(fleet))
    return batch, kv


def _slo_report(
    slos: list[SLO], stats: dict[str, dict[str, float]], done: list[Request]
) -> tuple[list[dict[str, Any]], float | None]:
    if not slos:
        return [], None
    rows = []
    for s in slos:
        value = stats[s.metric][s.stat]
        rows.append(dict(name=s.name, target_s=s.target_s, value_s=value, met=value <= s.target_s))
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
    low: float = 0.01,
    high: float | None = None,
    requests: int = 600,
    tolerance: float = 0.03,
    **kwargs: Any,
) -> tuple[float, SimResult]:
    """Highest Poisson request rate one setup sustains with every SLO met (bisection; the same
    seed at every rate). Returns the rate and the simulation at it."""
    slos = parse_slos(slo)
    if not slos:
        raise InvalidInputError("the search needs at least one SLO (--slo ttft_p95=1s,...)")

    def meets(rate: float) -> tuple[bool, SimResult]:
        traffic = replace(workload, rate=rate, users=None, trace=None, requests=requests)
        res = simulate(config, traffic, slos, **kwargs)
        return all(row["met"] for row in res.slo), res

    ok, best = meets(low)
    if not ok:
        raise InvalidInputError(
            f"no rate meets the SLOs: even {low:g} requests/s misses "
            + ", ".join(
                f"{r['name']} ({r['value_s']:.3g} s > {r['target_s']:.3g} s)"
                for r in best.slo
                if not r["met"]
            )
        )
    hi = high or 1.0
    while high is None and hi < 1e5:
        ok, res = meets(hi)
        if not ok:
            break
        low, hi, best = hi, hi * 2, res
    lo = low
    while (hi - lo) / hi > tolerance:
        mid = (lo + hi) / 2
        ok, res = meets(mid)
        if ok:
            lo, best = mid, res
        else:
            hi = mid
    return lo, best
