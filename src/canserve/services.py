"""The use cases, one function each, shared by the command line and the HTTP API: a typed query
(:mod:`canserve.queries`) in, a typed result with ``to_dict()`` out. The interfaces only parse,
call and format, so ``canserve X --json`` and ``POST /api/X`` answer alike by construction.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from canserve.arch import spec_from_config
from canserve.arch.spec import ModelSpec
from canserve.bench.client import BenchConfig, RequestRecord, run_bench
from canserve.bench.compare import (
    CalibrationValues,
    Comparison,
    calibrate,
    compare,
    write_calibration,
)
from canserve.bench.summary import BenchSummary, load_bench, summarize
from canserve.capacity import ReplicaCapacity, replica_capacity
from canserve.catalog.frameworks import Framework
from canserve.catalog.gpus import GPU, get_gpu, list_gpus
from canserve.catalog.models import CatalogModel, get_model, list_models
from canserve.catalog.prices import (
    InstancePrice,
    has_purchase_price,
    offerings,
    price_layout,
    purchase_price,
)
from canserve.catalog.quant import QuantFormat
from canserve.economics import CostEstimate, HiddenCosts, default_hidden_costs, estimate_cost
from canserve.errors import CanserveError, InvalidInputError
from canserve.memory import MemoryEstimate, estimate_memory
from canserve.perf import PerfEstimate, estimate_perf, load_calibration, sweep_batch
from canserve.plan import PlanResult, Requirements, plan_deployment
from canserve.plan.search import SearchOptions, check_search_size, rank_plans
from canserve.queries import (
    CompareQuery,
    CostQuery,
    MemoryQuery,
    PerfQuery,
    PlanQuery,
    Query,
    ServingOptions,
    SimulateQuery,
)
from canserve.serving import ServingConfig, serving_config
from canserve.sim import SimResult, simulate
from canserve.sim.capacity import Capacity, slo_capacity
from canserve.sim.metrics import parse_slos
from canserve.sim.workload import Workload
from canserve.validation import split_names

__all__ = [
    "CalibrationReport",
    "CostAlternative",
    "CostDeployment",
    "CostReport",
    "PurchaseQuote",
    "SimulateReport",
    "exact_check",
    "framework_row",
    "gpu_row",
    "gpus_matching",
    "model_row",
    "models_matching",
    "quant_row",
    "resolve_model",
    "run_calibrate",
    "run_compare",
    "run_cost",
    "run_memory",
    "run_perf",
    "run_plan",
    "run_simulate",
    "serving_from",
]


def resolve_model(query: Query, spec: ModelSpec | None = None) -> ModelSpec:
    """The query's model: ``spec`` when the interface already read one (a GGUF file, the
    Hub), else its config.json object, else the catalog entry it names."""
    if spec is not None:
        return spec
    if query.config is not None:
        return spec_from_config(query.config, query.model or "config.json")
    if not query.model:
        raise InvalidInputError("give a model: a catalog name, or a config.json")
    return get_model(query.model)


def serving_from(query: ServingOptions, spec: ModelSpec) -> ServingConfig:
    """The query's deployment, resolved and validated."""
    return serving_config(
        spec,
        gpu=query.gpu,
        gpus=query.gpus,
        tp=query.tp,
        pp=query.pp,
        replicas=query.replicas,
        quant=query.quant,
        kv_dtype=query.kv_dtype,
        framework=query.framework,
        context=query.context,
        max_num_seqs=query.max_num_seqs,
        max_num_batched_tokens=query.max_num_batched_tokens,
        headroom=query.headroom,
        calibration=query.calibration,
    )


def exact_check(spec: ModelSpec, config: dict[str, Any]) -> dict[str, Any]:
    """canserve's parameter count beside transformers' own (meta device; the ``exact`` extra)."""
    from canserve.arch import exact_param_count

    exact = exact_param_count(config)
    return dict(
        params_total=spec.params_total,
        exact_params_total=exact,
        exact_difference=spec.params_total - exact,
    )


def run_memory(query: MemoryQuery, spec: ModelSpec | None = None) -> MemoryEstimate:
    """``canserve memory``."""
    cfg = serving_from(query, resolve_model(query, spec))
    return estimate_memory(cfg, batch=query.batch, avg_context=query.avg_context)


