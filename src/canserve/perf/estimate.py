"""Throughput and latency of one replica: decode step, TPOT, prefill, TTFT and end-to-end.

``estimate_perf`` puts the step model (:mod:`canserve.perf.step`) to work for a batch at a
context: one decode step of the whole batch (``decode_step_s``), the time per output token of
each sequence (``tpot_s``; with pipeline parallelism a micro-batch crosses every stage), the time
to first token of a prompt processed alone in ``max_num_batched_tokens`` chunks (``ttft_s``), or
sharing its steps with ``batch`` running decodes (``ttft_with_decodes_s``), and ``e2e_s`` =
TTFT + (output - 1) x TPOT.

Speeds are only meaningful for a setup that can run: each estimate says whether the weights and
``batch`` sequences of ``context`` tokens fit the replica's GPUs (``fits``, ``fits_reason``,
from :func:`canserve.memory.estimate_memory` with no headroom), and where the device's kernel
costs come from (``calibration_basis``: measured on this GPU, or assumed from another).
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
from canserve.perf.costs import model_costs
from canserve.perf.device import SM_COUNT
from canserve.perf.step import Hardware, Step, StepTime, step_time
from canserve.serving import DEFAULT_CONTEXT_TOKENS, ServingConfig
from canserve.units import GB
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
    fits: bool = True  # the weights and the batch's KV cache fit the replica's GPUs
    fits_reason: str | None = None  # why not, when they do not
    calibration_basis: str = ""  # where the device's kernel costs come from
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """All fields; the speeds and times are null when the setup does not fit."""
        data = asdict(self)
        if not self.fits:
            data.update(dict.fromkeys(_SPEEDS))
        return data


_SPEEDS = (
    "decode_step_s",
    "decode_tokens_per_s",
    "tpot_s",
    "prefill_tokens_per_s",
    "ttft_s",
    "bound",
    "breakdown_s",
    "bandwidth_bound_tokens_per_s",
    "ttft_with_decodes_s",
    "e2e_s",
)


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
            kernels_s=decode.kernels_s,
            activations_s=decode.activations_s,
            comm_s=decode.comm_s,
            overhead_s=decode.overhead_s,
        ),
        bandwidth_bound_tokens_per_s=_article_bound(spec, fmt, device, tp),
        calibration=cal.source,
        calibration_basis=cal.basis(device.id),
        notes=_notes(fmt, device, fw, cal, _quantized(spec, fmt, tp)),
    )
    result.update(_fit_check(config, batch, context))
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


def _quantized(spec: ModelSpec, fmt: QuantFormat, tp: int) -> bool:
    costs = model_costs(spec, fmt, tp)
    return any(g.quantized for g in costs.dense + costs.experts)


def _fit_check(config: ServingConfig, batch: int, context: int) -> dict[str, Any]:
    """Whether the weights and ``batch`` x ``context`` tokens of KV fit the replica's GPUs (no
    headroom: can it run at all), and why not."""
    from canserve.memory import estimate_memory

    mem = estimate_memory(config.with_changes(headroom=0.0), batch=batch, context=context)
    if mem.fits:
        return dict(fits=True, fits_reason=None)
    gpu = config.require_gpu("perf")
    per_gpu = mem.per_gpu
    fixed = per_gpu["weights_bytes"] + per_gpu["overhead_bytes"]
    if fixed + per_gpu["activation_bytes"] >= gpu.memory_bytes:
        reason = (
            f"the weights need {per_gpu['weights_bytes'] / GB:,.1f} GB per GPU (with the "
            f"engine's overhead {fixed / GB:,.1f} GB), more than one {gpu.id} holds "
            f"({gpu.memory_bytes / GB:,.1f} GB): use more GPUs (--tp) or a smaller format "
            "(--quant)"
        )
    else:
        room = mem.max_concurrent_sequences or 0
        reason = (
            f"{batch:,} sequences x {context:,} tokens need {per_gpu['kv_cache_bytes'] / GB:,.1f}"
            f" GB of KV cache per GPU beside {fixed / GB:,.1f} GB of weights and overhead; "
            f"{room:,} such sequences fit on {gpu.id}"
        )
    return dict(fits=False, fits_reason=reason)


def _notes(
    fmt: QuantFormat, device: GPU, fw: Framework, cal: Calibration, quantized: bool
) -> list[str]:
    notes = []
    if fmt.compute_dtype != "bf16" and not device.supports(fmt.compute_dtype):
        notes.append(
            f"{device.id} has no {fmt.compute_dtype} tensor cores: {fmt.id} runs as a "
            "weight-only format with bf16 compute"
        )
    if not cal.framework(fw.id).cuda_graphs:
        notes.append(f"{fw.name} runs eagerly: each step is bounded by CPU kernel launches")
    if device.id not in cal.devices and device.id != cal.measured_on:
        notes.append(f"kernel costs on {device.id}: {cal.basis(device.id)}")
    weight_only = fmt.compute_dtype == "bf16" or not device.supports(fmt.compute_dtype)
    if quantized and weight_only:
        notes.append(
            f"{fmt.id} kernels: dequantizing GEMMs assumed at "
            f"{cal.quant.weight_only_compute_fraction:.0%} of the bf16 rate once compute-bound "
            "(not measured)"
        )
    elif quantized and fmt.block_2d:
        notes.append(
            f"{fmt.id} kernels: block-scaled GEMMs assumed at "
            f"{cal.quant.block_scale_compute_fraction:.0%} of the {fmt.compute_dtype} rate "
            "(not measured)"
        )
    if device.vendor != "cpu" and device.id not in SM_COUNT:
        notes.append(f"{device.id}'s SM count is not listed: assumed 108")
    return notes


def sweep_batch(config: ServingConfig, batches: list[int], **kwargs: Any) -> list[PerfEstimate]:
    """``estimate_perf`` at each batch size (the batch-size curve)."""
    return [estimate_perf(config, batch=b, **kwargs) for b in batches]
