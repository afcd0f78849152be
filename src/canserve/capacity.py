"""How much traffic one replica serves: the batch it can hold and the tokens per second it yields.

For requests of ``prompt`` + ``output`` tokens, a replica running ``batch`` sequences at a time
spends, per request, ``output`` decode steps shared by ``batch`` sequences plus its prompt's
prefill; so it serves ``batch / (output x step(batch) + batch x prompt / prefill_rate)``
requests per second. The batch is the largest that fits in memory with the required headroom
(at ``prompt + output`` tokens per sequence), capped by ``max_num_seqs`` and, when given, by a
TPOT target.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from canserve.arch.spec import ModelSpec
from canserve.catalog.gpus import GPU
from canserve.catalog.quant import QuantFormat
from canserve.memory import MemoryEstimate, estimate_memory
from canserve.perf import estimate_perf

__all__ = ["ReplicaCapacity", "replica_capacity"]


@dataclass(frozen=True)
class ReplicaCapacity:
    batch: int  # concurrent sequences (0: the model does not fit)
    requests_per_s: float
    output_tokens_per_s: float
    tokens_per_s: float  # prompt + output tokens
    tpot_s: float
    ttft_s: float
    memory: MemoryEstimate


def replica_capacity(
    spec: ModelSpec,
    gpu: GPU,
    quant: QuantFormat,
    *,
    tp: int,
    pp: int = 1,
    prompt: int,
    output: int,
    framework: str = "vllm",
    kv_dtype: str = "auto",
    headroom: float = 0.2,
    max_num_seqs: int | None = None,
    tpot_target_s: float | None = None,
    calibration: Any = None,
) -> ReplicaCapacity:
    context = prompt + output
    mem = estimate_memory(
        spec,
        quant,
        kv_dtype=kv_dtype,
        batch=1,
        context=context,
        gpu=gpu,
        tp=tp,
        pp=pp,
        framework=framework,
        headroom=headroom,
    )
    limit = mem.max_concurrent_sequences or 0
    if max_num_seqs is not None:
        limit = min(limit, max_num_seqs)
    if limit < 1:
        return ReplicaCapacity(0, 0.0, 0.0, 0.0, float("inf"), float("inf"), mem)

    def perf(batch: int):  # type: ignore[no-untyped-def]
        return estimate_perf(
            spec,
            gpu,
            quant,
            kv_dtype=kv_dtype,
            batch=batch,
            context=prompt + output // 2,
            prompt=prompt,
            output=output,
            tp=tp,
            pp=pp,
            framework=framework,
            calibration=calibration,
        )

    batch = limit
    est = perf(batch)
    if tpot_target_s is not None and est.tpot_s > tpot_target_s:
        low, high = 1, batch  # largest batch whose TPOT meets the target (TPOT grows with batch)
        while low < high:
            mid = (low + high + 1) // 2
            if perf(mid).tpot_s <= tpot_target_s:
                low = mid
            else:
                high = mid - 1
        batch, est = low, perf(low)
    per_request_s = output * est.decode_step_s / batch + prompt / est.prefill_tokens_per_s
    rps = 1 / per_request_s
    final = estimate_memory(
        spec,
        quant,
        kv_dtype=kv_dtype,
        batch=batch,
        context=context,
        gpu=gpu,
        tp=tp,
        pp=pp,
        framework=framework,
        headroom=headroom,
    )
    return ReplicaCapacity(batch, rps, rps * output, rps * context, est.tpot_s, est.ttft_s, final)
