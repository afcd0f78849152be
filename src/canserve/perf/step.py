"""Time of one engine step on one replica: decode tokens and/or a prefill chunk.

Per GPU of the tensor-parallel group, summed over the layers (pipeline stages run one after the
other for a micro-batch), each term a physical cost with its own calibrated constant
(``calibration.toml``; symbols as in ``docs/perf.md``):

* **GEMMs** (:func:`gemm_time`): ``t_gemm + max(bytes / (eta_g * B), flops / R(m, n, k))``.
  ``B`` is the GPU's achievable streaming bandwidth (``stream_bw_fraction`` of the datasheet),
  ``t_gemm`` a fixed ramp-up and tail per GEMM kernel, and ``R`` the tensor-core rate of the
  format's compute dtype for that shape: rows and columns padded to whole output tiles
  (128 x 128; fewer rows: the next power of two from 16), at ``gemm_flops_fraction x
  compute_efficiency`` of peak once the tiles (times split-K slices) give every SM one,
  proportionally less before. Weight-only formats (W4A16, W8A16, FP8 or FP4
  where the GPU has no such tensor cores) dequantize in registers and run at
  ``weight_only_compute_fraction`` of the bf16 rate; FP8 with 128 x 128 block scales at
  ``block_scale_compute_fraction`` of the FP8 rate.
* **Routed experts** (:func:`experts_time`): one grouped GEMM per projection over the experts
  the step's tokens touch, reading only those experts, plus ``t_expert`` per touched expert
  whose tiles fill the GPU (an expert narrower than the GPU pays its share of the SMs: small
  experts run side by side and overlap their ramp-up and tail).
  The router is a small GEMM; shared experts are dense GEMMs.
* **LM head**: a GEMM over the rows that need logits (decodes and a prompt's last chunk).
* **Attention** (:func:`attention_time`): each kernel streams the KV cache and computes, and
  its loads overlap its math, so it takes ``max(KV bytes / BW_kv, FLOPs / R_attn)``, not their
  sum. ``BW_kv = min(eta_kv * B, CTAs * b_cta)``: one work item (CTA) streams at most
  ``kv_cta_bytes_per_s``, and a decode has ``sequences x KV heads x query tiles`` of them, times
  the splits of the context an engine with split-KV decode (FlashDecoding) adds to fill the
  SMs. A prefill chunk's causal attention is compute at ``attn_flops_fraction`` of peak.
* **Small kernels**: ``kernel_fixed_s`` for each norm, residual add, rotary, KV write,
  activation, attention launch, activation quantization (W8A8 formats), MoE routing kernel and
  the step's embedding, final norm and sampling; plus the activations those kernels stream.
* **Tensor parallel**: two all-reduces of ``tokens x hidden`` bf16 per layer, each
  ``latency + 2 (tp-1)/tp x bytes / (link/2 x link_bw_fraction)``; **pipeline parallel**: one
  activation hop per stage boundary.
* **Engine**: a scheduler cost per step (and per decode step, and per sequence it decodes:
  sampling, detokenizing, streaming); eager frameworks are bounded
  below by CPU launches (``layers x per_layer_overhead_s``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import lru_cache

from canserve.arch.spec import ModelSpec
from canserve.catalog.quant import QuantFormat
from canserve.kv import kv_layout
from canserve.perf.calibration import Calibration, FrameworkCosts, KernelCosts
from canserve.perf.costs import (
    Gemm,
    ModelCosts,
    attention_groups,
    attention_shape,
    experts_touched,
    model_costs,
)
from canserve.perf.device import Hardware

__all__ = [
    "Hardware",
    "Step",
    "StepTime",
    "attention_time",
    "causal_pairs",
    "experts_time",
    "gemm_time",
    "lm_head_seconds",
    "prefill_pair_seconds",
    "step_time",
]

ACT_BYTES = 2  # bf16 activations (all-reduce payloads, elementwise kernels)
TILE = 128  # output tile (rows and columns) of tensor-core GEMM kernels (CUTLASS/cuBLAS)
MIN_ROW_TILE = 16  # fewest rows a tensor-core GEMM tile computes (one MMA is 16 rows tall)
SPLIT_K_MIN = 1024  # a split-K slice keeps at least this many of K (assumed, cuBLAS-like)
ATTN_Q_TILE = 64  # query rows per attention work item (FlashAttention's decode tile)
KV_SPLIT_BLOCK = 256  # KV tokens per split at the finest (FlashAttention's num_splits_heuristic)
KV_SPLIT_MAX = 128  # most splits per sequence and head (ditto)
STEP_KERNELS = 3  # per step: embedding gather, final norm, sampling (argmax / top-k)


@dataclass(frozen=True)
class Step:
    """What one step processes: ``decode_seqs`` sequences at ``context`` tokens each, plus
    ``prefill_seqs`` prefill chunks of ``prefill_tokens`` tokens, each starting after
    ``prefill_offset`` tokens of its prompt."""

    decode_seqs: int = 0
    context: int = 0
    prefill_tokens: int = 0
    prefill_offset: int = 0
    prefill_last_chunk: bool = True
    prefill_seqs: int = 1


@dataclass(frozen=True)
class StepTime:
    total_s: float
    weights_s: float  # memory-bound GEMM time (weight streaming)
    compute_s: float  # compute-bound GEMM + attention time
    kv_s: float  # attention KV (and recurrent state) streaming time
    comm_s: float  # tensor/pipeline-parallel communication
    overhead_s: float  # framework: scheduler and CPU launch costs
    bound: str  # "memory" or "compute"
    kernels_s: float = 0.0  # fixed kernel costs: GEMM ramp/tail, small kernels, per expert
    activations_s: float = 0.0  # activations streamed by the small kernels


@dataclass
class _Parts:
    """Time by kind, summed over the terms of a step."""

    weights: float = 0.0
    compute: float = 0.0
    kv: float = 0.0
    kernels: float = 0.0
    activations: float = 0.0

    def add_bound(self, fixed: float, memory: float, compute: float, kv: bool = False) -> None:
        """A kernel that takes ``fixed + max(memory, compute)``: its loads overlap its math."""
        self.kernels += fixed
        if compute > memory:
            self.compute += compute
        elif kv:
            self.kv += memory
        else:
            self.weights += memory

    @property
    def total(self) -> float:
        return self.weights + self.compute + self.kv + self.kernels + self.activations


def stream_bytes_per_s(hw: Hardware, k: KernelCosts) -> float:
    """The GPU's achievable streaming read bandwidth (per GPU)."""
    return hw.gpu.hbm_bytes_per_s * k.stream_bw_fraction


