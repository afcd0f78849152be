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

from canserve.memory import MemoryEstimate, estimate_memory
from canserve.perf import PerfEstimate, estimate_perf
from canserve.serving import ServingConfig

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
    config: ServingConfig,
    *,
    prompt: int,
    output: int,
    tpot_target_s: float | None = None,
) -> ReplicaCapacity:
    """One replica of ``config`` serving requests of ``prompt`` + ``output`` tokens."""
    context = prompt + output
    sizing = config.with_changes(max_num_seqs=None)
    mem = estimate_memory(sizing, batch=1, context=context)
    limit = mem.max_concurrent_sequences or 0
    if config.max_num_seqs is not None:
        limit = min(limit, config.max_num_seqs)
    if limit < 1:
        return ReplicaCapacity(0, 0.0, 0.0, 0.0, float("inf"), float("inf"), mem)

    def perf(batch: int) -> PerfEstimate:
        return estimate_perf(
            config, batch=batch, context=prompt + output // 2, prompt=prompt, output=output
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
    final = estimate_memory(sizing, batch=batch, context=context)
    return ReplicaCapacity(batch, rps, rps * output, rps * context, est.tpot_s, est.ttft_s, final)