def run_perf(query: PerfQuery, spec: ModelSpec | None = None) -> list[PerfEstimate]:
    """``canserve perf``: one estimate, or one per batch size of ``query.sweep``."""
    cfg = serving_from(query, resolve_model(query, spec))
    kwargs: dict[str, Any] = dict(context=query.context, prompt=query.prompt, output=query.output)
    if query.sweep is None:
        curve = [estimate_perf(cfg, batch=query.batch, **kwargs)]
    else:
        curve = sweep_batch(cfg, query.sweep, **kwargs)
    if not any(e.fits for e in curve):  # no speed to report for a setup that cannot run
        raise InvalidInputError(f"does not fit: {curve[0].fits_reason}")
    return curve


@dataclass
class SimulateReport:
    result: SimResult
    max_rate_requests_per_s: float | None = None
    capacity: Capacity | None = None

    def to_dict(self) -> dict[str, Any]:
        data = self.result.to_dict()
        if self.max_rate_requests_per_s is not None:
            data["max_rate_requests_per_s"] = self.max_rate_requests_per_s
        if self.capacity is not None:
            data["capacity"] = self.capacity.to_dict()
            if self.capacity.max_users is not None:
                data["max_users"] = self.capacity.max_users
        return data


def workload_of(query: SimulateQuery, *, rate: float | None = None) -> Workload:
    return Workload(
        prompt=str(query.prompt),
        output=str(query.output),
        rate=rate if rate is not None else query.rate,
        users=query.users if rate is None else None,
        think_s=query.think_s,
        cv=query.cv,
        trace=query.trace,
        requests=query.requests,
        duration_s=query.duration_s,
        seed=query.seed,
    )


def run_simulate(query: SimulateQuery, spec: ModelSpec | None = None) -> SimulateReport:
    """``canserve simulate``: a run, or (``find_max_rate``) the steady-state capacity: the
    highest rate, or with ``users`` the most users, meeting every SLO in a long run."""
    cfg = serving_from(query, resolve_model(query, spec))
    static = True if query.static else None
    if query.find_max_rate:
        assert query.slo is not None
        traffic = workload_of(query, rate=None if query.users is not None else 1.0)
        cap = slo_capacity(
            cfg,
            traffic,
            query.slo,
            static_batching=static,
            load_balancer=query.lb,
            max_sim_requests=query.max_sim_requests,
        )
        assert cap.result is not None
        return SimulateReport(cap.result, cap.max_rate_requests_per_s, cap)
    result = simulate(
        cfg,
        workload_of(query),
        query.slo,
        static_batching=static,
        load_balancer=query.lb,
        max_sim_requests=query.max_sim_requests,
        warmup_s=query.warmup_s,
    )
    return SimulateReport(result)


def _plan_specs(query: PlanQuery, specs: list[ModelSpec] | None) -> list[ModelSpec]:
    if specs is not None:
        return specs
    names = split_names("model", query.model) or []
    if query.config is not None or len(names) <= 1:
        return [resolve_model(query)]
    return [get_model(n) for n in names]


def _requirements(query: PlanQuery) -> Requirements:
    """The query's traffic and targets: only the SLOs given (no hidden latency target)."""
    return Requirements(
        prompt=query.prompt,
        output=query.output,
        users=query.users,
        rate=query.rate,
        think_s=query.think_s,
        slos=tuple(parse_slos(query.slo)),
        peak_factor=query.peak_factor,
        context=query.context,
        headroom=query.headroom,
    )


def _check_lengths(query: PlanQuery, specs: list[ModelSpec]) -> None:
    for s in specs:
        longest = query.context or query.prompt + query.output
        if longest > s.max_position_embeddings:
            what = (
                f"context {query.context:,}"
                if query.context
                else f"a request of {query.prompt:,} + {query.output:,} tokens"
            )
            raise InvalidInputError(
                f"{what} exceeds {s.model_id}'s context of {s.max_position_embeddings:,}"
            )


