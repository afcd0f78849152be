"""The capacity planner: from traffic and latency targets to the cheapest deployment that meets
them, confirmed by simulation.

1. Required throughput, the article's equation: ``users x output tokens / target latency`` (or
   ``rate x output``), times the peak factor.
2. For every GPU type x precision x tensor/pipeline layout: the largest batch that fits with the
   headroom and keeps TPOT within target (:mod:`canserve.capacity`); replicas to carry the
   required throughput; the hourly price.
3. Rank by cost; simulate the cheapest finalists under the traffic (at peak) and keep those
   whose percentiles meet the targets, adding a replica when a finalist falls just short.

Every configuration that drops out says why (does not fit, TPOT above target, no price, misses
P95 end-to-end latency in simulation, ...).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from canserve.arch.spec import ModelSpec
from canserve.capacity import ReplicaCapacity, replica_capacity
from canserve.catalog.gpus import GPU, get_gpu, list_gpus
from canserve.catalog.prices import CloudPrice, gpu_hour_price
from canserve.catalog.quant import QuantFormat, get_quant
from canserve.deploy import Deployment, engine_commands, kubernetes_manifest, vllm_command
from canserve.errors import CanserveError, InvalidInputError
from canserve.perf import sweep_batch
from canserve.perf.calibration import Calibration, load_calibration
from canserve.plan.checklist import checklist
from canserve.serving import (
    DEFAULT_HEADROOM,
    DEFAULT_OUTPUT_TOKENS,
    DEFAULT_PROMPT_TOKENS,
    ServingConfig,
    default_quant,
    serving_config,
)
from canserve.sim import SimResult, simulate
from canserve.sim.metrics import SLO, format_slos
from canserve.sim.workload import Workload

__all__ = ["Plan", "PlanResult", "Requirements", "plan_deployment", "rank_plans"]

_LAYOUTS = ((1, 1), (2, 1), (4, 1), (8, 1), (8, 2))  # (tensor, pipeline) parallel sizes
GPU_MEMORY_UTILIZATION = 0.9  # vLLM's default; canserve's 20% headroom check is stricter


@dataclass(frozen=True)
class Requirements:
    """The traffic to serve and the targets to meet (``slos``: parsed ``--slo``)."""

    prompt: int = DEFAULT_PROMPT_TOKENS
    output: int = DEFAULT_OUTPUT_TOKENS
    users: int | None = None
    rate: float | None = None
    think_s: float = 0.0
    slos: tuple[SLO, ...] = ()
    peak_factor: float = 1.0
    context: int | None = None  # the longest sequence to deploy for (None: the model's)
    headroom: float = DEFAULT_HEADROOM

    def target(self, metric: str, stat: str) -> float | None:
        found = [s.target_s for s in self.slos if s.metric == metric and s.stat == stat]
        return min(found) if found else None

    @property
    def latency_s(self) -> float | None:
        """The end-to-end target at P95."""
        return self.target("e2e_s", "p95")

    @property
    def tpot_p99_s(self) -> float | None:
        return self.target("tpot_s", "p99")

    @property
    def required_output_tokens_per_s(self) -> float:
        if self.users is not None:
            latency = self.latency_s or (self.output * (self.tpot_p99_s or 0.05))
            return self.users * self.output / latency * self.peak_factor
        assert self.rate is not None
        return self.rate * self.output * self.peak_factor

    def slo(self) -> str:
        return format_slos(self.slos)


@dataclass
class Plan:
    model: str
    gpu: str
    gpu_count: int
    tensor_parallel_size: int
    pipeline_parallel_size: int
    replicas: int
    quantization: str
    memory_per_gpu_bytes: int
    gpu_memory_bytes: int
    max_num_seqs: int
    max_model_len: int
    capacity_output_tokens_per_s: float
    cost_usd_per_hour: float
    cost_usd_per_million_output_tokens: float
    price: dict[str, Any]
    predicted: dict[str, Any] = field(default_factory=dict)
    checklist: list[dict[str, str]] = field(default_factory=list)
    vllm_command: str = ""
    commands: dict[str, str] = field(default_factory=dict)
    kubernetes: str = ""
    batch_curve: list[dict[str, float]] = field(default_factory=list)


@dataclass
class PlanResult:
    model: str
    required_output_tokens_per_s: float
    requirements: dict[str, Any]
    plans: list[Plan]
    rejected: list[dict[str, Any]]
    searched: int
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _quants(spec: ModelSpec, names: list[str] | None) -> list[QuantFormat]:
    if names:
        return [get_quant(n) for n in names]
    base = default_quant(spec)
    out = [base]
    if base.id == "bf16":
        out += [get_quant("fp8"), get_quant("awq")]
    return out


def _gpus(names: list[str] | None) -> list[GPU]:
    return [get_gpu(n) for n in names] if names else list_gpus()


@dataclass
class _Candidate:
    cfg: ServingConfig  # one replica
    cap: ReplicaCapacity
    price: CloudPrice
    replicas: int
    usd_per_hour: float

    @property
    def gpu(self) -> GPU:
        assert self.cfg.gpu is not None
        return self.cfg.gpu

    @property
    def quant(self) -> QuantFormat:
        return self.cfg.quant

    @property
    def tp(self) -> int:
        return self.cfg.tp

    @property
    def pp(self) -> int:
        return self.cfg.pp


def plan_deployment(
    spec: ModelSpec,
    req: Requirements,
    *,
    gpus: list[str] | None = None,
    quants: list[str] | None = None,
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
    """Cheapest deployments meeting ``req``, best first, plus a sample of rejected ones.

    ``budget_usd_per_hour`` drops layouts that cost more; ``rank="latency"`` orders the plans by
    simulated P95 end-to-end latency instead of cost.
    """
    if rank not in ("cost", "latency"):
        raise InvalidInputError("rank must be 'cost' or 'latency'")
    cal = calibration if isinstance(calibration, Calibration) else load_calibration(calibration)
    if (req.users is None) == (req.rate is None):
        raise InvalidInputError("give exactly one of --users or --rate")
    required = req.required_output_tokens_per_s
    rejected: list[dict[str, Any]] = []
    candidates: list[_Candidate] = []
    searched = 0
    tpot_target = _tpot_target(req)
    for gpu in _gpus(gpus):
        try:
            price = gpu_hour_price(gpu.id, cloud, spot)
        except CanserveError as exc:
            rejected.append(_reject(gpu.id, "-", 0, 0, str(exc)))
            continue
        rate = (price.usd_per_gpu_hour_spot if spot else None) or price.usd_per_gpu_hour
        for quant in _quants(spec, quants):
            fitted = False
            for tp, pp in _LAYOUTS:
                if spec.num_attention_heads % tp or (pp > 1 and fitted):
                    continue
                searched += 1
                cfg = serving_config(
                    spec,
                    gpu=gpu,
                    tp=tp,
                    pp=pp,
                    quant=quant,
                    kv_dtype=kv_dtype,
                    framework=framework,
                    headroom=req.headroom,
                    calibration=cal,
                )
                cap = replica_capacity(
                    cfg, prompt=req.prompt, output=req.output, tpot_target_s=tpot_target
                )
                if cap.batch == 0:
                    per_gpu = cap.memory.per_gpu["weights_bytes"] / 1e9
                    rejected.append(
                        _reject(
                            gpu.id,
                            quant.id,
                            tp,
                            pp,
                            f"does not fit: {per_gpu:,.1f} GB of weights per GPU "
                            f"with {req.headroom:.0%} headroom on "
                            f"{gpu.memory_bytes / 1e9:,.1f} GB",
                        )
                    )
                    continue
                fitted = True
                if tpot_target is not None and cap.tpot_s > tpot_target:
                    rejected.append(
                        _reject(
                            gpu.id,
                            quant.id,
                            tp,
                            pp,
                            f"TPOT {cap.tpot_s * 1e3:.3g} ms even at batch 1 > "
                            f"target {tpot_target * 1e3:.3g} ms",
                        )
                    )
                    continue
                replicas = max(1, math.ceil(required / cap.output_tokens_per_s))
                candidates.append(_Candidate(cfg, cap, price, replicas, replicas * tp * pp * rate))
    candidates.sort(key=lambda c: c.usd_per_hour)
    if budget_usd_per_hour is not None:
        over = [c for c in candidates if c.usd_per_hour > budget_usd_per_hour]
        candidates = [c for c in candidates if c.usd_per_hour <= budget_usd_per_hour]
        for c in over[:10]:
            rejected.append(
                _reject(
                    c.gpu.id,
                    c.quant.id,
                    c.tp,
                    c.pp,
                    f"over budget: ${c.usd_per_hour:,.2f}/h > ${budget_usd_per_hour:,.2f}/h",
                )
            )
    if rank == "latency":  # simulate the layouts the performance model expects to be fastest
        candidates.sort(key=lambda c: c.cap.ttft_s + req.output * c.cap.tpot_s)
        finalists = max(finalists, 12)
    plans: list[Plan] = []
    for cand in candidates[:finalists]:
        plan = _confirm(spec, req, cand, simulate_requests, seed, rejected, rate_of(cand, spot))
        if plan is not None:
            plans.append(plan)
        if len(plans) >= top and rank == "cost":
            break
    plans = rank_plans(plans, rank)[:top]
    for cand in candidates[finalists : finalists + 10]:
        rejected.append(
            _reject(
                cand.gpu.id,
                cand.quant.id,
                cand.tp,
                cand.pp,
                f"costs more: ${cand.usd_per_hour:,.2f}/h for {cand.replicas} "
                "replica(s) (not simulated)",
            )
        )
    notes = []
    if not plans:
        notes.append(_why_none(rejected, required))
    if any(get_gpu(p.gpu).vendor != "nvidia" for p in plans):
        notes.append(
            "AMD plans assume the H100-measured kernel efficiencies; ROCm kernels often "
            "reach lower fractions of the datasheet: measure before buying"
        )
    if any(p.price.get("cloud") not in ("aws", "gcp", "azure") for p in plans):
        notes.append(
            "prices include GPU clouds beyond the hyperscalers; pass --cloud aws (gcp, "
            "azure, lambda, ...) to price one provider"
        )
    return PlanResult(
        model=spec.model_id,
        required_output_tokens_per_s=required,
        requirements=asdict(req),
        plans=plans,
        rejected=rejected[:40],
        searched=searched,
        notes=notes,
    )


def rank_plans(plans: list[Plan], rank: str) -> list[Plan]:
    """Cheapest first, or (``rank="latency"``) lowest simulated P95 end-to-end latency first."""
    if rank == "latency":
        return sorted(plans, key=lambda p: p.predicted["e2e_s"]["p95"])
    return sorted(plans, key=lambda p: p.cost_usd_per_hour)


def rate_of(cand: _Candidate, spot: bool) -> float:
    return (cand.price.usd_per_gpu_hour_spot if spot else None) or cand.price.usd_per_gpu_hour


def _tpot_target(req: Requirements) -> float | None:
    """The TPOT a batch may reach: the TPOT SLO, or the end-to-end target spread over the output
    (leaving 10% for the first token)."""
    targets = []
    if req.tpot_p99_s:
        targets.append(req.tpot_p99_s)
    if req.latency_s and req.output > 1:
        targets.append(0.9 * req.latency_s / req.output)
    return min(targets) if targets else None


def _reject(gpu: str, quant: str, tp: int, pp: int, reason: str) -> dict[str, Any]:
    return dict(
        gpu=gpu,
        quantization=quant,
        tensor_parallel_size=tp,
        pipeline_parallel_size=pp,
        reason=reason,
    )


def _simulate(
    req: Requirements, cand: _Candidate, replicas: int, requests: int, seed: int
) -> SimResult:
    """The candidate under the traffic at peak: a closed loop of users, or Poisson arrivals."""
    if req.users is not None:
        users = math.ceil(req.users * req.peak_factor)
        traffic = Workload(
            str(req.prompt),
            str(req.output),
            users=users,
            think_s=req.think_s,
            requests=max(requests, 6 * users),
            seed=seed,
        )
    else:
        assert req.rate is not None
        traffic = Workload(
            str(req.prompt),
            str(req.output),
            rate=req.rate * req.peak_factor,
            requests=requests,
            seed=seed,
        )
    cfg = cand.cfg.with_changes(replicas=replicas, max_num_seqs=cand.cap.batch)
    return simulate(cfg, traffic, list(req.slos))


def _confirm(
    spec: ModelSpec,
    req: Requirements,
    cand: _Candidate,
    requests: int,
    seed: int,
    rejected: list[dict[str, Any]],
    rate: float,
) -> Plan | None:
    """Simulate the candidate; add up to two replicas if it misses; a Plan if it meets."""
    replicas = cand.replicas
    for _ in range(3):
        if cand.pp > 1:
            break  # the simulator models tensor-parallel replicas only
        res = _simulate(req, cand, replicas, requests, seed)
        missed = [s for s in res.slo if not s["met"]]
        if not missed:
            return _plan(spec, req, cand, replicas, rate, res)
        replicas += 1
    reason = (
        "; ".join(
            f"misses {s['name']}: {s['value_s']:.3g} s > {s['target_s']:.3g} s" for s in missed
        )
        if cand.pp == 1
        else "pipeline parallel: not simulated"
    )
    rejected.append(
        _reject(
            cand.gpu.id,
            cand.quant.id,
            cand.tp,
            cand.pp,
            f"{reason} (simulated with {replicas - 1} replica(s))",
        )
    )
    return None


def _plan(
    spec: ModelSpec, req: Requirements, cand: _Candidate, replicas: int, rate: float, res: SimResult
) -> Plan:
    per_hour = replicas * cand.tp * cand.pp * rate
    output_per_hour = max(res.throughput_output_tokens_per_s, 1e-9) * 3600
    max_len = req.context or (req.prompt + req.output)
    dep = Deployment(
        model_id=spec.model_id,
        tensor_parallel_size=cand.tp,
        pipeline_parallel_size=cand.pp,
        replicas=replicas,
        max_model_len=max_len,
        max_num_seqs=cand.cap.batch,
        max_num_batched_tokens=cand.cap.memory.max_num_batched_tokens,
        gpu_memory_utilization=GPU_MEMORY_UTILIZATION,
        kv_cache_dtype="auto",
        quantization=cand.quant.id,
        vllm_quantization=cand.quant.vllm_quantization,
        checkpoint_quantization=spec.checkpoint_quantization,
        max_input_tokens=req.prompt,
    )
    predicted = {k: getattr(res, k) for k in ("ttft_s", "tpot_s", "e2e_s", "queue_s")}
    predicted.update(
        throughput_output_tokens_per_s=res.throughput_output_tokens_per_s,
        goodput=res.goodput,
        gpu_utilization=res.gpu_utilization,
        preemptions=res.preemptions,
        slo=res.slo,
    )
    return Plan(
        model=spec.model_id,
        gpu=cand.gpu.id,
        gpu_count=replicas * cand.tp * cand.pp,
        tensor_parallel_size=cand.tp,
        pipeline_parallel_size=cand.pp,
        replicas=replicas,
        quantization=cand.quant.id,
        memory_per_gpu_bytes=cand.cap.memory.per_gpu["total_bytes"],
        gpu_memory_bytes=cand.gpu.memory_bytes,
        max_num_seqs=cand.cap.batch,
        max_model_len=max_len,
        capacity_output_tokens_per_s=cand.cap.output_tokens_per_s * replicas,
        cost_usd_per_hour=per_hour,
        cost_usd_per_million_output_tokens=per_hour / output_per_hour * 1e6,
        price=asdict(cand.price),
        predicted=predicted,
        checklist=checklist(req, cand.cap, res, cand.gpu, max_len, spec),
        vllm_command=vllm_command(dep),
        commands=engine_commands(dep),
        kubernetes=kubernetes_manifest(dep),
        batch_curve=_batch_curve(cand, max_len),
    )


def _batch_curve(cand: _Candidate, max_len: int) -> list[dict[str, float]]:
    """Decode speed of one replica against batch size, up to the batch the plan runs."""
    top = cand.cap.batch
    batches = sorted({b for b in (1, 2, 4, 8, 16, 32, 64, 128, 256) if b <= top} | {top})
    curve = sweep_batch(cand.cfg, batches, context=max_len // 2 + 1)
    return [
        dict(batch=e.batch, decode_tokens_per_s=e.decode_tokens_per_s, tpot_s=e.tpot_s)
        for e in curve
    ]


def _why_none(rejected: list[dict[str, Any]], required: float) -> str:
    reasons: dict[str, int] = {}
    for r in rejected:
        key = r["reason"].split(":")[0]
        reasons[key] = reasons.get(key, 0) + 1
    top = ", ".join(f"{k} ({n})" for k, n in sorted(reasons.items(), key=lambda kv: -kv[1])[:4])
    return (
        f"no configuration meets the requirements ({required:,.0f} output tokens/s); "
        f"most common reasons: {top}"
    )
