"""The complete memory equation: weights + KV cache + activations + framework overhead.

``estimate_memory`` sizes one replica (one GPU, or a tensor x pipeline parallel group) serving
``batch`` concurrent sequences of up to ``context`` tokens, and, given a GPU, says whether it fits
with the headroom the production checklist asks for (20% by default) and how far it stretches:
the most concurrent sequences at that context and the longest context at that batch.

Accounting, per GPU of the group (``per_gpu``: the busiest one; the top-level figures are replica
totals that add up: ``total_bytes = weights_bytes + kv_cache_bytes + activation_bytes +
overhead_bytes``, with the weights counted once and the KV cache as every stage holds it):

* weights: exact per tensor for the quantization format (:mod:`canserve.weights`), sharded the
  way vLLM shards them (KV heads replicated when ``tp > num_key_value_heads``; MLA latent and
  norms replicated).
* KV cache: the model's real cache layout (:mod:`canserve.kv`) times ``batch``, each sequence
  rounded up to whole KV blocks when the framework pages its cache.
* activations: the prefill chunk's peak (``max_num_batched_tokens`` tokens through the widest
  layer) plus the sampler's fp32 logits rows, with per-framework coefficients from
  ``frameworks.toml`` (measured for transformers, fitted to logs for vLLM).
* overhead: CUDA context, CUDA graphs, workspaces and (``tp * pp > 1``) NCCL buffers.
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
from canserve.kv import KVLayout, kv_layout
from canserve.serving import DEFAULT_CONTEXT_TOKENS, DEFAULT_HEADROOM, ServingConfig
from canserve.validation import MAX_BATCH, check_int
from canserve.weights import weights_breakdown

__all__ = ["Allocation", "MemoryEstimate", "estimate_memory"]

ACTIVATION_BYTES = 2  # activations run in bf16/fp16 whatever the weight format
LOGITS_BYTES = 4  # samplers work on fp32 logits (vLLM Sampler, transformers generate)
STATE_BITS = 16  # recurrent (Mamba / DeltaNet) state stays in the model dtype (vLLM "auto")


@dataclass(frozen=True)
class Allocation:
    """KV allocation for sequences that actually hold ``avg_context`` tokens on average."""

    scheme: str  # "paged" or "static"
    reserved_bytes_per_sequence: int
    used_bytes_per_sequence: int
    waste_fraction: float
    max_concurrent_sequences: int | None


@dataclass(frozen=True)
class MemoryEstimate:
    model: str
    quantization: str
    kv_cache_dtype: str
    framework: str
    batch: int
    context: int
    tensor_parallel_size: int
    pipeline_parallel_size: int
    params_total: int
    params_active: int
    weights_bytes: int
    kv_bytes_per_token: int
    kv_bytes_per_sequence: int
    kv_cache_bytes: int
    activation_bytes: int
    overhead_bytes: int
    total_bytes: int
    per_gpu: dict[str, int]
    activation_detail: dict[str, int]
    weights_by_role_bytes: dict[str, int]
    max_num_seqs: int
    max_num_batched_tokens: int
    gpu: str | None = None
    gpu_memory_bytes: int | None = None
    gpus: int | None = None
    replicas: int | None = None
    headroom: float = DEFAULT_HEADROOM
    usable_bytes_per_gpu: int | None = None
    fits: bool | None = None
    max_concurrent_sequences: int | None = None
    max_context_tokens: int | None = None
    engine_kv_budget_bytes_per_gpu: int | None = None
    engine_max_concurrent_sequences: int | None = None
    allocation: list[Allocation] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _blocks(tokens: int, block: int) -> int:
    return math.ceil(tokens / block) * block


def _kv_seq_bytes(layout: KVLayout, tokens: int, bits: float, block: int) -> int:
    """Bytes one sequence of ``tokens`` holds on one GPU (rounded to whole KV blocks)."""
    stored = _blocks(tokens, block) if block > 1 else tokens
    elements = layout.elements_per_sequence(stored)
    return math.ceil(elements * bits / 8) + math.ceil(layout.state_elements * STATE_BITS / 8)


def _activation_parts(
    spec: ModelSpec, fw: Framework, tp: int, tokens: int, logits_rows: int
) -> tuple[int, int]:
    """(forward, logits) activation bytes on one GPU for a step of ``tokens`` tokens: the
    widest layer's live tensors, and the sampler's fp32 logits rows (vocab-wide; gathered whole
    on every tensor-parallel rank)."""
    per_token = (
        fw.activation_hidden_copies * spec.hidden_size
        + fw.activation_inner_copies * math.ceil(spec.active_inner_width / tp)
    ) * ACTIVATION_BYTES
    rows = tokens if fw.logits_rows == "chunk_tokens" else logits_rows
    logits = rows * spec.vocab_size * LOGITS_BYTES * fw.logits_fp32_copies
    return int(tokens * per_token), int(logits)


def _activation_bytes(
    spec: ModelSpec, fw: Framework, tp: int, chunk_tokens: int, logits_rows: int
) -> int:
    """Peak activation memory on one GPU: a step with a full prefill chunk and every running
    sequence sampling (what vLLM's profile run reserves)."""
    return sum(_activation_parts(spec, fw, tp, chunk_tokens, logits_rows))


def _overhead_bytes(fw: Framework, group_size: int) -> int:
    nccl = fw.nccl_bytes_per_gpu_tp if group_size > 1 else 0
    return fw.cuda_context_bytes + fw.cuda_graph_bytes + fw.workspace_bytes + nccl


def _pp_fraction(spec: ModelSpec, pp: int) -> float:
    """Share of the cache layers on the busiest pipeline stage."""
    return math.ceil(spec.num_hidden_layers / pp) / spec.num_hidden_layers if pp > 1 else 1.0


def estimate_memory(
    config: ServingConfig,
    *,
    batch: int = 1,
    context: int | None = None,
    avg_context: int | None = None,
) -> MemoryEstimate:
    """Memory for one replica of ``config`` to serve ``batch`` sequences of ``context`` tokens
    (default: the config's ``max_model_len``, else 8,192 or the model's maximum if smaller); see
    the module docstring. ``config.max_num_seqs`` defaults to ``batch`` (the admission limit
    canserve recommends), ``config.max_num_batched_tokens`` to the framework's default prefill
    chunk for the GPU. ``avg_context`` (default ``context``) is the typical real length, for
    allocation waste.
    """
    spec, fmt, fw, device = config.model, config.quant, config.framework, config.gpu
    headroom = config.headroom
    ctx = (
        context or config.max_model_len or min(DEFAULT_CONTEXT_TOKENS, spec.max_position_embeddings)
    )
    check_int("batch", batch, 1, MAX_BATCH)
    if not 1 <= ctx <= spec.max_position_embeddings:
        raise InvalidInputError(
            f"context must be between 1 and the model's maximum "
            f"{spec.max_position_embeddings:,} tokens, got {ctx:,}"
        )
    avg = check_int("avg_context", ctx if avg_context is None else avg_context, 1, ctx)
    tp_size, pp_size = config.tp, config.pp
    group = tp_size * pp_size

    seqs_default, chunk_default = (
        fw.batch_defaults(device.memory_bytes, device.id)
        if device
        else (fw.default_max_num_seqs, fw.default_max_num_batched_tokens)
    )
    max_num_seqs, max_num_batched_tokens = config.max_num_seqs, config.max_num_batched_tokens
    seqs = batch if max_num_seqs is None else max_num_seqs
    # transformers has no chunked prefill: the whole batch of prompts goes through at once
    chunk_limit = (max_num_batched_tokens or chunk_default) if fw.kv_allocation != "dynamic" else 0

    def act(n_seqs: int) -> int:
        """Activation peak when ``n_seqs`` sequences may run (logits rows, prefill tokens)."""
        rows = seqs if max_num_seqs is not None else n_seqs
        chunk_tokens = min(chunk_limit, rows * ctx) if chunk_limit else rows * ctx
        return _activation_bytes(spec, fw, tp_size, chunk_tokens, rows)

    chunk = min(chunk_limit, seqs * ctx) if chunk_limit else seqs * ctx
    bits = config.kv_bits
    block = fw.kv_block_size_tokens if fw.kv_allocation == "paged" else 1

    weights = weights_breakdown(spec, fmt, tp_size, pp_size)
    layout = kv_layout(spec, tp_size)
    pp_share = _pp_fraction(spec, pp_size)
    kv_seq_rank = _kv_seq_bytes(layout, ctx, bits, block)  # every layer, one tensor-parallel rank
    kv_seq_gpu = int(kv_seq_rank * pp_share)  # the busiest pipeline stage's share
    kv_gpu = batch * kv_seq_gpu
    kv_total = batch * kv_seq_rank * tp_size  # all stages' shares on all ranks
    act_gpu = act(batch)
    prefill_fwd, prefill_logits = _activation_parts(spec, fw, tp_size, chunk, seqs)
    decode_fwd, decode_logits = _activation_parts(spec, fw, tp_size, batch, batch)
    overhead_gpu = _overhead_bytes(fw, group)
    total_gpu = weights.per_gpu_bytes + kv_gpu + act_gpu + overhead_gpu

    logical = kv_layout(spec, 1)
    per_token_bits = logical.elements_per_token_at(ctx) * bits
    result: dict[str, Any] = dict(
        model=spec.model_id,
        quantization=fmt.id,
        kv_cache_dtype=config.kv_cache_dtype,
        framework=fw.id,
        batch=batch,
        context=ctx,
        tensor_parallel_size=tp_size,
        pipeline_parallel_size=pp_size,
        params_total=spec.params_total,
        params_active=spec.params_active,
        weights_bytes=weights.total_bytes,
        total_bytes=weights.total_bytes + kv_total + (act_gpu + overhead_gpu) * group,
        kv_bytes_per_token=math.ceil(per_token_bits / 8),
        kv_bytes_per_sequence=_kv_seq_bytes(logical, ctx, bits, block),
        kv_cache_bytes=kv_total,
        activation_bytes=act_gpu * group,
        overhead_bytes=overhead_gpu * group,
        per_gpu=dict(
            weights_bytes=weights.per_gpu_bytes,
            kv_cache_bytes=kv_gpu,
            activation_bytes=act_gpu,
            overhead_bytes=overhead_gpu,
            total_bytes=total_gpu,
        ),
        activation_detail=dict(
            prefill_chunk_tokens=chunk,
            prefill_forward_bytes=prefill_fwd,
            sampler_logits_bytes=prefill_logits,
            decode_step_bytes=decode_fwd + decode_logits,
        ),
        weights_by_role_bytes=dict(weights.by_role_bytes),
        max_num_seqs=seqs,
        max_num_batched_tokens=chunk,
        headroom=headroom,
        notes=list(spec.notes) + _notes(spec, fmt, fw, seqs_default, seqs, layout, tp_size),
    )
    if device is not None:
        result.update(
            _fit(
                spec,
                fw,
                device,
                layout,
                bits,
                block,
                pp_share,
                ctx,
                batch,
                avg,
                headroom,
                fixed_gpu=weights.per_gpu_bytes + overhead_gpu,
                act=act,
                total_gpu=total_gpu,
            )
        )
        result.update(gpu=device.id, gpus=config.gpu_count, replicas=config.replicas)
    return MemoryEstimate(**result)


def _max_sequences(budget: int, kv_seq: int, act: Any) -> int:
    """Most sequences n with n * kv_seq + act(n) <= budget (both terms grow with n): a binary
    search, since act(n) (the sampler's logits rows) can outgrow the budget at large n."""
    if kv_seq <= 0:
        return MAX_BATCH
    low, high = 0, min(MAX_BATCH, max(0, budget // kv_seq))
    while low < high:
        mid = (low + high + 1) // 2
        if mid * kv_seq + act(mid) <= budget:
            low = mid
        else:
            high = mid - 1
    return int(low)


def _fit(
    spec: ModelSpec,
    fw: Framework,
    device: GPU,
    layout: KVLayout,
    bits: float,
    block: int,
    pp_share: float,
    ctx: int,
    batch: int,
    avg: int,
    headroom: float,
    *,
    fixed_gpu: int,
    act: Any,
    total_gpu: int,
) -> dict[str, Any]:
    """Verdict and limits on ``device``: fits with headroom, most sequences, longest context."""
    usable = int(device.memory_bytes * (1 - headroom))
    budget = usable - fixed_gpu

    def seq_bytes(tokens: int, blk: int = block) -> int:
        return int(_kv_seq_bytes(layout, tokens, bits, blk) * pp_share)

    max_seqs = _max_sequences(budget, seq_bytes(ctx), act)
    max_ctx = _max_context(spec, budget - act(batch), batch, seq_bytes)
    engine_budget = None
    engine_seqs = None
    if fw.has_memory_fraction:
        engine_budget = max(  # nothing left (not a negative budget) when the weights overflow
            0,
            int(device.memory_bytes * fw.memory_fraction_default)
            - fixed_gpu
            + fw.cuda_context_bytes  # vLLM counts the CUDA context outside its fraction
            - act(batch),
        )
        engine_seqs = max(0, engine_budget // max(1, seq_bytes(ctx)))
    paged_block = fw.kv_block_size_tokens if fw.kv_allocation == "paged" else 16
    allocation = [
        _allocation("paged", seq_bytes(avg, paged_block), seq_bytes(avg, 1), budget, act),
        _allocation("static", seq_bytes(ctx, 1), seq_bytes(avg, 1), budget, act),
    ]
    return dict(
        gpu_memory_bytes=device.memory_bytes,
        usable_bytes_per_gpu=usable,
        fits=total_gpu <= usable,
        max_concurrent_sequences=max_seqs,
        max_context_tokens=max_ctx,
        engine_kv_budget_bytes_per_gpu=engine_budget,
        engine_max_concurrent_sequences=engine_seqs,
        allocation=allocation,
    )


def _allocation(scheme: str, reserved: int, used: int, budget: int, act: Any) -> Allocation:
    return Allocation(
        scheme=scheme,
        reserved_bytes_per_sequence=reserved,
        used_bytes_per_sequence=used,
        waste_fraction=round(1 - used / reserved, 4) if reserved else 0.0,
        max_concurrent_sequences=_max_sequences(budget, reserved, act),
    )


def _max_context(spec: ModelSpec, budget: int, batch: int, seq_bytes: Any) -> int:
    """Longest context (<= the model's maximum) whose KV for ``batch`` sequences fits."""
    low, high = 0, spec.max_position_embeddings
    while low < high:
        mid = (low + high + 1) // 2
        if batch * seq_bytes(mid) <= budget:
            low = mid
        else:
            high = mid - 1
    return low


def _notes(
    spec: ModelSpec,
    fmt: QuantFormat,
    fw: Framework,
    seqs_default: int,
    seqs: int,
    layout: KVLayout,
    tp: int,
) -> list[str]:
    notes = []
    if spec.checkpoint_quantization and fmt.id != spec.checkpoint_quantization:
        notes.append(f"the checkpoint ships as {spec.checkpoint_quantization}; sized as {fmt.id}")
    if layout.mla and tp > 1:
        notes.append("MLA latent cache is replicated on every tensor-parallel rank (vLLM)")
    if spec.num_key_value_heads < tp and not layout.mla:
        notes.append(f"{spec.num_key_value_heads} KV heads < tp {tp}: KV heads are replicated")
    if fw.has_memory_fraction and seqs < seqs_default:
        notes.append(
            f"activations sized for max_num_seqs={seqs}; {fw.name}'s default "
            f"({seqs_default}) reserves more sampler memory"
        )
    return notes
