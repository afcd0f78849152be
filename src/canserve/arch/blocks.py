"""Tensor inventories of the building blocks decoder layers are made of.

Each function returns the tensors one block stores, in ``(out_features, in_features)`` order,
matching the modules Hugging Face transformers instantiates for that block, named as the
checkpoint names them inside the layer (``prefix`` is the block's module, e.g. ``self_attn``).
Biases are separate ``bias`` tensors so quantization formats (which keep biases in 16-bit) can tell
them apart.
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
GATED = ("gate_proj", "up_proj", "down_proj")  # SwiGLU module names (Llama, Qwen, DeepSeek)


def linear(
    kind: str, layer: int | None, out_f: int, in_f: int, bias: bool = False, name: str = ""
) -> list[Tensor]:
    """An ``nn.Linear``: weight ``(out, in)`` and an optional bias ``(out,)``."""
    tensors = [Tensor(kind, layer, (out_f, in_f), name=name)]
    if bias:
        tensors.append(Tensor("bias", layer, (out_f,), name=name))
    return tensors


def norms(
    layer: int | None, width: int, count: int, with_bias: bool = False, name: str = ""
) -> list[Tensor]:
    """``count`` RMSNorm/LayerNorm weights of ``width`` (LayerNorm also has a bias)."""
    per = 2 if with_bias else 1
    return [Tensor("norm", layer, (width,), copies=count * per, name=name)]


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
    prefix: str = "self_attn",
) -> list[Tensor]:
    """Multi-head / grouped-query / multi-query attention projections.

    ``gated_q``: the query projection also emits an output gate (Qwen3-Next, Qwen3.5), doubling
    its rows. ``qk_norm``: RMSNorm on q and k, per head (Qwen3, Gemma 3) or over the whole
    projection (OLMo 2, MiniMax-M2). ``sinks``: one learned attention-sink logit per head
    (gpt-oss). ``has_v=False``: values come from the key projection (Gemma 4 ``attention_k_eq_v``).
    """
    q_rows = heads * head_dim * (2 if gated_q else 1)
    kv_rows = kv_heads * head_dim
    tensors = [
        *linear("attn_q", layer, q_rows, hidden, qkv_bias, f"{prefix}.q_proj"),
        *linear("attn_k", layer, kv_rows, hidden, qkv_bias, f"{prefix}.k_proj"),
        *(linear("attn_v", layer, kv_rows, hidden, qkv_bias, f"{prefix}.v_proj") if has_v else []),
        *linear("attn_o", layer, hidden, heads * head_dim, o_bias, f"{prefix}.o_proj"),
    ]
    if qk_norm == "per_head":
        tensors += norms(layer, head_dim, 2, name=f"{prefix}.q_norm")
    elif qk_norm == "full":
        tensors += norms(layer, heads * head_dim, 1, name=f"{prefix}.q_norm")
        tensors += norms(layer, kv_rows, 1, name=f"{prefix}.k_norm")
    if sinks:
        tensors.append(Tensor("sink", layer, (heads,), name=f"{prefix}.sinks"))
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
    indexer: tuple[int, int] | None = None,
    prefix: str = "self_attn",
) -> list[Tensor]:
    """DeepSeek multi-head latent attention (arXiv:2405.04434, section 2.1).

    ``indexer``: ``(index_n_heads, index_head_dim)`` of DeepSeek sparse attention's lightning
    indexer (DeepSeek-V3.2, GLM-5): a query projection from the q latent, one shared key projection
    with a LayerNorm, and per-head weights (transformers ``DeepseekV32Indexer``).
    """
    qk_head_dim = qk_nope_head_dim + qk_rope_head_dim
    p = prefix
    if q_lora_rank is None:
        tensors = linear("attn_q", layer, heads * qk_head_dim, hidden, name=f"{p}.q_proj")
    else:
        tensors = [
            *linear("attn_q_a", layer, q_lora_rank, hidden, bias, f"{p}.q_a_proj"),
            *norms(layer, q_lora_rank, 1, name=f"{p}.q_a_layernorm"),
            *linear("attn_q_b", layer, heads * qk_head_dim, q_lora_rank, name=f"{p}.q_b_proj"),
        ]
    tensors += [
        *linear(
            "attn_kv_a",
            layer,
            kv_lora_rank + qk_rope_head_dim,
            hidden,
            bias,
            f"{p}.kv_a_proj_with_mqa",
        ),
        *norms(layer, kv_lora_rank, 1, name=f"{p}.kv_a_layernorm"),
        *linear(
            "attn_kv_b",
            layer,
            heads * (qk_nope_head_dim + v_head_dim),
            kv_lora_rank,
            name=f"{p}.kv_b_proj",
        ),
        *linear("attn_o", layer, hidden, heads * v_head_dim, bias, f"{p}.o_proj"),
    ]
    if indexer is not None:
        tensors += _lightning_indexer(
            layer, hidden, q_lora_rank or hidden, *indexer, f"{p}.indexer"
        )
    return tensors


def _lightning_indexer(
    layer: int, hidden: int, q_in: int, index_heads: int, index_dim: int, prefix: str
) -> list[Tensor]:
    return [
        *linear("attn_index", layer, index_heads * index_dim, q_in, name=f"{prefix}.wq_b"),
        *linear("attn_index", layer, index_dim, hidden, name=f"{prefix}.wk"),
        *norms(layer, index_dim, 1, with_bias=True, name=f"{prefix}.k_norm"),
        *linear("attn_index", layer, index_heads, hidden, name=f"{prefix}.weights_proj"),
    ]


def gated_mlp(
    layer: int,
    hidden: int,
    inner: int,
    bias: bool = False,
    kind: str = "mlp",
    prefix: str = "mlp",
    proj: tuple[str, str, str] = GATED,
) -> list[Tensor]:
    """SwiGLU/GeGLU MLP: gate and up ``(inner, hidden)``, down ``(hidden, inner)``.
    ``kind`` is ``mlp`` or ``shared`` (a shared expert)."""
    gate, up, down = proj
    return [
        *linear(f"{kind}_gate", layer, inner, hidden, bias, f"{prefix}.{gate}"),
        *linear(f"{kind}_up", layer, inner, hidden, bias, f"{prefix}.{up}"),
        *linear(f"{kind}_down", layer, hidden, inner, bias, f"{prefix}.{down}"),
    ]


def plain_mlp(
    layer: int, hidden: int, inner: int, bias: bool = False, kind: str = "mlp", prefix: str = "mlp"
) -> list[Tensor]:
    """Two-matrix MLP (GELU in Falcon, squared ReLU in Nemotron-H)."""
    return [
        *linear(f"{kind}_up", layer, inner, hidden, bias, f"{prefix}.up_proj"),
        *linear(f"{kind}_down", layer, hidden, inner, bias, f"{prefix}.down_proj"),
    ]


def routed_experts(
    layer: int,
    hidden: int,
    inner: int,
    experts: int,
    *,
    expert_bias: bool = False,
    router_bias: bool = False,
    gated: bool = True,
    width: int | None = None,
    prefix: str = "mlp",
    router: str = "gate",
    proj: tuple[str, str, str] = GATED,
) -> list[Tensor]:
    """``experts`` MLPs picked by a linear router ``(experts, hidden)``: gated (SwiGLU) or plain
    (Nemotron-H's squared ReLU); ``width`` is the experts' input width when it differs from the
    hidden size (Nemotron-3 Super's latent MoE).

    DeepSeek-V3's load-balancing ``e_score_correction_bias`` (one fp32 per expert) is a buffer in
    transformers, not a parameter, and is not listed (256 values a layer).
    """
    width = width or hidden
    gate, up, down = proj
    name = f"{prefix}.experts.*"
    tensors = [Tensor("router", layer, (experts, hidden), name=f"{prefix}.{router}")]
    if gated:
        tensors.append(Tensor("expert_gate", layer, (inner, width), experts, f"{name}.{gate}"))
    tensors += [
        Tensor("expert_up", layer, (inner, width), experts, f"{name}.{up}"),
        Tensor("expert_down", layer, (width, inner), experts, f"{name}.{down}"),
    ]
    if expert_bias:
        rows = (2 if gated else 1) * inner + width
        tensors.append(Tensor("expert_bias", layer, (rows,), experts, name))
    if router_bias:
        tensors.append(Tensor("bias", layer, (experts,), name=f"{prefix}.{router}"))
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
    prefix: str = "mixer",
) -> tuple[list[Tensor], int]:
    """A Mamba-2 mixer (arXiv:2405.21060) and its per-sequence state in elements.

    State = conv window ``conv_dim * (conv_kernel - 1)`` + SSM state ``heads * head_dim *
    state_size``, as vLLM's MambaStateShapeCalculator sizes it.
    """
    inner = heads * head_dim
    conv_dim = inner + 2 * groups * state_size
    in_rows = 2 * inner + 2 * groups * state_size + heads
    tensors = [
        *linear("ssm_in", layer, in_rows, hidden, proj_bias, f"{prefix}.in_proj"),
        Tensor("conv", layer, (conv_dim, 1, conv_kernel), name=f"{prefix}.conv1d"),
        Tensor("ssm_param", layer, (heads,), copies=3, name=prefix),  # dt_bias, A_log, D
        *norms(layer, inner, 1, name=f"{prefix}.norm"),
        *linear("ssm_out", layer, hidden, inner, proj_bias, f"{prefix}.out_proj"),
    ]
    if conv_bias:
        tensors.append(Tensor("bias", layer, (conv_dim,), name=f"{prefix}.conv1d"))
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
    split_proj: bool = False,
    prefix: str = "linear_attn",
) -> tuple[list[Tensor], int]:
    """Gated DeltaNet linear attention (Qwen3-Next, Qwen3.5) and its per-sequence state.

    The input projection is one ``in_proj_qkvz`` + ``in_proj_ba`` pair (Qwen3-Next) or, with
    ``split_proj``, ``in_proj_qkv`` / ``in_proj_z`` / ``in_proj_b`` / ``in_proj_a`` (Qwen3.5): the
    same elements. State = conv window ``(2 * key_dim + value_dim) * (conv_kernel - 1)`` +
    recurrent state ``value_heads * key_head_dim * value_head_dim``.
    """
    key_dim = key_heads * key_head_dim
    value_dim = value_heads * value_head_dim
    conv_dim = 2 * key_dim + value_dim
    p = prefix
    if split_proj:
        proj = [
            *linear("ssm_in", layer, conv_dim, hidden, name=f"{p}.in_proj_qkv"),
            *linear("ssm_in", layer, value_dim, hidden, name=f"{p}.in_proj_z"),
            *linear("ssm_in", layer, value_heads, hidden, name=f"{p}.in_proj_b"),
            *linear("ssm_in", layer, value_heads, hidden, name=f"{p}.in_proj_a"),
        ]
    else:
        proj = [
            *linear("ssm_in", layer, conv_dim + value_dim, hidden, name=f"{p}.in_proj_qkvz"),
            *linear("ssm_in", layer, 2 * value_heads, hidden, name=f"{p}.in_proj_ba"),
        ]
    tensors = [
        *proj,
        Tensor("conv", layer, (conv_dim, 1, conv_kernel), name=f"{p}.conv1d"),
        Tensor("ssm_param", layer, (value_heads,), copies=2, name=p),  # dt_bias, A_log
        *norms(layer, value_head_dim, 1, name=f"{p}.norm"),
        *linear("ssm_out", layer, hidden, value_dim, name=f"{p}.out_proj"),
    ]
    state = conv_dim * (conv_kernel - 1) + value_heads * key_head_dim * value_head_dim
    return tensors, state
