"""Time of one engine step on one replica: decode tokens and/or a prefill chunk.

Per GPU of the tensor-parallel group, summed over the layers (pipeline stages run one after
the other for a micro-batch):

* each GEMM group takes ``max(bytes / (eta_w * HBM), flops / (eta_f * peak * m' / (m' + m_half)) /
  eta_c)`` with ``m' = max(m, m_half)``: weight streaming while the tokens per GEMM ``m`` are
  few, compute once they are many;
* attention streams each sequence's KV cache at ``eta_kv * HBM * n / (n + n_half)`` (``n`` =
  sequences x KV heads on the GPU: a few long sequences cannot fill the GPU) or computes, whichever
  is slower; a prefill chunk's causal attention is compute;
* tensor parallelism adds two all-reduces of ``tokens x hidden`` bf16 per layer, pipeline
  parallelism one activation hop per stage boundary;
* a fixed cost per step, and per framework a scheduler cost per step (and per decode step), and
  for eager frameworks a CPU launch floor per layer.

The efficiencies ``eta_*`` are measured fractions of the datasheet (``calibration.toml``).
"""

from __future__ import annotations

from dataclasses import dataclass

from canserve.arch.spec import ModelSpec
from canserve.catalog.gpus import GPU
from canserve.catalog.quant import QuantFormat
from canserve.kv import kv_layout
from canserve.perf.calibration import Calibration
from canserve.perf.costs import attention_groups, experts_touched, model_costs

__all__ = ["Step", "StepTime", "step_time"]

ACT_BYTES = 2  # bf16 activations on the wire (all-reduce payloads)


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
    kv_s: float  # attention KV streaming time
    comm_s: float  # tensor/pipeline-parallel communication
    overhead_s: float  # fixed step, scheduler and launch costs
    bound: str  # "memory" or "compute"


@dataclass(frozen=True)
class Hardware:
    """A GPU type as the step model needs it, for one tp x pp replica."""

    gpu: GPU
    tp: int
    pp: int

    def flops(self, dtype: str) -> float:
        peaks = self.gpu.peak_flops
        return peaks.get(dtype) or peaks.get("bf16") or peaks["fp16"]

    @property
    def nvlink(self) -> bool:
        return self.gpu.interconnect_bytes_per_s > 0


def _gemm(
    nbytes: float, flops: float, m: float, hw: Hardware, dtype: str, cal: Calibration
) -> tuple[float, float]:
    """(time, compute part of the time) of a GEMM group with ``m`` tokens per GEMM."""
    k = cal.kernels_for(hw.gpu.id)
    mem_s = nbytes / (k.weight_bw_fraction * hw.gpu.hbm_bytes_per_s)
    if m <= 0:
        return mem_s, 0.0
    # GEMMs lose efficiency as tokens per GEMM shrink (tiles and waves half empty): the rate falls
    # as m / (m + m_half) down to m = m_half, and stays at half the large-GEMM rate below that.
    m_eff = max(m, k.gemm_m_half)
    rate = hw.flops(dtype) * k.gemm_flops_fraction * m_eff / (m_eff + k.gemm_m_half)
    cmp_s = flops / rate / k.compute_efficiency
    return max(mem_s, cmp_s), cmp_s if cmp_s > mem_s else 0.0


def _attention(
    spec: ModelSpec, step: Step, hw: Hardware, kv_bits: float, cal: Calibration
) -> tuple[float, float]:
    """(KV streaming time, attention compute time) of the step on one GPU."""
    k = cal.kernels_for(hw.gpu.id)
    groups = attention_groups(spec, hw.tp)
    kv_s = cmp_s = 0.0
    if step.decode_seqs:
        layout = kv_layout(spec, hw.tp)
        kv_bytes = step.decode_seqs * layout.elements_per_sequence(step.context) * kv_bits / 8
        state_bytes = 2 * step.decode_seqs * layout.state_elements * 2  # read + write, 16-bit
        heads = 8 if layout.mla else max(1, spec.num_key_value_heads // hw.tp)
        n = step.decode_seqs * heads
        bw = k.kv_bw_fraction * hw.gpu.hbm_bytes_per_s * n / (n + k.kv_parallel_half)
        kv_s = (kv_bytes + state_bytes) / bw
        flops = step.decode_seqs * _attended(groups, step.context, 1)
        cmp_s = flops / (hw.flops("bf16") * k.gemm_flops_fraction)
    if step.prefill_tokens:
        flops = step.prefill_seqs * _attended(groups, step.prefill_offset, step.prefill_tokens)
        cmp_s += flops / (hw.flops("bf16") * k.gemm_flops_fraction) / k.compute_efficiency
    return kv_s, cmp_s


def _pairs_upto(n: int, window: int | None) -> float:
    """Query-key pairs of the first ``n`` causal queries when each sees at most ``window`` keys."""
    if window is None or n <= window:
        return n * (n + 1) / 2
    return window * (window + 1) / 2 + (n - window) * window


def _attended(groups: tuple[tuple[int | None, float], ...], offset: int, tokens: int) -> float:
    """Attention FLOPs for ``tokens`` causal queries at positions ``offset+1 .. offset+tokens``."""
    return sum(
        per * (_pairs_upto(offset + tokens, w) - _pairs_upto(offset, w)) for w, per in groups
    )


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
    prefill = step.prefill_seqs * step.prefill_tokens
    tokens = step.decode_seqs + prefill
    head_rows = step.decode_seqs + (step.prefill_seqs if prefill and step.prefill_last_chunk else 0)
    dtype = fmt.compute_dtype
    dense_s, dense_c = _gemm(
        costs.dense_bytes, 2 * tokens * costs.dense_params, tokens, hw, dtype, cal
    )
    head_s, head_c = _gemm(
        costs.head_bytes, 2 * head_rows * costs.head_params, head_rows, hw, "bf16", cal
    )
    expert_s = expert_c = 0.0
    if costs.moe_layers:
        touched = experts_touched(tokens, spec.num_experts, spec.num_experts_per_tok)
        per_expert_tokens = tokens * spec.num_experts_per_tok / max(touched, 1e-9)
        expert_s, expert_c = _gemm(
            touched * costs.expert_bytes,
            2 * tokens * spec.num_experts_per_tok * costs.expert_params,
            per_expert_tokens,
            hw,
            dtype,
            cal,
        )
    kv_s, attn_c = _attention(spec, step, hw, kv_bits, cal)
    comm_s = _allreduce_s(tokens, spec, hw, cal) + (hw.pp - 1) * cal.interconnect.p2p_latency_s
    gemm_s = dense_s + head_s + expert_s
    compute_s = dense_c + head_c + expert_c + attn_c
    gpu_s = gemm_s + kv_s + attn_c + comm_s + cal.kernels_for(hw.gpu.id).step_overhead_s
    fw = cal.framework(framework)
    cpu_s = fw.step_overhead_s + (fw.decode_overhead_s if step.decode_seqs else 0.0)
    if fw.cuda_graphs:
        total = gpu_s + cpu_s
    else:
        total = max(gpu_s, spec.num_hidden_layers * fw.per_layer_overhead_s) + cpu_s
    memory_s = gemm_s - (dense_c + head_c + expert_c) + kv_s
    return StepTime(
        total_s=total,
        weights_s=gemm_s - (dense_c + head_c + expert_c),
        compute_s=compute_s,
        kv_s=kv_s,
        comm_s=comm_s,
        overhead_s=total - (gemm_s + kv_s + attn_c + comm_s),
        bound="compute" if compute_s > memory_s else "memory",
    )
