"""Use cases shared by the command line and the HTTP API: each returns the JSON-ready data both
interfaces print or send, so ``canserve X --json`` and ``POST /api/X`` answer alike."""

from __future__ import annotations

from typing import Any

from canserve.arch.spec import ModelSpec
from canserve.capacity import ReplicaCapacity, replica_capacity
from canserve.catalog.gpus import GPU, get_gpu, list_gpus
from canserve.catalog.models import list_models
from canserve.catalog.prices import gpu_hour_price, purchase_price
from canserve.catalog.quant import get_quant
from canserve.economics import CostEstimate, estimate_cost
from canserve.errors import InvalidInputError
from canserve.memory import default_quant
from canserve.plan import PlanResult, Requirements, plan_deployment
from canserve.plan.search import rank_plans

__all__ = ["cost_report", "gpu_rows", "model_rows", "plan_models"]


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


def gpu_rows(needle: str | None = None) -> list[dict[str, Any]]:
    return [_gpu_row(g) for g in list_gpus() if _matches(" ".join((g.id, *g.aliases)), needle)]


def _smallest_layout(
    spec: ModelSpec, gpu: GPU, quant: str | None, gpus: int | None, prompt: int, output: int
) -> tuple[int, int, ReplicaCapacity]:
    """(tensor_parallel_size, replicas, capacity) for the fewest GPUs per replica that fit."""
    fmt = get_quant(quant) if quant else default_quant(spec)
    for tp in (1, 2, 4, 8, 16):
        if spec.num_attention_heads % tp or (gpus is not None and gpus % tp):
            continue
        cap = replica_capacity(spec, gpu, fmt, tp=tp, prompt=prompt, output=output)
        if cap.batch >= 1:
            return tp, (gpus or tp) // tp, cap
    raise InvalidInputError(
        f"{spec.model_id} does not fit on {gpus or 16} x {gpu.id} with 20% headroom"
    )


def cost_report(
    spec: ModelSpec | None = None,
    gpu: str | None = None,
    *,
    tokens_per_day: float,
    gpus: int | None = None,
    quant: str | None = None,
    usd_per_hour: float | None = None,
    utilization: float = 0.6,
    input_share: float = 0.4,
    prompt: int = 200,
    output: int = 300,
    cloud: str | None = None,
    spot: bool = False,
    on_prem: bool = False,
) -> tuple[CostEstimate, dict[str, Any]]:
    """``canserve cost``: price a model on a GPU type (or a given $/hour) for a daily volume."""
    extra: dict[str, Any] = {}
    kwargs: dict[str, Any] = dict(
        tokens_per_day=tokens_per_day, utilization=utilization, input_share=input_share
    )
    if gpus is not None and not 1 <= gpus <= 4096:
        raise InvalidInputError(f"gpus must be between 1 and 4096, got {gpus}")
    if usd_per_hour is not None:
        if spec is not None or gpu is not None:
            raise InvalidInputError("give either MODEL --gpu NAME or --usd-per-hour, not both")
        kwargs["usd_per_hour"] = usd_per_hour
    else:
        if spec is None or gpu is None:
            raise InvalidInputError("cost needs MODEL --gpu NAME, or --usd-per-hour")
        device = get_gpu(gpu)
        tp, replicas, cap = _smallest_layout(spec, device, quant, gpus, prompt, output)
        count = tp * replicas
        kwargs.update(
            capacity_tokens_per_s=cap.tokens_per_s * replicas,
            gpu_count=count,
            gpu_tdp_watts=device.tdp_watts,
        )
        if on_prem:
            price = purchase_price(device.id)
            kwargs["purchase_usd"] = price.usd * count
            extra["price"] = dict(
                kind=price.kind,
                usd_per_gpu=price.usd,
                source=price.source,
                source_date=price.source_date,
            )
        else:
            hourly = gpu_hour_price(device.id, cloud, spot)
            rate = hourly.usd_per_gpu_hour_spot if spot else hourly.usd_per_gpu_hour
            assert rate is not None
            kwargs["usd_per_hour"] = rate * count
            extra["price"] = dict(
                cloud=hourly.cloud,
                instance=hourly.instance,
                spot=spot,
                usd_per_gpu_hour=rate,
                source=hourly.source,
                source_date=hourly.source_date,
            )
        extra["deployment"] = dict(
            model=spec.model_id,
            gpu=device.id,
            gpu_count=count,
            tensor_parallel_size=tp,
            replicas=replicas,
            batch_per_replica=cap.batch,
            capacity_tokens_per_s=cap.tokens_per_s * replicas,
        )
    est = estimate_cost(**kwargs)
    return est, {**est.to_dict(), **extra}


def plan_models(
    specs: list[ModelSpec], req: Requirements, *, top: int = 3, rank: str = "cost", **kwargs: Any
) -> PlanResult:
    """``canserve plan`` for one or several candidate models, their plans ranked together."""
    results = [plan_deployment(s, req, top=top, rank=rank, **kwargs) for s in specs]
    if len(results) == 1:
        return results[0]
    plans = rank_plans([p for r in results for p in r.plans], rank)
    return PlanResult(
        model=", ".join(r.model for r in results),
        required_output_tokens_per_s=results[0].required_output_tokens_per_s,
        requirements=results[0].requirements,
        plans=plans[:top],
        rejected=[rj for r in results for rj in r.rejected][:40],
        searched=sum(r.searched for r in results),
        notes=[n for r in results for n in r.notes if not plans or "no configuration" not in n],
    )
