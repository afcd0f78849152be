"""The article's production checklist as a verdict per item for a planned deployment.

Verdicts: ``pass``, ``fail``, ``warn`` (passes with a caveat), ``manual`` (only a real load test
or the operator can tick it; canserve says how).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from canserve.arch.spec import ModelSpec
from canserve.capacity import ReplicaCapacity
from canserve.catalog.gpus import GPU
from canserve.sim import SimResult

if TYPE_CHECKING:
    from canserve.plan.search import Requirements

__all__ = ["checklist"]

UTILIZATION_TARGET = 0.6  # the article: "Utilization monitoring (target 60%+ for cost efficiency)"


def _item(item: str, verdict: str, detail: str) -> dict[str, str]:
    return {"item": item, "verdict": verdict, "detail": detail}


def checklist(
    req: Requirements,
    cap: ReplicaCapacity,
    res: SimResult,
    gpu: GPU,
    max_model_len: int,
    spec: ModelSpec,
) -> list[dict[str, str]]:
    mem = cap.memory
    used = mem.per_gpu["total_bytes"] / gpu.memory_bytes
    items = [
        _item(
            "Model loads with 20% VRAM headroom",
            "pass" if mem.fits else "fail",
            f"{used:.0%} of {gpu.memory_bytes / 1e9:,.1f} GB per GPU at the planned batch",
        ),
    ]
    at_max = mem.max_context_tokens or 0
    kv_ok = at_max >= max_model_len
    items.append(
        _item(
            "KV cache calculated for max batch x max context",
            "pass" if kv_ok else "warn",
            f"{cap.batch} sequences x {max_model_len:,} tokens fit"
            if kv_ok
            else f"{cap.batch} sequences fit up to {at_max:,} tokens each; longer ones queue",
        )
    )
    items.append(
        _item(
            "OOM handled gracefully (requests queue, no crash)",
            "pass",
            f"--max-num-seqs {cap.batch} and --gpu-memory-utilization cap admission; the simulator "
            f"queued excess requests (P99 queueing {res.queue_s['p99']:.2f} s, "
            f"{res.preemptions} preemptions)",
        )
    )
    slo_ok = all(s["met"] for s in res.slo) if res.slo else True
    items.append(
        _item(
            "Latency P50/P95/P99 meet SLA targets",
            "pass" if slo_ok else "fail",
            "; ".join(
                f"{s['name']} {s['value_s']:.3g} s (target {s['target_s']:.3g} s)" for s in res.slo
            )
            or "no SLA given",
        )
    )
    items.append(
        _item(
            "Throughput sustains during peak traffic",
            "pass" if slo_ok else "fail",
            f"simulated at {req.peak_factor:g}x the stated traffic: "
            f"{res.throughput_output_tokens_per_s:,.0f} output tokens/s",
        )
    )
    items.append(_item("Continuous batching enabled", "pass", "vLLM (continuous batching)"))
    util = res.gpu_utilization
    items.append(
        _item(
            "Utilization target 60%+",
            "pass" if util >= UTILIZATION_TARGET else "warn",
            f"GPUs busy {util:.0%} of the time in simulation"
            + ("" if util >= UTILIZATION_TARGET else ": fewer or smaller GPUs may do"),
        )
    )
    items += [
        _item(
            "Tested under sustained load for 30+ minutes",
            "manual",
            "run `canserve bench URL ...` against the deployed server",
        ),
        _item(
            "Health checks configured",
            "pass",
            "readiness/liveness probes on /health in the Kubernetes manifest",
        ),
        _item("Auto-restart on failure", "pass", "restartPolicy: Always; liveness probe"),
        _item(
            "Monitoring and alerting (VRAM, throughput, latency)",
            "manual",
            "scrape vLLM's /metrics (Prometheus); alert on the SLOs above",
        ),
        _item(
            "Auto-scaling and spot handling",
            "manual",
            f"scale replicas on queue length; {spec.model_id} restarts take minutes to load",
        ),
    ]
    return items
