"""The capacity planner: from traffic and targets to the cheapest deployment on instances that
are sold, confirmed by simulation. :func:`plan_deployment` runs five named steps:

1. :func:`search_layouts` -- every GPU type x format x tensor/pipeline layout: the largest batch
   that fits with the headroom (capped where TPOT reaches a *given* latency target), the longest
   request it can take, the replicas the required throughput and concurrency need, and the
   price of the whole instances that hold them (:func:`~canserve.catalog.prices.price_layout`).
2. :func:`apply_budget` -- layouts above ``budget_usd_per_hour`` drop out, each listed.
3. :func:`order_candidates` -- cheapest first, or expected-fastest first for ``rank="latency"``.
4. :func:`confirm_finalists` -- simulate the leading candidates at peak (pipeline-parallel
   layouts too: the simulator runs their micro-batches); a candidate that misses a target gets
   another replica (twice at most) or is rejected with the numbers; each plan gets its load
   check (served load against the steady-state SLO capacity, :func:`steady_capacity`),
   checklist and commands.
5. :func:`plan_notes` -- what the reader must know about the result.

Every configuration that drops out says why. The work is bounded before it starts
(:func:`check_search_size`) and simulations of large fleets run on a slice of at most
``MAX_SIM_REPLICAS`` replicas carrying their share of the traffic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from canserve.arch.spec import ModelSpec
from canserve.capacity import ReplicaCapacity, replica_capacity
from canserve.catalog.gpus import GPU, get_gpu, list_gpus
from canserve.catalog.prices import InstancePrice, offerings, price_layout
from canserve.catalog.quant import QuantFormat, get_quant
from canserve.deploy import engine_commands, kubernetes_manifest, vllm_command
from canserve.errors import CanserveError, InvalidInputError
from canserve.perf import sweep_batch
from canserve.perf.calibration import Calibration, load_calibration
from canserve.plan.checklist import Lengths, Load, checklist
from canserve.plan.deployable import deployment_of, plan_lengths, weights_of
from canserve.plan.requirements import Requirements
from canserve.plan.results import BatchPoint, Plan, PlanResult, Prediction, Rejection
from canserve.serving import ServingConfig, default_quant, serving_config
from canserve.sim import SimResult, simulate
from canserve.sim.api import saturation_throughput
from canserve.sim.capacity import slo_capacity
from canserve.sim.workload import Workload
from canserve.units import format_bytes
from canserve.validation import MAX_REPLICAS

__all__ = [
    "MAX_SEARCH_LAYOUTS",
    "Requirements",
    "check_search_size",
    "plan_deployment",
    "rank_plans",
]

LAYOUTS = ((1, 1), (2, 1), (4, 1), (8, 1), (8, 2))  # (tensor, pipeline) parallel sizes
MAX_SEARCH_LAYOUTS = 2000  # ~2.5 ms each: a search stays within seconds (a bound on work)
MAX_SIM_REPLICAS = 4  # larger fleets are simulated as a slice carrying its share of the traffic
MAX_SIM_REQUESTS = 8000  # requests per simulation (a bound on work)
CAPACITY_TOLERANCE = 0.05  # the planner's capacity search stops at a 5% bracket (faster)
CAPACITY_MAX_SIM_REQUESTS = 300_000  # requests one plan's capacity search may simulate (work)


@dataclass(frozen=True)
class SearchOptions:
    """Where and how to search (the planner's knobs besides the requirements)."""

    gpus: tuple[str, ...] | None = None  # GPU types to consider (None: all with a price)
    quants: tuple[str, ...] | None = None  # formats (None: the checkpoint's, plus FP8, AWQ)
    max_gpus: int | None = None  # at most this many GPUs in all
    cloud: str | None = None
    spot: bool = False
    framework: str = "vllm"
    kv_dtype: str = "auto"
    calibration: Calibration | None = None
    simulate_requests: int = 600
    seed: int = 0


@dataclass
class Candidate:
    cfg: ServingConfig  # one replica
    cap: ReplicaCapacity
    lengths: Lengths
    price: InstancePrice
    capacity: tuple[float, str] | None = None  # one replica's steady-state output tokens/s, how

    @property
    def gpu(self) -> GPU:
        assert self.cfg.gpu is not None
        return self.cfg.gpu

    @property
    def quant(self) -> QuantFormat:
        return self.cfg.quant

    @property
    def replicas(self) -> int:
        return self.price.replicas

    @property
    def usd_per_hour(self) -> float:
        return self.price.usd_per_hour


def _reject_cand(c: Candidate, reason: str) -> Rejection:
    return Rejection(c.gpu.id, c.quant.id, c.cfg.tp, c.cfg.pp, reason)


def candidate_formats(spec: ModelSpec, names: tuple[str, ...] | None) -> list[QuantFormat]:
    """The formats to try: the given ones, else the checkpoint's (plus FP8 and AWQ for 16-bit)."""
    if names:
        return list({get_quant(n).id: get_quant(n) for n in names}.values())
    base = default_quant(spec)
    return [base, get_quant("fp8"), get_quant("awq")] if base.id == "bf16" else [base]


def candidate_gpus(names: tuple[str, ...] | None) -> list[GPU]:
    return list({get_gpu(n).id: get_gpu(n) for n in names}.values()) if names else list_gpus()


def check_search_size(specs: list[ModelSpec], opts: SearchOptions) -> int:
    """The number of layouts a search will size; refuses one above ``MAX_SEARCH_LAYOUTS``
    before any work is done."""
    priced = [g for g in candidate_gpus(opts.gpus) if offerings(g.id, opts.cloud, opts.spot)]
    size = sum(len(priced) * len(candidate_formats(s, opts.quants)) * len(LAYOUTS) for s in specs)
    if size > MAX_SEARCH_LAYOUTS:
        raise InvalidInputError(
            f"this search would size {size:,} layouts (at most {MAX_SEARCH_LAYOUTS:,}, a bound "
            "on work): narrow it with --gpu, --quant or fewer models"
        )
    return size


def _replicas_needed(req: Requirements, cap: ReplicaCapacity) -> int:
    """Replicas for the required throughput and for the concurrent requests at peak."""
    by_throughput = 1
    required = req.required_output_tokens_per_s
    if required is not None:
        by_throughput = math.ceil(required / cap.output_tokens_per_s)
    by_concurrency = 1
    if req.peak_users is not None:
        busy_s = cap.ttft_s + req.output * cap.tpot_s
        active = req.peak_users * busy_s / (busy_s + req.think_s)
        by_concurrency = math.ceil(active / cap.batch)
    return max(1, by_throughput, by_concurrency)


def _size_layout(
    spec: ModelSpec,
    req: Requirements,
    gpu: GPU,
    quant: QuantFormat,
    tp: int,
    pp: int,
    opts: SearchOptions,
) -> Candidate:
    """One layout sized and priced; raises CanserveError saying why it drops out."""
    cfg = serving_config(
        spec,
        gpu=gpu,
        tp=tp,
        pp=pp,
        quant=quant,
        kv_dtype=opts.kv_dtype,
        framework=opts.framework,
        headroom=req.headroom,
        calibration=opts.calibration,
    )
    tpot_cap = req.tpot_cap_s
    cap = replica_capacity(cfg, prompt=req.prompt, output=req.output, tpot_target_s=tpot_cap)
    if cap.batch == 0:
        per_gpu = format_bytes(cap.memory.per_gpu["weights_bytes"], "GB", 1)
        raise InvalidInputError(
            f"does not fit: {per_gpu} of weights per GPU with {req.headroom:.0%} "
            f"headroom on {format_bytes(gpu.memory_bytes, 'GB', 1)}"
        )
    if tpot_cap is not None and cap.tpot_s > tpot_cap:
        raise InvalidInputError(
            f"TPOT {cap.tpot_s * 1e3:.3g} ms even at batch 1 > target {tpot_cap * 1e3:.3g} ms"
        )
    lengths = plan_lengths(cfg, req.prompt + req.output, cap.batch, req.context)
    replicas = _replicas_needed(req, cap)
    if replicas > MAX_REPLICAS:
        raise InvalidInputError(
            f"needs {replicas:,} replicas (at most {MAX_REPLICAS:,}, a bound on work)"
        )
    price = price_layout(
        gpu.id,
        tp * pp,
        replicas,
        cloud=opts.cloud,
        spot=opts.spot,
        max_gpus=opts.max_gpus,
        span_instances=pp > 1,  # pipeline stages across nodes (tensor parallel within one)
    )
    return Candidate(cfg, cap, lengths, price)


def search_layouts(
    spec: ModelSpec, req: Requirements, opts: SearchOptions, rejected: list[Rejection]
) -> tuple[list[Candidate], int]:
    """Step 1: every layout that fits, meets the TPOT cap and is sold; (candidates, searched)."""
    candidates: list[Candidate] = []
    searched = 0
    for gpu in candidate_gpus(opts.gpus):
        if not offerings(gpu.id, opts.cloud, opts.spot):
            try:
                price_layout(gpu.id, 1, 1, cloud=opts.cloud, spot=opts.spot)
            except CanserveError as exc:
                rejected.append(Rejection(gpu.id, "-", 0, 0, str(exc)))
            continue
        for quant in candidate_formats(spec, opts.quants):
            weights = weights_of(serving_config(spec, quant=quant))
            if weights.kind == "unavailable":
                rejected.append(Rejection(gpu.id, quant.id, 0, 0, weights.note))
                continue
            fitted = False
            for tp, pp in LAYOUTS:
                if spec.num_attention_heads % tp or (pp > 1 and fitted):
                    continue
                if opts.max_gpus is not None and tp * pp > opts.max_gpus:
                    continue
                searched += 1
                try:
                    cand = _size_layout(spec, req, gpu, quant, tp, pp, opts)
                except CanserveError as exc:
                    fitted = fitted or not str(exc).startswith("does not fit")
                    rejected.append(Rejection(gpu.id, quant.id, tp, pp, str(exc)))
                    continue
                fitted = True
                candidates.append(cand)
    return candidates, searched


def apply_budget(
    candidates: list[Candidate], budget: float | None, rejected: list[Rejection]
) -> list[Candidate]:
    """Step 2: drop the layouts that cost more than ``budget`` USD per hour."""
    if budget is None:
        return candidates
    over = [c for c in candidates if c.usd_per_hour > budget]
    for c in sorted(over, key=lambda c: c.usd_per_hour)[:10]:
        rejected.append(
            _reject_cand(c, f"over budget: ${c.usd_per_hour:,.2f}/h > ${budget:,.2f}/h")
        )
    return [c for c in candidates if c.usd_per_hour <= budget]


def order_candidates(candidates: list[Candidate], rank: str, req: Requirements) -> list[Candidate]:
    """Step 3: cheapest first (fewer GPUs on ties), or expected-fastest first."""
    if rank == "latency":
        return sorted(candidates, key=lambda c: c.cap.ttft_s + req.output * c.cap.tpot_s)
    return sorted(candidates, key=lambda c: (c.usd_per_hour, c.price.gpu_count))


def _slice_workload(
    req: Requirements, replicas: int, opts: SearchOptions, factor: float, *, users: int | None
) -> tuple[Workload, int]:
    """The traffic ``min(replicas, MAX_SIM_REPLICAS)`` replicas carry at ``factor`` x the stated
    traffic (``users`` overrides the closed loop's size); (workload, replicas simulated)."""
    sim_replicas = min(replicas, MAX_SIM_REPLICAS)
    share = sim_replicas / replicas
    if users is not None or req.users is not None:
        total = users if users is not None else (req.users or 0) * factor
        n = max(1, math.ceil(total * share))
        requests = min(max(opts.simulate_requests, 6 * n), MAX_SIM_REQUESTS)
        think = 0.0 if users is not None else req.think_s
        traffic = Workload(
            str(req.prompt),
            str(req.output),
            users=n,
            think_s=think,
            requests=requests,
            seed=opts.seed,
        )
    else:
        assert req.rate is not None
        traffic = Workload(
            str(req.prompt),
            str(req.output),
            rate=req.rate * factor * share,
            requests=min(opts.simulate_requests, MAX_SIM_REQUESTS),
            seed=opts.seed,
        )
    return traffic, sim_replicas


def _simulate(
    req: Requirements,
    cand: Candidate,
    replicas: int,
    opts: SearchOptions,
    factor: float,
    users: int | None = None,
) -> SimResult:
    traffic, sim_replicas = _slice_workload(req, replicas, opts, factor, users=users)
    cfg = cand.cfg.with_changes(
        replicas=sim_replicas,
        max_num_seqs=cand.cap.batch,
        max_model_len=cand.lengths.max_model_len,
    )
    return simulate(cfg, traffic, list(req.slos) if users is None else [])


def _served(req: Requirements, res: SimResult, factor: float) -> float:
    """Output tokens/s the whole deployment serves at ``factor`` x the stated traffic, steady
    state: ``rate x output`` (open loop), or Little's law ``users x output / (E[e2e] + think)``
    (closed loop) -- no warm-up or end-of-run drain in either."""
    if req.rate is not None:
        return req.rate * factor * req.output
    assert req.users is not None
    return req.users * factor * req.output / (res.e2e_s["mean"] + req.think_s)


def steady_capacity(cand: Candidate, req: Requirements, opts: SearchOptions) -> tuple[float, str]:
    """Output tokens/s the deployment sustains in steady state and how that was found (one
    replica's, :func:`replica_steady_capacity`, computed once per candidate, x the replicas)."""
    if cand.capacity is None:
        cand.capacity = replica_steady_capacity(cand, req, opts)
    per_replica, source = cand.capacity
    return per_replica * cand.replicas, source


def replica_steady_capacity(
    cand: Candidate, req: Requirements, opts: SearchOptions
) -> tuple[float, str]:
    """Output tokens/s one replica sustains in steady state, and how that was found: one
    replica's steady-state SLO capacity (:func:`~canserve.sim.capacity.slo_capacity`) in the
    stated traffic's own terms -- the highest open-loop rate (``rate``) or the most users with
    their think time (``users``, by Little's law: users x output / (mean e2e + think)) at which
    a long run meets every SLO; without SLOs, the throughput one replica keeps up under
    overload."""
    cfg = cand.cfg.with_changes(
        replicas=1, max_num_seqs=cand.cap.batch, max_model_len=cand.lengths.max_model_len
    )
    lengths = (str(req.prompt), str(req.output))
    if req.users is not None:
        start = max(1, math.ceil(req.users * req.peak_factor / cand.replicas))
        traffic = Workload(*lengths, users=start, think_s=req.think_s, seed=opts.seed)
    else:
        traffic = Workload(*lengths, rate=1.0, seed=opts.seed)
    if req.slos:
        try:
            cap = slo_capacity(
                cfg,
                traffic,
                list(req.slos),
                tolerance=CAPACITY_TOLERANCE,
                max_sim_requests=CAPACITY_MAX_SIM_REQUESTS,
            )
        except InvalidInputError:
            pass  # no load meets the SLOs on one replica, or the search is too large for the
            # plan's budget: fall back to the overload throughput
        else:
            assert cap.result is not None
            if cap.max_users is not None:
                busy_s = cap.result.e2e_s["mean"] + req.think_s
                per_replica = cap.max_users * req.output / busy_s
            else:
                assert cap.max_rate_requests_per_s is not None
                per_replica = cap.max_rate_requests_per_s * req.output
            return per_replica, "steady-state SLO capacity (simulated, long runs)"
    _, tokens_per_s = saturation_throughput(cfg, traffic)
    return tokens_per_s, "throughput under overload (simulated, steady state)"


def _load_check(
    req: Requirements, cand: Candidate, replicas: int, peak: SimResult, opts: SearchOptions
) -> Load:
    stated = peak if req.peak_factor == 1 else _simulate(req, cand, replicas, opts, 1.0)
    capacity, source = steady_capacity(cand, req, opts)
    return Load(
        served_output_tokens_per_s=_served(req, stated, 1.0),
        peak_output_tokens_per_s=_served(req, peak, req.peak_factor),
        capacity_output_tokens_per_s=capacity,
        required_output_tokens_per_s=req.required_output_tokens_per_s,
        capacity_source=source,
    )


def _with_replicas(cand: Candidate, replicas: int, opts: SearchOptions) -> Candidate:
    """The candidate re-priced on instances holding ``replicas`` replicas."""
    price = price_layout(
        cand.gpu.id,
        cand.cfg.gpus_per_replica,
        replicas,
        cloud=opts.cloud,
        spot=opts.spot,
        max_gpus=opts.max_gpus,
        span_instances=cand.cfg.pp > 1,
    )
    return replace(cand, price=price)


def _confirm(
    req: Requirements, cand: Candidate, opts: SearchOptions, rejected: list[Rejection]
) -> tuple[Candidate, SimResult] | None:
    """Simulate at peak and hold the peak load against the steady-state capacity; on a miss
    add a replica (or as many as the capacity says; three tries); None if it never meets."""
    missed: list[str] = []
    for _ in range(3):
        try:
            res = _simulate(req, cand, cand.replicas, opts, req.peak_factor)
            capacity, _ = steady_capacity(cand, req, opts)
        except InvalidInputError as exc:
            rejected.append(_reject_cand(cand, f"not simulated: {exc}"))
            return None
        missed = [
            f"misses {s.name}: {s.value_s:.3g} s > {s.target_s:.3g} s" for s in res.slo if not s.met
        ]
        peak = _served(req, res, req.peak_factor)
        # with SLOs the capacity is the highest load meeting them in long runs (known to its
        # bracket, CAPACITY_TOLERANCE); without, the checklist's load items report it
        if req.slos and peak > capacity * (1 + CAPACITY_TOLERANCE):
            missed.append(
                f"misses steady-state capacity: {peak:,.0f} output tokens/s at peak > "
                f"{capacity:,.0f} sustained with the SLOs met"
            )
        if not missed:
            return cand, res
        assert cand.capacity is not None
        needed = math.ceil(peak / max(cand.capacity[0], 1e-9))
        try:
            cand = _with_replicas(cand, max(cand.replicas + 1, needed), opts)
        except CanserveError as exc:
            rejected.append(_reject_cand(cand, f"misses targets and cannot grow: {exc}"))
            return None
    reason = "; ".join(missed)
    rejected.append(
        _reject_cand(cand, f"{reason} (simulated with up to {cand.replicas - 1} replicas)")
    )
    return None


def _predicted(res: SimResult, sliced: bool) -> Prediction:
    return Prediction(
        ttft_s=res.ttft_s,
        tpot_s=res.tpot_s,
        e2e_s=res.e2e_s,
        queue_s=res.queue_s,
        throughput_output_tokens_per_s=res.throughput_output_tokens_per_s,
        goodput=res.goodput,
        gpu_utilization=res.gpu_utilization,
        preemptions=res.preemptions,
        slo=res.slo,
        simulated_replicas=res.replicas,
        sliced=sliced,
    )


def _batch_curve(cand: Candidate) -> list[BatchPoint]:
    """Decode speed of one replica against batch size, up to the batch the plan runs."""
    top = cand.cap.batch
    batches = sorted({b for b in (1, 2, 4, 8, 16, 32, 64, 128, 256) if b <= top} | {top})
    context = min(cand.lengths.max_model_len // 2 + 1, cand.cfg.model.max_position_embeddings)
    curve = sweep_batch(cand.cfg, batches, context=context)
    return [BatchPoint(e.batch, e.decode_tokens_per_s, e.tpot_s) for e in curve]


def build_plan(
    spec: ModelSpec, req: Requirements, cand: Candidate, res: SimResult, opts: SearchOptions
) -> Plan:
    """A confirmed candidate as a plan: load check, checklist, commands, manifest."""
    replicas = cand.replicas
    load = _load_check(req, cand, replicas, res, opts)
    served_per_hour = max(load.served_output_tokens_per_s, 1e-9) * 3600
    dep = deployment_of(
        cand.cfg, replicas, cand.cap.batch, cand.cap.memory.max_num_batched_tokens, cand.lengths
    )
    cal = cand.cfg.calibration.framework(cand.cfg.framework.id)
    shape = cand.price.offering
    return Plan(
        model=spec.model_id,
        gpu=cand.gpu.id,
        gpu_count=cand.price.gpu_count,
        tensor_parallel_size=cand.cfg.tp,
        pipeline_parallel_size=cand.cfg.pp,
        replicas=replicas,
        quantization=cand.quant.id,
        instance_type=f"{shape.instance} ({shape.cloud})",
        instances=cand.price.instances,
        memory_per_gpu_bytes=cand.cap.memory.per_gpu["total_bytes"],
        gpu_memory_bytes=cand.gpu.memory_bytes,
        max_num_seqs=cand.cap.batch,
        max_model_len=cand.lengths.max_model_len,
        max_model_len_source=cand.lengths.source,
        kv_capacity_tokens=cand.lengths.kv_capacity_tokens,
        capacity_output_tokens_per_s=load.capacity_output_tokens_per_s,
        utilization=load.utilization,
        headroom_to_saturation=load.headroom,
        cost_usd_per_hour=cand.usd_per_hour,
        cost_usd_per_million_output_tokens=cand.usd_per_hour / served_per_hour * 1e6,
        price=cand.price,
        load=load,
        weights=dep.weights,
        predicted=_predicted(res, res.replicas < replicas),
        checklist=checklist(
            req,
            cand.cap,
            res,
            cand.gpu,
            cand.lengths,
            spec,
            load,
            cal.continuous_batching,
            cand.cfg.framework.name,
        ),
        prepare_command=dep.weights.prepare,
        vllm_command=vllm_command(dep),
        commands=engine_commands(dep),
        kubernetes=kubernetes_manifest(dep),
        batch_curve=_batch_curve(cand),
    )


def confirm_finalists(
    spec: ModelSpec,
    req: Requirements,
    candidates: list[Candidate],
    opts: SearchOptions,
    *,
    top: int,
    finalists: int,
    rank: str,
    rejected: list[Rejection],
) -> list[Plan]:
    """Step 4: simulate the leading candidates; the best ``top`` that meet become plans."""
    limit = max(finalists, 12) if rank == "latency" else finalists
    confirmed: list[tuple[Candidate, SimResult]] = []
    for cand in candidates[:limit]:
        done = _confirm(req, cand, opts, rejected)
        if done is not None:
            confirmed.append(done)
        if len(confirmed) >= top and rank == "cost":
            break
    for cand in candidates[limit : limit + 10]:
        rejected.append(
            _reject_cand(
                cand,
                f"costs more: ${cand.usd_per_hour:,.2f}/h for {cand.replicas} replica(s) "
                "(not simulated)",
            )
        )
    if rank == "latency":
        confirmed.sort(key=lambda cr: cr[1].e2e_s["p95"])
    else:
        confirmed.sort(key=lambda cr: (cr[0].usd_per_hour, cr[0].price.gpu_count))
    return [build_plan(spec, req, c, r, opts) for c, r in confirmed[:top]]


def plan_notes(req: Requirements, plans: list[Plan], rejected: list[Rejection]) -> list[str]:
    """Step 5: why nothing fits, or what to know about the plans."""
    notes = []
    if not plans:
        notes.append(_why_none(rejected, req.required_output_tokens_per_s))
    if not req.slos:
        notes.append(
            "no latency target given: sized for throughput and concurrency only; latency is "
            "predicted, not enforced (add --slo e2e_p95=5s,... to size for it)"
        )
    if any(get_gpu(p.gpu).vendor == "amd" for p in plans):
        notes.append(
            "AMD plans assume the H100-measured kernel efficiencies; ROCm kernels often "
            "reach lower fractions of the datasheet: measure before buying"
        )
    if any(p.price.offering.cloud not in ("aws", "gcp", "azure") for p in plans):
        notes.append(
            "prices include GPU clouds beyond the hyperscalers; pass --cloud aws (gcp, "
            "azure, lambda, ...) to price one provider"
        )
    if any(p.predicted.sliced for p in plans):
        notes.append(
            f"large fleets are simulated as {MAX_SIM_REPLICAS} replicas carrying their share "
            "of the traffic (a bound on work)"
        )
    return notes


def plan_deployment(
    spec: ModelSpec,
    req: Requirements,
    *,
    gpus: list[str] | None = None,
    quants: list[str] | None = None,
    max_gpus: int | None = None,
    cloud: str | None = None,
    spot: bool = False,
    framework: str = "vllm",
    kv_dtype: str = "auto",
    top: int = 3,
    finalists: int = 6,
    simulate_requests: int = 600,
    seed: int = 0,
    budget_usd_per_hour: float | None = None,
    rank: str = "cost",
    calibration: Calibration | str | Path | dict[str, Any] | None = None,
) -> PlanResult:
    """Cheapest deployments meeting ``req``, best first, plus a sample of rejected ones (see
    the module docstring for the steps). ``gpus`` restricts the GPU types, ``max_gpus`` caps
    the GPUs in all; ``rank="latency"`` orders the plans by simulated P95 end-to-end latency."""
    if rank not in ("cost", "latency"):
        raise InvalidInputError("rank must be 'cost' or 'latency'")
    if (req.users is None) == (req.rate is None):
        raise InvalidInputError("give exactly one of --users or --rate")
    cal = calibration if isinstance(calibration, Calibration) else load_calibration(calibration)
    opts = SearchOptions(
        gpus=tuple(gpus) if gpus else None,
        quants=tuple(quants) if quants else None,
        max_gpus=max_gpus,
        cloud=cloud,
        spot=spot,
        framework=framework,
        kv_dtype=kv_dtype,
        calibration=cal,
        simulate_requests=simulate_requests,
        seed=seed,
    )
    check_search_size([spec], opts)
    rejected: list[Rejection] = []
    candidates, searched = search_layouts(spec, req, opts, rejected)
    candidates = apply_budget(candidates, budget_usd_per_hour, rejected)
    candidates = order_candidates(candidates, rank, req)
    plans = confirm_finalists(
        spec, req, candidates, opts, top=top, finalists=finalists, rank=rank, rejected=rejected
    )
    return PlanResult(
        model=spec.model_id,
        required_output_tokens_per_s=req.required_output_tokens_per_s,
        requirements=req,
        targets=req.targets(spec.max_position_embeddings),
        plans=plans,
        rejected=sample_rejected(rejected),
        searched=searched,
        notes=plan_notes(req, plans, rejected),
    )


def rank_plans(plans: list[Plan], rank: str) -> list[Plan]:
    """Cheapest first, or (``rank="latency"``) lowest simulated P95 end-to-end latency first."""
    if rank == "latency":
        return sorted(plans, key=lambda p: p.predicted.e2e_s["p95"])
    return sorted(plans, key=lambda p: (p.cost_usd_per_hour, p.gpu_count))


def sample_rejected(rejected: list[Rejection], limit: int = 40) -> list[Rejection]:
    """Up to ``limit`` rejections, taking each kind of reason in turn (simulated misses and
    costs first, then TPOT, context, price, fit) so that no one kind crowds out the rest."""
    order = ("misses", "costs", "over", "not", "TPOT", "context", "needs", "does", "no")
    groups: dict[str, list[Rejection]] = {}
    for r in rejected:
        groups.setdefault(r.reason.split(":")[0].split(" ")[0], []).append(r)

    def rank(kind: str) -> int:
        return order.index(kind) if kind in order else len(order)

    queues = [groups[k] for k in sorted(groups, key=rank)]
    out: list[Rejection] = []
    while len(out) < limit and any(queues):
        for q in queues:
            if q and len(out) < limit:
                out.append(q.pop(0))
    return out


def _why_none(rejected: list[Rejection], required: float | None) -> str:
    reasons: dict[str, int] = {}
    for r in rejected:
        key = r.reason.split(":")[0]
        reasons[key] = reasons.get(key, 0) + 1
    top = ", ".join(f"{k} ({n})" for k, n in sorted(reasons.items(), key=lambda kv: -kv[1])[:4])
    need = f" ({required:,.0f} output tokens/s)" if required is not None else ""
    return f"no configuration meets the requirements{need}; most common reasons: {top}"