def run_plan(query: PlanQuery, specs: list[ModelSpec] | None = None) -> PlanResult:
    """``canserve plan`` for one or several candidate models, their plans ranked together. The
    search size is checked before any work starts."""
    specs = _plan_specs(query, specs)
    req = _requirements(query)
    _check_lengths(query, specs)
    gpus = split_names("gpu", query.gpu)
    quants = split_names("quant", query.quant)
    check_search_size(
        specs,
        SearchOptions(
            gpus=tuple(gpus) if gpus else None,
            quants=tuple(quants) if quants else None,
            cloud=query.cloud,
            spot=query.spot,
        ),
    )
    results = [
        plan_deployment(
            s,
            req,
            top=query.top,
            rank=query.rank,
            gpus=gpus,
            quants=quants,
            max_gpus=query.gpus,
            cloud=query.cloud,
            spot=query.spot,
            framework=query.framework,
            kv_dtype=query.kv_dtype,
            budget_usd_per_hour=query.budget_usd_per_hour,
            calibration=query.calibration,
        )
        for s in specs
    ]
    if len(results) == 1:
        return results[0]
    plans = rank_plans([p for r in results for p in r.plans], query.rank)
    return PlanResult(
        model=", ".join(r.model for r in results),
        required_output_tokens_per_s=results[0].required_output_tokens_per_s,
        requirements=results[0].requirements,
        targets=results[0].targets,
        plans=plans[: query.top],
        rejected=[rj for r in results for rj in r.rejected][:40],
        searched=sum(r.searched for r in results),
        notes=list(
            dict.fromkeys(
                n for r in results for n in r.notes if not plans or "no configuration" not in n
            )
        ),
    )


@dataclass(frozen=True)
class CostDeployment:
    """What the cost is of: the whole deployment and one replica's batch and capacity."""

    model: str
    gpu: str
    gpu_count: int
    tensor_parallel_size: int
    replicas: int
    batch_per_replica: int
    capacity_tokens_per_s: float


@dataclass(frozen=True)
class PurchaseQuote:
    """The price of one GPU bought (``--on-prem``), with its source."""

    kind: str
    usd_per_gpu: float
    source: str
    source_date: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class CostAlternative:
    """Another GPU type that serves the volume, at its monthly cost."""

    gpu: str
    instance: str | None  # None: bought (--on-prem)
    cloud: str | None
    gpu_count: int
    monthly_total_usd: float
    self_hosted_usd_per_million_tokens: float


@dataclass
class CostReport:
    estimate: CostEstimate
    deployment: CostDeployment | None = None
    price: InstancePrice | PurchaseQuote | None = None  # the instances rented, or a GPU bought
    alternatives: list[CostAlternative] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        data = self.estimate.to_dict()
        if self.deployment is not None:
            data["deployment"] = asdict(self.deployment)
        if self.price is not None:
            data["price"] = self.price.to_dict()
        if self.alternatives:
            data["alternatives"] = [asdict(a) for a in self.alternatives]
        return data


def _smallest_layout(spec: ModelSpec, gpu: GPU, query: CostQuery) -> tuple[int, ReplicaCapacity]:
    """(tensor_parallel_size, capacity of one replica) for the fewest GPUs per replica that
    fit (on a GPU sold in instances of at least that many, for cloud prices)."""
    gpus = query.gpus
    largest = (
        16
        if query.on_prem
        else max(
            (o.gpus_per_instance for o in offerings(gpu.id, query.cloud, query.spot)), default=0
        )
    )
    for tp in (query.tp,) if query.tp else (1, 2, 4, 8, 16):
        if spec.num_attention_heads % tp or (gpus is not None and gpus % tp) or tp > largest:
            continue
        cfg = serving_config(
            spec,
            gpu=gpu,
            tp=tp,
            quant=query.quant,
            kv_dtype=query.kv_dtype,
            framework=query.framework,
        )
        cap = replica_capacity(cfg, prompt=query.prompt, output=query.output)
        if cap.batch >= 1:
            return tp, cap
    where = f"{gpus} x {gpu.id}" if gpus else f"the {gpu.id} instances sold" if largest else gpu.id
    raise InvalidInputError(f"{spec.model_id} does not fit on {where} with 20% headroom")


def _hidden(query: CostQuery) -> HiddenCosts:
    return default_hidden_costs().with_overrides(
        engineering_fte=query.engineering_fte,
        engineer_usd_per_year=query.engineer_usd_per_year,
        monitoring_usd_per_month=query.monitoring_usd_per_month,
        storage_usd_per_month=query.storage_usd_per_month,
        usd_per_kwh=query.usd_per_kwh,
        pue=query.pue,
    )


def _cost_common(query: CostQuery) -> dict[str, Any]:
    return dict(
        tokens_per_day=query.tokens_per_day,
        utilization=query.utilization,
        input_share=query.input_share,
        hidden=_hidden(query),
        apis=split_names("api", query.api),
        tier=query.tier,
    )


