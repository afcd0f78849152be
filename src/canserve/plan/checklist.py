"""The article's production checklist as a verdict per item for a planned deployment.

Verdicts: ``pass``, ``fail``, ``warn`` (passes with a caveat, or misses a soft target),
``manual`` (only a real load test or the operator can tick it; canserve says how). Every
measurable item can fail: utilization is the served load over the deployment's steady-state
capacity (not "a step was running"), headroom is the distance from the peak load to saturation,
and the peak check compares the peak load with that capacity and the SLOs simulated at peak.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from canserve.arch.spec import ModelSpec
from canserve.capacity import ReplicaCapacity
from canserve.catalog.gpus import GPU
from canserve.plan.requirements import SATURATION_HEADROOM, UTILIZATION_TARGET
from canserve.sim import SimResult
from canserve.units import format_bytes

if TYPE_CHECKING:
    from canserve.plan.requirements import Requirements

__all__ = ["CheckItem", "Lengths", "Load", "checklist"]


@dataclass(frozen=True)
class Load:
    """Output tokens per second: served at the stated traffic and at peak, against what the
    deployment sustains in steady state (``capacity_source`` says how that was found)."""

    served_output_tokens_per_s: float
    peak_output_tokens_per_s: float
    capacity_output_tokens_per_s: float
    required_output_tokens_per_s: float | None
    capacity_source: str

    @property
    def utilization(self) -> float:
        return self.served_output_tokens_per_s / max(self.capacity_output_tokens_per_s, 1e-12)

    @property
    def headroom(self) -> float:
        """Fraction of the steady-state capacity left above the peak load."""
        return 1 - self.peak_output_tokens_per_s / max(self.capacity_output_tokens_per_s, 1e-12)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "utilization": self.utilization, "headroom": self.headroom}


@dataclass(frozen=True)
class Lengths:
    """The planned ``max_model_len``, why, and how many sequences the KV cache holds."""

    max_model_len: int
    source: str
    kv_capacity_tokens: int  # the longest single sequence beside the planned batch
    sequences_at_max_len: int  # how many max_model_len sequences fit at once


@dataclass(frozen=True)
class CheckItem:
    """One checklist item: its verdict (``pass``, ``fail``, ``warn`` or ``manual``) and why."""

    item: str
    verdict: str
    detail: str


def _memory_items(cap: ReplicaCapacity, gpu: GPU, lengths: Lengths) -> list[CheckItem]:
    mem = cap.memory
    used = mem.per_gpu["total_bytes"] / gpu.memory_bytes
    all_fit = lengths.sequences_at_max_len >= cap.batch
    return [
        CheckItem(
            f"Model loads with {mem.headroom:.0%} VRAM headroom",
            "pass" if mem.fits else "fail",
            f"{used:.0%} of {format_bytes(gpu.memory_bytes, 'GB', 1)} per GPU at the planned batch "
            f"(limit {1 - mem.headroom:.0%})",
        ),
        CheckItem(
            "KV cache calculated for max batch x max context",
            "pass" if all_fit else "warn",
            f"{cap.batch} sequences x {lengths.max_model_len:,} tokens fit"
            if all_fit
            else f"{cap.batch} sequences fit at the planned request length; at max_model_len "
            f"{lengths.max_model_len:,} ({lengths.source}) {lengths.sequences_at_max_len} fit at "
            "once, so long requests lower concurrency (vLLM queues or preempts the rest)",
        ),
    ]


def _latency_item(res: SimResult) -> CheckItem:
    if not res.slo:
        e2e = res.e2e_s
        return CheckItem(
            "Latency P50/P95/P99 meet SLA targets",
            "manual",
            "no latency target given (--slo): predicted end-to-end P50/P95/P99 "
            f"{e2e['p50']:.2f}/{e2e['p95']:.2f}/{e2e['p99']:.2f} s at peak",
        )
    ok = all(s.met for s in res.slo)
    return CheckItem(
        "Latency P50/P95/P99 meet SLA targets",
        "pass" if ok else "fail",
        "; ".join(f"{s.name} {s.value_s:.3g} s (target {s.target_s:.3g} s)" for s in res.slo)
        + " at peak",
    )


def _load_items(req: Requirements, res: SimResult, load: Load) -> list[CheckItem]:
    cap = load.capacity_output_tokens_per_s
    util, headroom = load.utilization, load.headroom
    required = load.required_output_tokens_per_s
    slo_ok = all(s.met for s in res.slo) if res.slo else True
    sustains = load.peak_output_tokens_per_s <= cap and (required is None or required <= cap)
    peak_detail = (
        f"at {req.peak_factor:g}x the stated traffic: {load.peak_output_tokens_per_s:,.0f} "
        f"output tokens/s served"
        + (f", {required:,.0f} required" if required is not None else "")
        + f"; steady-state capacity {cap:,.0f} ({load.capacity_source})"
        + ("" if slo_ok else "; SLOs missed at peak")
    )
    if util > 1:
        util_verdict, util_note = "fail", ": the load exceeds what the deployment sustains"
    elif util >= UTILIZATION_TARGET:
        util_verdict, util_note = "pass", ""
    else:
        util_verdict, util_note = "warn", ": capacity sits idle (fewer or smaller GPUs may do)"
    if headroom <= 0:
        head_verdict = "fail"
    else:
        head_verdict = "pass" if headroom >= SATURATION_HEADROOM else "warn"
    return [
        CheckItem(
            "Throughput sustains during peak traffic",
            "pass" if sustains and slo_ok else "fail",
            peak_detail,
        ),
        CheckItem(
            f"Utilization target {UTILIZATION_TARGET:.0%}+",
            util_verdict,
            f"{util:.0%}: the stated traffic uses {load.served_output_tokens_per_s:,.0f} of the "
            f"{cap:,.0f} output tokens/s the deployment sustains{util_note}",
        ),
        CheckItem(
            f"Headroom to saturation {SATURATION_HEADROOM:.0%}+",
            head_verdict,
            f"{headroom:.0%} of capacity left above the peak load"
            + ("" if headroom > 0 else ": queues grow without bound at peak"),
        ),
    ]


def checklist(
    req: Requirements,
    cap: ReplicaCapacity,
    res: SimResult,
    gpu: GPU,
    lengths: Lengths,
    spec: ModelSpec,
    load: Load,
    continuous_batching: bool,
    framework: str,
) -> list[CheckItem]:
    """The verdicts for one plan: ``res`` is its simulation at peak, ``load`` its load check."""
    items = _memory_items(cap, gpu, lengths)
    items.append(
        CheckItem(
            "OOM handled gracefully (requests queue, no crash)",
            "pass",
            f"--max-num-seqs {cap.batch} and --gpu-memory-utilization cap admission; the simulator "
            f"queued excess requests (P99 queueing {res.queue_s['p99']:.2f} s, "
            f"{res.preemptions} preemptions)",
        )
    )
    items.append(_latency_item(res))
    items += _load_items(req, res, load)
    items.append(
        CheckItem(
            "Continuous batching enabled",
            "pass" if continuous_batching else "fail",
            f"{framework} ({'continuous' if continuous_batching else 'static'} batching)",
        )
    )
    items += [
        CheckItem(
            "Tested under sustained load for 30+ minutes",
            "manual",
            "run `canserve bench URL ...` against the deployed server",
        ),
        CheckItem(
            "Health checks configured",
            "pass",
            "readiness/liveness probes on /health in the Kubernetes manifest",
        ),
        CheckItem("Auto-restart on failure", "pass", "restartPolicy: Always; liveness probe"),
        CheckItem(
            "Monitoring and alerting (VRAM, throughput, latency)",
            "manual",
            "scrape vLLM's /metrics (Prometheus); alert on the SLOs above",
        ),
        CheckItem(
            "Auto-scaling and spot handling",
            "manual",
            f"scale replicas on queue length; {spec.model_id} restarts take minutes to load",
        ),
    ]
    return items
