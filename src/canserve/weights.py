"""Weight bytes of a model under a quantization format, whole and per GPU of a parallel group.

Exact per tensor: packed weights plus every scale, zero point and index the format stores (see
``catalog/data/quant_formats.toml``), and per GGUF tensor the GGML type llama.cpp picks
(:mod:`canserve.gguf_recipes`). Tensors a format leaves unquantized (embeddings, LM head, norms,
routers, biases) are counted at the format's ``unquantized_bits``. Sized in the format the
checkpoint ships in, tensors the checkpoint stores otherwise (a ModelOpt exclude list, a
mixed-precision checkpoint) take the format the checkpoint gives them.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from canserve.arch.spec import ModelSpec, Tensor
from canserve.catalog.quant import QuantFormat, get_quant
from canserve.errors import InvalidInputError
from canserve.gguf_recipes import gguf_tensor_bytes, gguf_tensor_type

__all__ = ["WeightsBreakdown", "tensor_bytes", "tp_share", "weights_breakdown"]

# Kinds vLLM keeps whole on every tensor-parallel rank (ReplicatedLinear or tiny tensors).
_REPLICATED_KINDS = {
    "norm",
    "router",
    "attn_q_a",
    "attn_kv_a",
    "attn_index",
    "sink",
    "shared_expert_gate",
}


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def _uniform_bytes(t: Tensor, fmt: QuantFormat, forced: bool = False) -> int:
    """One copy of ``t`` in a non-GGUF format; ``forced``: quantize it whatever its role (the
    checkpoint says it is stored so)."""
    if (t.role not in fmt.quantized_roles and not forced) or len(t.shape) != 2:
        return _ceil_div(t.numel // t.copies * fmt.unquantized_bits, 8)
    out_f, in_f = t.shape
    bits = out_f * in_f * fmt.weight_bits + fmt.tensor_scale_bits
    if fmt.group_size:
        bits += out_f * _ceil_div(in_f, fmt.group_size) * (fmt.scale_bits + fmt.zero_bits)
    bits += in_f * fmt.row_index_bits + out_f * fmt.channel_scale_bits
    if fmt.block_2d:
        bits += _ceil_div(out_f, fmt.block_2d) * _ceil_div(in_f, fmt.block_2d) * 32
    return _ceil_div(round(bits), 8)


def _file_bits_per_param(spec: ModelSpec) -> dict[str, float]:
    """Per tensor role, the bits per parameter the weights file stores (``gguf-file`` format)."""
    if not spec.file_bytes_by_role:
        raise InvalidInputError("the gguf-file format needs a model read from a GGUF file (--gguf)")
    numel = spec.params_by_role()
    return {
        role: 8 * nbytes / max(1, numel.get(role, 0)) for role, nbytes in spec.file_bytes_by_role
    }


def tensor_bytes(t: Tensor, fmt: QuantFormat, spec: ModelSpec) -> int:
    """Stored bytes of ``t`` (all its copies) under ``fmt``."""
    if fmt.kind == "file":
        bits = _file_bits_per_param(spec).get(t.role, 16.0)
        return round(t.numel * bits / 8)
    if fmt.kind == "gguf":
        ggml_type = gguf_tensor_type(fmt.id, fmt.gguf_base, t, spec)
        return gguf_tensor_bytes(ggml_type, t.numel)
    stored = spec.checkpoint_formats.get(t) if fmt.id == spec.checkpoint_quantization else None
    if stored is not None:
        return _uniform_bytes(t, get_quant(stored), forced=True) * t.copies
    return _uniform_bytes(t, fmt) * t.copies


def tp_share(t: Tensor, spec: ModelSpec, tp: int) -> float:
    """Fraction of ``t`` one of ``tp`` tensor-parallel ranks holds (vLLM's sharding)."""
    if tp == 1 or t.kind in _REPLICATED_KINDS or (t.role == "other" and t.kind != "conv"):
        return 1.0
    if t.kind in {"attn_k", "attn_v"} and spec.num_key_value_heads < tp:
        return 1.0 / spec.num_key_value_heads  # KV heads are replicated, one per rank
    return 1.0 / tp


@dataclass(frozen=True)
class WeightsBreakdown:
    """Weight bytes by tensor role (embed, lm_head, linear, expert, norm, router, other)."""

    total_bytes: int
    by_role_bytes: dict[str, int]
    per_gpu_bytes: int  # the most loaded GPU of a tp x pp group


def _stage_layers(layers: int, pp: int) -> list[range]:
    """Contiguous layer ranges per pipeline stage; earlier stages take the remainder."""
    base, extra = divmod(layers, pp)
    bounds, start = [], 0
    for stage in range(pp):
        size = base + (1 if stage < extra else 0)
        bounds.append(range(start, start + size))
        start += size
    return bounds


@lru_cache(maxsize=512)
def weights_breakdown(
    spec: ModelSpec, fmt: QuantFormat, tp: int = 1, pp: int = 1
) -> WeightsBreakdown:
    """Weight bytes of ``spec`` stored as ``fmt``, and on the busiest GPU of a tp x pp group.

    Pipeline stage 0 holds the input embedding, the last stage the final norm and LM head.
    """
    by_role: dict[str, int] = {}
    stage_bytes = [0.0] * pp
    stages = _stage_layers(spec.num_hidden_layers, pp)
    for t in spec.tensors:
        nbytes = tensor_bytes(t, fmt, spec)
        by_role[t.role] = by_role.get(t.role, 0) + nbytes
        if t.layer is None:
            stage = 0 if t.role == "embed" else pp - 1
        else:
            stage = next(s for s, r in enumerate(stages) if t.layer in r)
        stage_bytes[stage] += nbytes * tp_share(t, spec, tp)
    return WeightsBreakdown(
        total_bytes=sum(by_role.values()),
        by_role_bytes=by_role,
        per_gpu_bytes=int(max(stage_bytes)),
    )
