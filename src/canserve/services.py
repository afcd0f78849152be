"""The use cases, one function each, shared by the command line and the HTTP API: a typed query
(:mod:`canserve.queries`) in, a typed result with ``to_dict()`` out. The interfaces only parse,
call and format, so ``canserve X --json`` and ``POST /api/X`` answer alike by construction.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from canserve.arch import spec_from_config
from canserve.arch.spec import ModelSpec
from canserve.bench.client import BenchConfig, run_bench
from canserve.bench.compare import calibrate, compare, write_calibration
from canserve.bench.summary import load_bench, summarize
from canserve.capacity import ReplicaCapacity, replica_capacity
from canserve.catalog.gpus import GPU, get_gpu, list_gpus
from canserve.catalog.models import get_model, list_models
from canserve.catalog.prices import gpu_hour_price, purchase_price
from canserve.economics import CostEstimate, estimate_cost
from canserve.errors import InvalidInputError
from canserve.memory import MemoryEstimate, estimate_memory
from canserve.perf import PerfEstimate, estimate_perf, load_calibration, sweep_batch
from canserve.plan import PlanResult, Requirements, plan_deployment
from canserve.plan.search import rank_plans
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
from canserve.sim import SimResult, find_max_rate, simulate
from canserve.sim.metrics import parse_slos
from canserve.sim.workload import Workload
from canserve.validation import split_names

__all__ = [
    "CalibrationReport",
    "CostReport",
    "SimulateReport",
    "gpu_rows",
    "model_rows",
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

# With no latency target at all, the planner sizes for the article's chat target (issue 13 makes
# this explicit in the output).
DEFAULT_PLAN_SLO = "e2e_p95=5s"


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

    def to_dict(self) -> dict[str, Any]:
        data = self.result.to_dict()
        if self.max_rate_requests_per_s is not None:
            data["max_rate_requests_per_s"] = self.max_rate_requests_per_s
        return data


def workload_of(query: SimulateQuery, *, rate: float | None = None) -> Workload:
    return Workload(
        prompt=str(query.prompt),
        output=str(query.output),
        rate=rate if rate is not None else query.rate,
        users=query.users,
        think_s=query.think_s,
        cv=query.cv,
        trace=query.trace,
        requests=query.requests,
        duration_s=query.duration_s,
        seed=query.seed,
    )


def run_simulate(query: SimulateQuery, spec: ModelSpec | None = None) -> SimulateReport:
    """``canserve simulate``: a run, or (``find_max_rate``) the search for the highest rate."""
    cfg = serving_from(query, resolve_model(query, spec))
    static = True if query.static else None
    if query.find_max_rate:
        assert query.slo is not None
        rate, result = find_max_rate(
            cfg,
            workload_of(query, rate=1.0),
            query.slo,
            static_batching=static,
            load_balancer=query.lb,
        )
        return SimulateReport(result, rate)
    result = simulate(
        cfg, workload_of(query), query.slo, static_batching=static, load_balancer=query.lb
    )
    return SimulateReport(result)


def run_plan(query: PlanQuery, specs: list[ModelSpec] | None = None) -> PlanResult:
    """``canserve plan`` for one or several candidate models, their plans ranked together."""
    if specs is None:
        names = split_names("model", query.model) or []
        specs = (
            [resolve_model(query)]
            if query.config is not None or len(names) <= 1
            else [get_model(n) for n in names]
        )
    slos = parse_slos(query.slo or DEFAULT_PLAN_SLO)
    req = Requirements(
        prompt=query.prompt,
        output=query.output,
        users=query.users,
        rate=query.rate,
        think_s=query.think_s,
        slos=tuple(slos),
        peak_factor=query.peak_factor,
        context=query.context,
        headroom=query.headroom,
    )
    for s in specs:
        if query.prompt + query.output > s.max_position_embeddings:
            raise InvalidInputError(
                f"a request of {query.prompt:,} + {query.output:,} tokens exceeds "
                f"{s.model_id}'s context of {s.max_position_embeddings:,}"
            )
    results = [
        plan_deployment(
            s,
            req,
            top=query.top,
            rank=query.rank,
            gpus=split_names("gpu", query.gpu),
            quants=split_names("quant", query.quant),
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
        plans=plans[: query.top],
        rejected=[rj for r in results for rj in r.rejected][:40],
        searched=sum(r.searched for r in results),
        notes=[n for r in results for n in r.notes if not plans or "no configuration" not in n],
    )


@dataclass
class CostReport:
    estimate: CostEstimate
    deployment: dict[str, Any] | None = None
    price: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data = self.estimate.to_dict()
        if self.deployment is not None:
            data["deployment"] = self.deployment
        if self.price is not None:
            data["price"] = self.price
        return {**data, **self.extra}


def _smallest_layout(
    spec: ModelSpec, gpu: GPU, query: CostQuery
) -> tuple[int, int, ReplicaCapacity]:
    """(tensor_parallel_size, replicas, capacity) for the fewest GPUs per replica that fit."""
    gpus = query.gpus
    for tp in (query.tp,) if query.tp else (1, 2, 4, 8, 16):
        if spec.num_attention_heads % tp or (gpus is not None and gpus % tp):
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
            return tp, (gpus or tp) // tp, cap
    raise InvalidInputError(
        f"{spec.model_id} does not fit on {gpus or 16} x {gpu.id} with 20% headroom"
    )


def run_cost(query: CostQuery, spec: ModelSpec | None = None) -> CostReport:
    """``canserve cost``: price a model on a GPU type (or a given $/hour) for a daily volume."""
    kwargs: dict[str, Any] = dict(
        tokens_per_day=query.tokens_per_day,
        utilization=query.utilization,
        input_share=query.input_share,
    )
    has_model = spec is not None or query.model is not None or query.config is not None
    if query.usd_per_hour is not None:
        if has_model or query.gpu is not None:
            raise InvalidInputError("give either MODEL --gpu NAME or --usd-per-hour, not both")
        kwargs["usd_per_hour"] = query.usd_per_hour
        return CostReport(estimate_cost(**kwargs))
    if not has_model or query.gpu is None:
        raise InvalidInputError("cost needs MODEL --gpu NAME, or --usd-per-hour")
    model = resolve_model(query, spec)
    device = get_gpu(query.gpu)
    tp, replicas, cap = _smallest_layout(model, device, query)
    count = tp * replicas
    kwargs.update(
        capacity_tokens_per_s=cap.tokens_per_s * replicas,
        gpu_count=count,
        gpu_tdp_watts=device.tdp_watts,
    )
    if query.on_prem:
        bought = purchase_price(device.id)
        kwargs["purchase_usd"] = bought.usd * count
        price = dict(
            kind=bought.kind,
            usd_per_gpu=bought.usd,
            source=bought.source,
            source_date=bought.source_date,
        )
    else:
        hourly = gpu_hour_price(device.id, query.cloud, query.spot)
        rate = hourly.usd_per_gpu_hour_spot if query.spot else hourly.usd_per_gpu_hour
        assert rate is not None
        kwargs["usd_per_hour"] = rate * count
        price = dict(
            cloud=hourly.cloud,
            instance=hourly.instance,
            spot=query.spot,
            usd_per_gpu_hour=rate,
            source=hourly.source,
            source_date=hourly.source_date,
        )
    deployment = dict(
        model=model.model_id,
        gpu=device.id,
        gpu_count=count,
        tensor_parallel_size=tp,
        replicas=replicas,
        batch_per_replica=cap.batch,
        capacity_tokens_per_s=cap.tokens_per_s * replicas,
    )
    return CostReport(estimate_cost(**kwargs), deployment, price)


def _matches(text: str, needle: str | None) -> bool:
    return needle is None or needle.lower() in text.lower()


def model_rows(needle: str | None = None) -> list[dict[str, Any]]:
    rows = []
    for m in list_models():
        if not _matches(" ".join((m.id, *m.other_ids, *m.aliases)), needle):
            continue
        s = m.spec
        rows.append(
            dict(
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
        )
    return rows


def _gpu_row(g: GPU) -> dict[str, Any]:
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


def gpu_rows_of(gpus: list[GPU]) -> list[dict[str, Any]]:
    return [_gpu_row(g) for g in gpus]


def gpu_rows(needle: str | None = None) -> list[dict[str, Any]]:
    return gpu_rows_of([g for g in list_gpus() if _matches(" ".join((g.id, *g.aliases)), needle)])


def _bench_input(source: str, query: CompareQuery) -> tuple[BenchConfig, dict[str, Any]]:
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
        return cfg, summarize(cfg, records, complete)
    cfg, summary, _ = load_bench(Path(source))
    return cfg, summary


def run_compare(source: str, query: CompareQuery, spec: ModelSpec | None = None) -> dict[str, Any]:
    """``canserve compare``: a benchmark (saved, or run now against a URL) beside the
    prediction for the same traffic."""
    cfg, summary = _bench_input(source, query)
    if not summary["succeeded"]:
        raise InvalidInputError(
            f"{source}: no successful request to compare with: "
            + ("; ".join(summary.get("error_samples", [])) or "no requests sent")
        )
    return compare(cfg, summary, serving_from(query, resolve_model(query, spec)))


@dataclass
class CalibrationReport:
    calibration_file: str
    values: dict[str, float]
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
        cfg, summary, _ = load_bench(path)
        if summary["succeeded"]:
            runs.append((cfg, summary))
    if not runs:
        raise InvalidInputError("no benchmark with successful requests to calibrate from")
    gpu = serving.require_gpu("calibrate")
    _, values = calibrate(runs, serving)
    write_calibration(out_file, gpu, serving.framework.id, values, [str(p) for p in sources])
    after = serving.with_changes(calibration=load_calibration(out_file))
    return CalibrationReport(
        calibration_file=str(out_file),
        values=values,
        median_abs_error_before=[compare(c, s, serving)["median_abs_error"] for c, s in runs],
        median_abs_error_after=[compare(c, s, after)["median_abs_error"] for c, s in runs],
    )
