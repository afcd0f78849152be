"""Throughput and latency of one replica: decode step, TPOT, prefill, TTFT and end-to-end.

``estimate_perf`` puts the step model (:mod:`canserve.perf.step`) to work for a batch at a
context: one decode step of the whole batch (``decode_step_s``), the time per output token of
each sequence (``tpot_s``; with pipeline parallelism a micro-batch crosses every stage), the time
to first token of a prompt processed alone in ``max_num_batched_tokens`` chunks (``ttft_s``), or
sharing its steps with ``batch`` running decodes (``ttft_with_decodes_s``), and ``e2e_s`` =
TTFT + (output - 1) x TPOT.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from canserve.arch.spec import ModelSpec
from canserve.catalog.frameworks import Framework
from canserve.catalog.gpus import GPU
from canserve.catalog.quant import QuantFormat
from canserve.errors import InvalidInputError
from canserve.perf.calibration import Calibration
from canserve.perf.step import Hardware, Step, StepTime, step_time
from canserve.serving import DEFAULT_CONTEXT_TOKENS, ServingConfig
from canserve.weights import weights_breakdown

__all__ = ["PerfEstimate", "estimate_perf", "sweep_batch"]

_MAX_BATCH = 100_000


@dataclass(frozen=True)
class PerfEstimate:
    model: str
    gpu: str
    quantization: str
    kv_cache_dtype: str
    framework: str
    tensor_parallel_size: int
    pipeline_parallel_size: int
    batch: int
    context: int
    decode_step_s: float
    decode_tokens_per_s: float
    tpot_s: float
    prefill_tokens_per_s: float
    ttft_s: float
    bound: str
    breakdown_s: dict[str, float]
    bandwidth_bound_tokens_per_s: float  # the article's formula: HBM bandwidth / weight bytes
    prompt: int | None = None
    output: int | None = None
    ttft_with_decodes_s: float | None = None
    e2e_s: float | None = None
    calibration: str = ""
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _check(name: str, value: int, high: int) -> None:
    if not 1 <= value <= high:
        raise InvalidInputError(f"{name} must be between 1 and {high:,}, got {value:,}")


def _prefill_time(run: Any, prompt: int, chunk: int, decodes: int, context: int) -> float:
    """Time to prefill ``prompt`` tokens in chunks of ``chunk`` tokens, each step also carrying
    ``decodes`` decode tokens (chunked prefill mixed with decodes, vLLM's default)."""
    per_step = max(1, chunk - decodes)
    total, done = 0.0, 0
    while done < prompt:
        size = min(per_step, prompt - done)
        last = done + size >= prompt
        step = Step(decodes, context, size, done, last)
        total += run(step).total_s
        done += size
    return total


def estimate_perf(
    config: ServingConfig,
    *,
    batch: int = 1,
    context: int | None = None,
    prompt: int | None = None,
    output: int | None = None,
) -> PerfEstimate:
    """Decode/prefill speed of ``batch`` sequences at ``context`` tokens (default: ``prompt +
    output``, else 8,192) on one replica of ``config``."""
    spec, fmt, fw, cal = config.model, config.quant, config.framework, config.calibration
    device = config.require_gpu("perf")
    tp, pp = config.tp, config.pp
    _check("batch", batch, _MAX_BATCH)
    if prompt is not None:
        _check("prompt", prompt, spec.max_position_embeddings)
    if output is not None:
        _check("output", output, spec.max_position_embeddings)
    if context is None:
        context = (prompt or 0) + (output or 0) or min(
            DEFAULT_CONTEXT_TOKENS, spec.max_position_embeddings
        )
    _check("context", context, spec.max_position_embeddings)
    bits = config.kv_bits
    hw = Hardware(device, tp, pp)
    chunk = config.max_num_batched_tokens or fw.batch_defaults(device.memory_bytes, device.id)[1]
    if chunk <= 0:  # engines without chunked prefill take the whole prompt at once
        chunk = prompt or context

    def run(step: Step) -> StepTime:
        return step_time(spec, fmt, hw, step, kv_bits=bits, framework=fw.id, cal=cal)

    micro = math.ceil(batch / pp)  # pipeline: pp micro-batches in flight, one per stage
    decode = run(Step(decode_seqs=micro, context=context))
    decode_step_s = decode.total_s
    ttft_prompt = prompt or context
    ttft = _prefill_time(run, ttft_prompt, chunk, 0, 0)
    result: dict[str, Any] = dict(
        model=spec.model_id,
        gpu=device.id,
        quantization=fmt.id,
        kv_cache_dtype=config.kv_cache_dtype,
        framework=fw.id,
        tensor_parallel_size=tp,
        pipeline_parallel_size=pp,
        batch=batch,
        context=context,
        decode_step_s=decode_step_s,
        decode_tokens_per_s=batch / decode_step_s,
        tpot_s=decode_step_s,
        prefill_tokens_per_s=ttft_prompt / ttft,
        ttft_s=ttft,
        bound=decode.bound,
        breakdown_s=dict(
            weights_s=decode.weights_s,
            kv_s=decode.kv_s,
            compute_s=decode.compute_s,
            comm_s=decode.comm_s,
            overhead_s=decode.overhead_s,
        ),
        bandwidth_bound_tokens_per_s=_article_bound(spec, fmt, device, tp),
        calibration=cal.source,
        notes=_notes(fmt, device, fw, cal),
    )
    if prompt is not None:
        result.update(
            prompt=prompt,
            output=output,
            ttft_with_decodes_s=_prefill_time(run, prompt, chunk, max(0, batch - 1), context),
        )
        if output is not None:
            result["e2e_s"] = ttft + (output - 1) * decode_step_s
    return PerfEstimate(**result)


def _article_bound(spec: ModelSpec, fmt: QuantFormat, device: GPU, tp: int) -> float:
    """The article's 'Max tokens/s = memory bandwidth / model size' for comparison."""
    return device.hbm_bytes_per_s * tp / weights_breakdown(spec, fmt).total_bytes


def _notes(fmt: QuantFormat, device: GPU, fw: Framework, cal: Calibration) -> list[str]:
    notes = []
    if fmt.compute_dtype != "bf16" and not device.supports(fmt.compute_dtype):
        notes.append(
            f"{device.id} has no {fmt.compute_dtype} tensor cores: {fmt.id} runs as a "
            "weight-only format with bf16 compute"
        )
    if not cal.framework(fw.id).cuda_graphs:
        notes.append(f"{fw.name} runs eagerly: each step is bounded by CPU kernel launches")
    if cal.source == "calibration.toml" and device.id != "H100-SXM-80GB":
        notes.append(
            "kernel efficiencies were measured on an H100 SXM and are assumed to carry over"
        )
    return notes


def sweep_batch(config: ServingConfig, batches: list[int], **kwargs: Any) -> list[PerfEstimate]:
    """``estimate_perf`` at each batch size (the batch-size curve)."""
    return [estimate_perf(config, batch=b, **kwargs) for b in batches]