def tensor_rate(hw: Hardware, k: KernelCosts, work_tiles: float, dtype: str) -> float:
    """FLOP/s of a GEMM launch of ``work_tiles`` output tiles (times its split-K slices): the
    full-GPU rate, ``gemm_flops_fraction`` of peak, scaled down while the tiles cannot give
    every SM one."""
    rate = hw.flops(dtype) * k.gemm_flops_fraction * k.compute_efficiency
    if hw.sms == 0:
        return rate
    return rate * min(1.0, work_tiles / hw.sms)


def _format_fraction(fmt: QuantFormat, hw: Hardware, cal: Calibration, quantized: bool) -> float:
    """Share of the tensor-core rate a format's GEMM kernels keep (dequantization, scales)."""
    if not quantized:
        return 1.0
    if fmt.compute_dtype == "bf16" or not hw.gpu.supports(fmt.compute_dtype):
        return cal.quant.weight_only_compute_fraction  # dequantize to bf16 in registers
    if fmt.block_2d:
        return cal.quant.block_scale_compute_fraction
    return 1.0


def _dtype(fmt: QuantFormat, hw: Hardware, quantized: bool) -> str:
    """The tensor-core dtype a GEMM runs in: the format's where the GPU has it, else bf16."""
    if quantized and hw.gpu.supports(fmt.compute_dtype):
        return fmt.compute_dtype
    return "bf16"


def _padded_rows(m: float) -> float:
    """Rows a GEMM kernel computes for ``m`` tokens: whole 128-row tiles, or for fewer rows the
    next power of two from 16 (small-batch kernels such as Marlin's or cuBLAS's use such tiles)."""
    if m >= TILE:
        return math.ceil(m / TILE) * TILE
    return float(max(MIN_ROW_TILE, 2 ** math.ceil(math.log2(max(m, 1.0)))))


