"""Tensor inventories of the building blocks decoder layers are made of.

Each function returns the tensors one block stores, in ``(out_features, in_features)`` order,
matching the modules Hugging Face transformers instantiates for that block. Biases are separate
``bias`` tensors so quantization formats (which keep biases in 16-bit) can tell them apart.
"""

from __future__ import annotations

from typing import Literal

from canserve.arch.spec import Tensor

__all__ = [
    "QKNorm",
    "gated_deltanet",
    "gated_mlp",
    "gqa_attention",
    "linear",
    "mamba2_mixer",
    "mla_attention",
    "norms",
    "plain_mlp",
    "routed_experts",
]

QKNorm = Literal["none", "per_head", "full"]


def linear(kind: str, layer: int, out_f: int, in_f: int, bias: bool = False) -> list[Tensor]:
    """An ``nn.Linear``: weight ``(out, in)`` and an optional bias ``(out,)``."""
    tensors = [Tensor(kind, layer, (out_f, in_f))]
    if bias:
        tensors.append(Tensor("bias", layer, (out_f,)))
    return tensors


def norms(layer: int | None, width: int, count: int, with_bias: bool = False) -> list[Tensor]:
    """``count`` RMSNorm/LayerNorm weights of ``width`` (LayerNorm also has a bias)."""
    per = 2 if with_bias else 1
    return [Tensor("norm", layer, (width,), copies=count * per)]


def gqa_attention(
    layer: int,
    hidden: int,
    heads: int,
    kv_heads: int,
    head_dim: int,
    *,
    qkv_bias: bool = False,
    o_bias: bool = False,
    qk_norm: QKNorm = "none",
    gated_q: bool = False,
    sinks: bool = False,
    has_v: bool = True,
) -> list[Tensor]:
    """Multi-head / grouped-query / multi-query attention projections.

    ``gated_q``: the query projection also emits an output gate (Qwen3-Next), doubling its rows.
    ``qk_norm``: RMSNorm on q and k, per head (Qwen3, Gemma 3) or over the whole projection
    (OLMo 2).
    ``sinks``: one learned attention-sink logit per head (gpt-oss).
    ``has_v=False``: values are computed from the key projection (Gemma 4 ``attention_k_eq_v``).
    """
    q_rows = heads * head_dim * (2 if gated_q else 1)
    kv_rows = kv_heads * head_dim
    tensors = [
        *linear("attn_q", layer, q_rows, hidden, qkv_bias),
        *linear("attn_k", layer, kv_rows, hidden, qkv_bias),
        *(linear("attn_v", layer, kv_rows, hidden, qkv_bias) if has_v else []),
        *linear("attn_o", layer, hidden, heads * head_dim, o_bias),
    ]
    if qk_norm == "per_head":
        tensors += norms(layer, head_dim, 2)
    elif qk_norm == "full":
        tensors += norms(layer, heads * head_dim, 1) + norms(layer, kv_rows, 1)
    if sinks:
        tensors.append(Tensor("sink", layer, (heads,)))
    return tensors


def mla_attention(
    layer: int,
    hidden: int,
    heads: int,
    *,
    q_lora_rank: int | None,
    kv_lora_rank: int,
    qk_nope_head_dim: int,
    qk_rope_head_dim: int,
    v_head_dim: int,
    bias: bool = False,
) -> list[Tensor]:
    """DeepSeek multi-head latent attention (arXiv:2405.04434, section 2.1)."""
    qk_head_dim = qk_nope_head_dim + qk_rope_head_dim
    if q_lora_rank is None:
        tensors = linear("attn_q", layer, heads * qk_head_dim, hidden)
    else:
        tensors = [
            *linear("attn_q_a", layer, q_lora_rank, hidden, bias),
            *norms(layer, q_lora_rank, 1),
            *linear("attn_q_b", layer, heads * qk_head_dim, q_lora_rank),
        ]
    return [
        *tensors,
        *linear("attn_kv_a", layer, kv_lora_rank + qk_rope_head_dim, hidden, bias),
        *norms(layer, kv_lora_rank, 1),
        *linear("attn_kv_b", layer, heads * (qk_nope_head_dim + v_head_dim), kv_lora_rank),
        *linear("attn_o", layer, hidden, heads * v_head_dim, bias),
    ]