def _cost_on(model: ModelSpec, device: GPU, query: CostQuery) -> CostReport:
    """The cost of serving the volume on ``device``: replicas grow with the volume (unless
    --gpus fixes the count), priced on the instances sold (or bought, --on-prem)."""
    tp, cap = _smallest_layout(model, device, query)
    per_replica = cap.tokens_per_s
    wanted = query.tokens_per_day / 86_400 / query.utilization
    replicas = query.gpus // tp if query.gpus else max(1, math.ceil(wanted / per_replica))
    kwargs: dict[str, Any] = dict(_cost_common(query), gpu_tdp_watts=device.tdp_watts)
    if query.on_prem:
        bought = purchase_price(device.id)
        kwargs.update(
            purchase_usd=bought.usd * tp,
            gpu_count=tp,
            capacity_tokens_per_s=per_replica,
            units=replicas if query.gpus else None,
            label=f"1 replica: {tp} x {device.id} bought",
        )
        price: InstancePrice | PurchaseQuote = PurchaseQuote(
            bought.kind, bought.usd, bought.source, bought.source_date
        )
        per_unit = 1
    else:
        layout = price_layout(
            device.id, tp, replicas, cloud=query.cloud, spot=query.spot, max_gpus=query.gpus
        )
        per_unit = layout.replicas_per_instance
        kwargs.update(
            usd_per_hour=layout.offering.usd_per_instance_hour(query.spot),
            gpu_count=layout.offering.gpus_per_instance,
            capacity_tokens_per_s=per_replica * per_unit,
            units=layout.instances if query.gpus else None,
            label=f"1 x {layout.offering.instance} ({layout.offering.cloud})",
        )
        price = layout
    est = estimate_cost(**kwargs)
    deployment = CostDeployment(
        model=model.model_id,
        gpu=device.id,
        gpu_count=est.units * tp * per_unit if query.on_prem else est.units * kwargs["gpu_count"],
        tensor_parallel_size=tp,
        replicas=est.units * per_unit,
        batch_per_replica=cap.batch,
        capacity_tokens_per_s=(est.capacity_tokens_per_day or 0) / 86_400,
    )
    if isinstance(price, InstancePrice):
        price = replace(price, instances=est.units)  # as many instances as the volume needs
    return CostReport(est, deployment, price)


def _priced_gpus(query: CostQuery) -> list[GPU]:
    if query.gpu is not None:
        return [get_gpu(query.gpu)]
    if query.on_prem:
        return [g for g in list_gpus() if has_purchase_price(g.id)]
    return [g for g in list_gpus() if offerings(g.id, query.cloud, query.spot)]


def run_cost(query: CostQuery, spec: ModelSpec | None = None) -> CostReport:
    """``canserve cost``: price a model for a daily volume, on a GPU type or (without --gpu)
    on the cheapest GPU type that serves it; or a given $/hour deployment."""
    has_model = spec is not None or query.model is not None or query.config is not None
    if query.usd_per_hour is not None:
        if has_model or query.gpu is not None:
            raise InvalidInputError("give either MODEL [--gpu NAME] or --usd-per-hour, not both")
        return CostReport(estimate_cost(usd_per_hour=query.usd_per_hour, **_cost_common(query)))
    if not has_model:
        raise InvalidInputError("cost needs MODEL (optionally --gpu NAME), or --usd-per-hour")
    model = resolve_model(query, spec)
    reports: list[CostReport] = []
    reasons: list[str] = []
    for device in _priced_gpus(query):
        try:
            reports.append(_cost_on(model, device, query))
        except CanserveError as exc:
            reasons.append(f"{device.id}: {exc}")
    if not reports:
        raise InvalidInputError(reasons[0] if len(reasons) == 1 else "; ".join(reasons[:3]))
    reports.sort(key=lambda r: r.estimate.monthly_total_usd)
    best = reports[0]
    best.alternatives = [_alternative(r) for r in reports[1:6]]
    return best


def _alternative(report: CostReport) -> CostAlternative:
    assert report.deployment is not None  # every report of a GPU type has its deployment
    shape = report.price.offering if isinstance(report.price, InstancePrice) else None
    return CostAlternative(
        gpu=report.deployment.gpu,
        instance=shape.instance if shape else None,
        cloud=shape.cloud if shape else None,
        gpu_count=report.deployment.gpu_count,
        monthly_total_usd=report.estimate.monthly_total_usd,
        self_hosted_usd_per_million_tokens=report.estimate.self_hosted_usd_per_million_tokens,
    )


def _matches(text: str, needle: str | None) -> bool:
    return needle is None or needle.lower() in text.lower()


# The catalog as ``canserve models/gpus/quants/frameworks`` and ``/api/models``, ``/api/gpus`` list
# it: the catalog's own records, filtered, and the JSON row of each (its keys are a public
# interface).