def gemm_time(
    m: float,
    gemm: Gemm,
    hw: Hardware,
    k: KernelCosts,
    *,
    dtype: str = "bf16",
    fraction: float = 1.0,
    groups: float = 1.0,
    nbytes: float | None = None,
) -> tuple[float, float, float]:
    """(fixed, memory, compute) seconds of one GEMM launch with ``m`` tokens per group, over
    ``groups`` groups (routed experts) of ``gemm``'s shape; the launch takes
    ``fixed + max(memory, compute)``. Rows and columns are padded to whole tiles."""
    if m <= 0 or groups <= 0:
        return 0.0, 0.0, 0.0
    stream = stream_bytes_per_s(hw, k)
    weights = groups * gemm.nbytes if nbytes is None else nbytes
    acts = groups * m * (gemm.k + gemm.n) * ACT_BYTES
    memory = weights / (stream * k.gemm_bw_fraction) + acts / stream
    rows = _padded_rows(m) if hw.sms else m
    cols = math.ceil(gemm.n / TILE) * TILE if hw.sms else gemm.n
    tiles = groups * (rows / min(rows, TILE)) * (cols / TILE)  # CTAs, one output tile each
    split = 1.0
    if hw.sms and tiles < hw.sms:  # split K over the idle SMs (cuBLAS/CUTLASS split-K)
        split = max(1.0, min(hw.sms // tiles, gemm.k // SPLIT_K_MIN))
    flops = 2 * groups * rows * cols * gemm.k
    compute = flops / (tensor_rate(hw, k, tiles * split, dtype) * fraction)
    return k.gemm_fixed_s, memory, compute


def _dense_gemms(
    costs: ModelCosts,
    tokens: float,
    head_rows: float,
    fmt: QuantFormat,
    hw: Hardware,
    k: KernelCosts,
    cal: Calibration,
    parts: _Parts,
) -> None:
    for g in costs.dense:
        fixed, mem, cmp = gemm_time(
            tokens,
            g,
            hw,
            k,
            dtype=_dtype(fmt, hw, g.quantized),
            fraction=_format_fraction(fmt, hw, cal, g.quantized),
        )
        parts.add_bound(g.count * fixed, g.count * mem, g.count * cmp)
    head = costs.head
    fixed, mem, cmp = gemm_time(
        head_rows,
        head,
        hw,
        k,
        dtype=_dtype(fmt, hw, head.quantized),
        fraction=_format_fraction(fmt, hw, cal, head.quantized),
    )
    parts.add_bound(fixed, mem, cmp)


def _gpu_share(m: float, gemm: Gemm, hw: Hardware) -> float:
    """Share of the SMs one expert's tiles occupy: an expert group as wide as the GPU exposes its
    whole ramp-up and tail, smaller groups run side by side and overlap theirs."""
    if hw.sms == 0:
        return 1.0
    tiles = math.ceil(m / TILE) * math.ceil(gemm.n / TILE)
    return min(1.0, tiles / hw.sms)


def experts_time(
    spec: ModelSpec,
    costs: ModelCosts,
    tokens: float,
    fmt: QuantFormat,
    hw: Hardware,
    k: KernelCosts,
    cal: Calibration,
) -> _Parts:
    """Router and routed-expert GEMMs of a step of ``tokens`` tokens: each MoE layer runs one
    grouped GEMM per projection over the experts its tokens touch."""
    parts = _Parts()
    if not costs.moe_layers or tokens <= 0:
        return parts
    for router in costs.routers:
        fixed, mem, cmp = gemm_time(tokens, router, hw, k)
        parts.add_bound(router.count * fixed, router.count * mem, router.count * cmp)
    top_k = spec.num_experts_per_tok
    touched = experts_touched(tokens, spec.num_experts, top_k)
    per_expert = tokens * top_k / max(touched, 1e-9)
    for g in costs.experts:
        fixed, mem, cmp = gemm_time(
            per_expert,
            g,
            hw,
            k,
            dtype=_dtype(fmt, hw, g.quantized),
            fraction=_format_fraction(fmt, hw, cal, g.quantized),
            groups=touched,
        )
        fixed += touched * k.expert_fixed_s * _gpu_share(per_expert, g, hw)
        parts.add_bound(g.count * fixed, g.count * mem, g.count * cmp)
    return parts


def _kv_splits(work: float, tokens: int, hw: Hardware) -> int:
    """Splits of each (sequence, head) a split-KV decode kernel adds to fill the SMs
    (FlashAttention's num_splits_heuristic: none once the work items nearly fill the GPU)."""
    sms = hw.sms or 1
    if work >= 0.8 * sms:
        return 1
    return max(1, min(math.ceil(sms / work), math.ceil(tokens / KV_SPLIT_BLOCK), KV_SPLIT_MAX))


def attention_time(
    spec: ModelSpec,
    step: Step,
    hw: Hardware,
    kv_bits: float,
    k: KernelCosts,
    fw: FrameworkCosts,
) -> _Parts:
    """KV streaming and attention compute of the step on one GPU (see the module docstring)."""
    parts = _Parts()
    stream = stream_bytes_per_s(hw, k)
    peak = hw.flops("bf16") * k.attn_flops_fraction
    groups = dict(attention_groups(spec, hw.tp))
    layout = kv_layout(spec, hw.tp)
    kv_heads, q_per_kv = attention_shape(spec, hw.tp)
    q_tiles = math.ceil(q_per_kv / ATTN_Q_TILE)
    launches = 0.0
    if step.decode_seqs:
        # decode: one query row per head; the tile of ATTN_Q_TILE rows is only this full
        rate = peak * min(1.0, q_per_kv / ATTN_Q_TILE)
        for window, ratio, elements in layout.groups:
            tokens = (step.context if window is None else min(step.context, window)) // ratio
            work = step.decode_seqs * kv_heads * q_tiles
            splits = _kv_splits(work, tokens, hw) if fw.split_kv else 1
            bw = min(k.kv_bw_fraction * stream, work * splits * k.kv_cta_bytes_per_s)
            nbytes = step.decode_seqs * elements * tokens * kv_bits / 8
            if ratio > 1:  # compressed entries (DeepSeek-V4): their bytes, read by the layers'
                parts.add_bound(0.0, nbytes / bw, 0.0, kv=True)  # own kernels (counted below)
                continue
            flops = step.decode_seqs * groups.get(window, 0.0) * tokens
            parts.add_bound(0.0, nbytes / bw, flops / rate, kv=True)
            # one kernel per layer, and a combine kernel after a split-KV one
            launches += _layers_by_window(spec)[window] * (1 if splits == 1 else 2)
        state = 2 * step.decode_seqs * layout.state_elements * ACT_BYTES  # read + write
        parts.kv += state / stream
    if step.prefill_tokens:
        for window, per_pair in groups.items():
            flops = (
                step.prefill_seqs
                * per_pair
                * _pairs(step.prefill_offset, step.prefill_tokens, window)
            )
            parts.add_bound(0.0, 0.0, flops / peak)
    state_layers = spec.num_hidden_layers - spec.attention_layers if layout.state_elements else 0
    parts.kernels += (launches + state_layers) * k.kernel_fixed_s
    if step.prefill_tokens and not step.decode_seqs:
        parts.kernels += spec.attention_layers * k.kernel_fixed_s
    return parts


@lru_cache(maxsize=512)
def _layers_by_window(spec: ModelSpec) -> dict[int | None, int]:
    """Attention layers per window (None: global)."""
    counts: dict[int | None, int] = {}
    for layer in spec.cache_layers:
        if layer.kind != "state":
            counts[layer.window_tokens] = counts.get(layer.window_tokens, 0) + 1
    return counts


def _pairs_upto(n: int, window: int | None) -> float:
    """Query-key pairs of the first ``n`` causal queries when each sees at most ``window`` keys."""
    if window is None or n <= window:
        return n * (n + 1) / 2
    return window * (window + 1) / 2 + (n - window) * window


def _pairs(offset: int, tokens: int, window: int | None) -> float:
    """Query-key pairs of ``tokens`` causal queries at positions ``offset+1 .. offset+tokens``."""
    return _pairs_upto(offset + tokens, window) - _pairs_upto(offset, window)


def causal_pairs(offset: int, tokens: int, window: int | None) -> float:
    """Query-key pairs of a prefill chunk of ``tokens`` causal queries after ``offset`` tokens
    of its prompt, each query seeing at most ``window`` keys (None: all)."""
    return _pairs(offset, tokens, window)


def lm_head_seconds(
    spec: ModelSpec, fmt: QuantFormat, hw: Hardware, rows: int, *, framework: str, cal: Calibration
) -> float:
    """The seconds the LM head GEMM adds to a step that computes logits for ``rows`` tokens
    (its decodes and the prompts whose last chunk it runs), as :func:`step_time` counts it, so
    the simulator can price a step's logits by the rows it actually needs."""
    if rows <= 0:
        return 0.0
    head = model_costs(spec, fmt, hw.tp).head
    fw = cal.framework(framework)
    fixed, memory, compute = gemm_time(
        rows,
        head,
        hw,
        cal.kernels_for(hw.gpu.id),
        dtype=_dtype(fmt, hw, head.quantized),
        fraction=_format_fraction(fmt, hw, cal, head.quantized),
    )
    if compute <= memory:
        return fixed + memory
    return fixed + (compute / fw.compute_fraction if fw.compute_fraction < 1.0 else compute)


def prefill_pair_seconds(
    spec: ModelSpec, hw: Hardware, cal: Calibration, framework: str
) -> tuple[tuple[int | None, float], ...]:
    """Per window (None: global), the seconds one query-key pair of prefill attention adds to
    a step on one GPU: the compute term of :func:`attention_time` (its FLOPs at
    ``attn_flops_fraction`` of the bf16 peak), slowed as :func:`step_time` slows compute for a
    framework whose kernels are slower. ``sum(s * causal_pairs(o, t, w))`` over the windows is
    a chunk's prefill attention time, so the simulator can price each sequence's chunk at its
    own offset."""
    k = cal.kernels_for(hw.gpu.id)
    fw = cal.framework(framework)
    peak = hw.flops("bf16") * k.attn_flops_fraction
    slower = fw.compute_fraction if fw.compute_fraction < 1.0 else 1.0
    return tuple((w, per_pair / (peak * slower)) for w, per_pair in attention_groups(spec, hw.tp))


def _activation_elements(spec: ModelSpec, tp: int) -> float:
    """Activation elements the small kernels of one layer read and write per token, per GPU:
    two fused add + RMSNorm (read x and the residual, write both: 4 x hidden each), rotary on
    Q and K, the KV-cache write, and SiLU-and-mul (read 2 x inner, write inner)."""
    kv_heads, q_per_kv = attention_shape(spec, tp)
    qk = (q_per_kv + 1) * kv_heads * spec.head_dim
    kv = 2 * kv_heads * spec.head_dim
    return 8 * spec.hidden_size + 2 * qk + 2 * kv + 3 * spec.active_inner_width / tp


def _small_kernels(
    spec: ModelSpec,
    costs: ModelCosts,
    tokens: float,
    fmt: QuantFormat,
    hw: Hardware,
    k: KernelCosts,
    fw: FrameworkCosts,
) -> tuple[float, float]:
    """(fixed, activation streaming) seconds of the step's small kernels on one GPU."""
    count = STEP_KERNELS + spec.num_hidden_layers * fw.layer_kernels
    count += costs.moe_layers * fw.moe_kernels
    if hw.gpu.supports(fmt.compute_dtype) and fmt.compute_dtype != "bf16":
        # W8A8 / W4A4: each quantized GEMM's input is quantized first
        count += sum(g.count for g in costs.dense + costs.experts if g.quantized)
    stream = stream_bytes_per_s(hw, k)
    acts = tokens * spec.num_hidden_layers * _activation_elements(spec, hw.tp) * ACT_BYTES
    return count * k.kernel_fixed_s, (acts + costs.small_bytes) / stream


def _allreduce_s(tokens: int, spec: ModelSpec, hw: Hardware, cal: Calibration) -> float:
    if hw.tp == 1 or tokens == 0:
        return 0.0
    ic = cal.interconnect
    link = hw.gpu.interconnect_bytes_per_s if hw.nvlink else hw.gpu.pcie_bytes_per_s
    latency = ic.allreduce_latency_nvlink_s if hw.nvlink else ic.allreduce_latency_pcie_s
    payload = tokens * spec.hidden_size * ACT_BYTES * 2 * (hw.tp - 1) / hw.tp
    one = latency + payload / (link / 2 * ic.link_bw_fraction)
    return 2 * spec.num_hidden_layers * one


def step_time(
    spec: ModelSpec,
    fmt: QuantFormat,
    hw: Hardware,
    step: Step,
    *,
    kv_bits: float,
    framework: str,
    cal: Calibration,
) -> StepTime:
    """Wall time of one step of ``step`` on a replica (see the module docstring)."""
    costs = model_costs(spec, fmt, hw.tp)
    k = cal.kernels_for(hw.gpu.id)
    fw = cal.framework(framework)
    if fw.split_mixed_steps and step.decode_seqs and step.prefill_tokens:
        # the decodes run as a ubatch of their own, then the prompt tokens (one scheduler pass)
        parts_of = [
            step_time(spec, fmt, hw, s, kv_bits=kv_bits, framework=framework, cal=cal)
            for s in (replace(step, prefill_tokens=0), replace(step, decode_seqs=0))
        ]
        d, p = parts_of
        compute = d.compute_s + p.compute_s
        memory = d.weights_s + d.kv_s + d.activations_s + p.weights_s + p.kv_s + p.activations_s
        return StepTime(
            total_s=d.total_s + p.total_s - fw.step_overhead_s,
            weights_s=d.weights_s + p.weights_s,
            compute_s=compute,
            kv_s=d.kv_s + p.kv_s,
            comm_s=d.comm_s + p.comm_s,
            overhead_s=d.overhead_s + p.overhead_s - fw.step_overhead_s,
            bound="compute" if compute > memory else "memory",
            kernels_s=d.kernels_s + p.kernels_s,
            activations_s=d.activations_s + p.activations_s,
        )
    prefill = step.prefill_seqs * step.prefill_tokens
    tokens = step.decode_seqs + prefill
    head_rows = step.decode_seqs + (step.prefill_seqs if prefill and step.prefill_last_chunk else 0)
    parts = _Parts()
    if tokens:
        _dense_gemms(costs, tokens, head_rows, fmt, hw, k, cal, parts)
    moe = experts_time(spec, costs, tokens, fmt, hw, k, cal)
    attn = attention_time(spec, step, hw, kv_bits, k, fw)
    fixed, acts = _small_kernels(spec, costs, tokens, fmt, hw, k, fw) if tokens else (0.0, 0.0)
    for other in (moe, attn):
        parts.weights += other.weights
        parts.compute += other.compute
        parts.kv += other.kv
        parts.kernels += other.kernels
    parts.kernels += fixed
    parts.activations += acts
    if fw.compute_fraction < 1.0:  # a framework whose kernels are slower than the model's
        parts.compute /= fw.compute_fraction
    comm_s = _allreduce_s(tokens, spec, hw, cal) + (hw.pp - 1) * cal.interconnect.p2p_latency_s
    gpu_s = parts.total + comm_s
    cpu_s = fw.step_overhead_s
    if step.decode_seqs:
        cpu_s += fw.decode_overhead_s + step.decode_seqs * fw.sequence_overhead_s
    if fw.cuda_graphs:
        total = gpu_s + cpu_s
    else:
        total = max(gpu_s, spec.num_hidden_layers * fw.per_layer_overhead_s) + cpu_s
    memory_s = parts.weights + parts.kv + parts.activations
    return StepTime(
        total_s=total,
        weights_s=parts.weights,
        compute_s=parts.compute,
        kv_s=parts.kv,
        comm_s=comm_s,
        overhead_s=total - gpu_s,
        bound="compute" if parts.compute > memory_s else "memory",
        kernels_s=parts.kernels,
        activations_s=parts.activations,
    )