def gated_mlp(
    layer: int, hidden: int, inner: int, bias: bool = False, prefix: str = "mlp"
) -> list[Tensor]:
    """SwiGLU/GeGLU MLP: gate and up ``(inner, hidden)``, down ``(hidden, inner)``."""
    return [
        *linear(f"{prefix}_gate", layer, inner, hidden, bias),
        *linear(f"{prefix}_up", layer, inner, hidden, bias),
        *linear(f"{prefix}_down", layer, hidden, inner, bias),
    ]


def plain_mlp(layer: int, hidden: int, inner: int, bias: bool = False) -> list[Tensor]:
    """Two-matrix MLP (GELU in Falcon, squared ReLU in Nemotron-H)."""
    return [
        *linear("mlp_up", layer, inner, hidden, bias),
        *linear("mlp_down", layer, hidden, inner, bias),
    ]


def routed_experts(
    layer: int,
    hidden: int,
    inner: int,
    experts: int,
    *,
    expert_bias: bool = False,
    router_bias: bool = False,
) -> list[Tensor]:
    """``experts`` gated MLPs picked by a linear router ``(experts, hidden)``.

    DeepSeek-V3's load-balancing ``e_score_correction_bias`` (one fp32 per expert) is a buffer in
    transformers, not a parameter, and is not listed (256 values a layer).
    """
    tensors = [
        Tensor("router", layer, (experts, hidden)),
        Tensor("expert_gate", layer, (inner, hidden), copies=experts),
        Tensor("expert_up", layer, (inner, hidden), copies=experts),
        Tensor("expert_down", layer, (hidden, inner), copies=experts),
    ]
    if expert_bias:
        tensors.append(Tensor("expert_bias", layer, (2 * inner + hidden,), copies=experts))
    if router_bias:
        tensors.append(Tensor("bias", layer, (experts,)))
    return tensors


def mamba2_mixer(
    layer: int,
    hidden: int,
    *,
    heads: int,
    head_dim: int,
    state_size: int,
    groups: int,
    conv_kernel: int,
    proj_bias: bool,
    conv_bias: bool,
) -> tuple[list[Tensor], int]:
    """A Mamba-2 mixer (arXiv:2405.21060) and its per-sequence state in elements.

    State = conv window ``conv_dim * (conv_kernel - 1)`` + SSM state ``heads * head_dim *
    state_size``, as vLLM's MambaStateShapeCalculator sizes it.
    """
    inner = heads * head_dim
    conv_dim = inner + 2 * groups * state_size
    tensors = [
        *linear("ssm_in", layer, 2 * inner + 2 * groups * state_size + heads, hidden, proj_bias),
        Tensor("conv", layer, (conv_dim, 1, conv_kernel)),
        Tensor("ssm_param", layer, (heads,), copies=3),  # dt_bias, A_log, D
        *norms(layer, inner, 1),
        *linear("ssm_out", layer, hidden, inner, proj_bias),
    ]
    if conv_bias:
        tensors.append(Tensor("bias", layer, (conv_dim,)))
    state = conv_dim * (conv_kernel - 1) + heads * head_dim * state_size
    return tensors, state


def gated_deltanet(
    layer: int,
    hidden: int,
    *,
    key_heads: int,
    value_heads: int,
    key_head_dim: int,
    value_head_dim: int,
    conv_kernel: int,
) -> tuple[list[Tensor], int]:
    """Qwen3-Next's Gated DeltaNet linear attention and its per-sequence state in elements.

    State = conv window ``(2 * key_dim + value_dim) * (conv_kernel - 1)`` + recurrent state
    ``value_heads * key_head_dim * value_head_dim``.
    """
    key_dim = key_heads * key_head_dim
    value_dim = value_heads * value_head_dim
    conv_dim = 2 * key_dim + value_dim
    tensors = [
        *linear("ssm_in", layer, 2 * key_dim + 2 * value_dim, hidden),  # in_proj_qkvz
        *linear("ssm_in", layer, 2 * value_heads, hidden),  # in_proj_ba
        Tensor("conv", layer, (conv_dim, 1, conv_kernel)),
        Tensor("ssm_param", layer, (value_heads,), copies=2),  # dt_bias, A_log
        *norms(layer, value_head_dim, 1),
        *linear("ssm_out", layer, hidden, value_dim),
    ]
    state = conv_dim * (conv_kernel - 1) + value_heads * key_head_dim * value_head_dim
    return tensors, state