def models_matching(needle: str | None = None) -> list[CatalogModel]:
    return [
        m for m in list_models() if _matches(" ".join((m.id, *m.other_ids, *m.aliases)), needle)
    ]


def gpus_matching(needle: str | None = None) -> list[GPU]:
    return [g for g in list_gpus() if _matches(" ".join((g.id, *g.aliases)), needle)]


def model_row(m: CatalogModel) -> dict[str, Any]:
    s = m.spec
    return dict(
        id=m.id,
        aliases=list(m.aliases),
        other_ids=list(m.other_ids),
        model_type=s.model_type,
        params_total=s.params_total,
        params_active=s.params_active,
        num_hidden_layers=s.num_hidden_layers,
        max_position_embeddings=s.max_position_embeddings,
        checkpoint_quantization=s.checkpoint_quantization,
        source=m.source,
    )


def gpu_row(g: GPU) -> dict[str, Any]:
    """Dense peaks per dtype, decimal units."""
    return dict(
        id=g.id,
        aliases=list(g.aliases),
        name=g.name,
        vendor=g.vendor,
        memory_bytes=g.memory_bytes,
        hbm_bytes_per_s=g.hbm_bytes_per_s,
        peak_flops=g.peak_flops,
        interconnect=g.interconnect,
        interconnect_bytes_per_s=g.interconnect_bytes_per_s,
        pcie_bytes_per_s=g.pcie_bytes_per_s,
        tdp_watts=g.tdp_watts,
        source=g.source,
        source_date=g.source_date,
    )


def quant_row(q: QuantFormat) -> dict[str, Any]:
    return dict(id=q.id, aliases=list(q.aliases), description=q.description, source=q.source)


def framework_row(f: Framework) -> dict[str, Any]:
    return dict(
        id=f.id,
        name=f.name,
        kv_allocation=f.kv_allocation,
        kv_block_size_tokens=f.kv_block_size_tokens,
        memory_fraction=f.memory_knob,
        overhead_bytes=f.fixed_overhead_bytes,
    )


def _bench_input(
    source: str, query: CompareQuery
) -> tuple[BenchConfig, BenchSummary, list[RequestRecord]]:
    """A saved run, or (a URL) a fresh closed-loop run against that server."""
    if source.startswith(("http://", "https://")):
        cfg = BenchConfig(
            url=source,
            model=query.served_model or query.model or "default",
            concurrency=query.concurrency,
            prompt=query.prompt,
            output=query.output,
            requests=query.requests,
        )
        records, complete = run_bench(cfg)
        return cfg, summarize(cfg, records, complete), records
    return load_bench(Path(source))


def run_compare(source: str, query: CompareQuery, spec: ModelSpec | None = None) -> Comparison:
    """``canserve compare``: a benchmark (saved, or run now against a URL) beside the
    prediction for the same traffic."""
    cfg, summary, records = _bench_input(source, query)
    if not summary.succeeded:
        raise InvalidInputError(
            f"{source}: no successful request to compare with: "
            + ("; ".join(summary.error_samples) or "no requests sent")
        )
    return compare(cfg, summary, serving_from(query, resolve_model(query, spec)), records)


@dataclass
class CalibrationReport:
    calibration_file: str
    values: CalibrationValues
    median_abs_error_before: list[float]
    median_abs_error_after: list[float]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_calibrate(
    sources: list[Path], out_file: Path, query: ServingOptions, spec: ModelSpec | None = None
) -> CalibrationReport:
    """``canserve calibrate``: fit the device and framework costs to saved runs, write them as a
    calibration file, and report each run's error before and after."""
    serving = serving_from(query, resolve_model(query, spec))
    runs = []
    for path in sources:
        cfg, summary, records = load_bench(path)
        if summary.succeeded:
            runs.append((cfg, summary, records))
    if not runs:
        raise InvalidInputError("no benchmark with successful requests to calibrate from")
    gpu = serving.require_gpu("calibrate")
    _, values = calibrate([(c, s) for c, s, _ in runs], serving)
    write_calibration(out_file, gpu, serving.framework.id, values, [str(p) for p in sources])
    after = serving.with_changes(calibration=load_calibration(out_file))
    return CalibrationReport(
        calibration_file=str(out_file),
        values=values,
        median_abs_error_before=[
            compare(*run[:2], serving, run[2]).median_abs_error for run in runs
        ],
        median_abs_error_after=[compare(*run[:2], after, run[2]).median_abs_error for run in runs],
    )
