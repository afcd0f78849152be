"""The architecture families canserve knows: ``model_type`` -> builder.

Most families are the common vocabulary of :mod:`canserve.arch.generic` with a :class:`Style`
(what a family does differently from Llama). The few whose layers have a shape of their own
(Falcon's legacy keys, Llama 4, Gemma 4 here; Nemotron-H and DeepSeek-V4 in
:mod:`canserve.arch.hybrid`) have their own builder. Each follows the module structure of the
Hugging Face transformers implementation of that ``model_type`` (checked against transformers'
own parameter counts for every shipped config in ``tests/golden/param_counts.json``); defaults for
fields a config may omit are transformers' defaults for that config class.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from canserve.arch import blocks, generic, hybrid
from canserve.arch.common import Built, attention_dims, embeddings, experts_and_top_k, kv_cache
from canserve.arch.fields import Fields
from canserve.arch.generic import Names, Style
from canserve.arch.spec import Tensor
from canserve.errors import ConfigError

__all__ = ["FAMILIES"]


def _qwen_sliding(f: Fields, i: int) -> bool:
    """Qwen2/3: sliding window only with ``use_sliding_window``, from ``max_window_layers`` on."""
    return f.bool("use_sliding_window", False) and i >= f.int("max_window_layers", 0, minimum=0)


def _gemma_sliding(default_pattern: int) -> Callable[[Fields, int], bool]:
    """Gemma interleave: layer i slides unless (i + 1) is a multiple of the pattern."""

    def sliding(f: Fields, i: int) -> bool:
        pattern = f.pick("sliding_window_pattern", "_sliding_window_pattern")
        return (i + 1) % (f.int(pattern) if pattern else default_pattern) != 0

    return sliding


_MIXTRAL_NAMES = Names(moe="block_sparse_moe", expert_proj=("w1", "w3", "w2"))
_QWEN_NEXT_NAMES = Names(shared="mlp.shared_expert")
_QWEN3 = Style(mlp_bias=False, qk_norm="per_head", sliding=_qwen_sliding)
_QWEN3_NEXT = Style(
    mlp_bias=False, qk_norm="per_head", gated_q=True, shared_gate=True, names=_QWEN_NEXT_NAMES
)
_QWEN3_5 = Style(
    mlp_bias=False,
    qk_norm="per_head",
    gated_q=True,
    shared_gate=True,
    split_linear_proj=True,
    names=_QWEN_NEXT_NAMES,
)
_GEMMA2 = Style(tie_default=True, mlp_bias=False, norms_per_layer=4, sliding=_gemma_sliding(2))
_GEMMA3 = Style(
    tie_default=True,
    mlp_bias=False,
    norms_per_layer=4,
    qk_norm="per_head",
    sliding=_gemma_sliding(6),
)
_GPT_OSS = Style(
    qkv_bias=True,
    o_bias=True,
    sinks=True,
    expert_bias=True,
    router_bias=True,
    sliding=lambda f, i: i % 2 == 0,
    names=Names(router="router"),
)
_DEEPSEEK = Style(mlp_bias=False)  # MLA and the MoE layout come from the config's own fields

_STYLES: dict[str, Style] = {
    "llama": Style(),
    "mistral": Style(),
    "mixtral": Style(mlp_bias=False, context_default=4096 * 32, names=_MIXTRAL_NAMES),
    "qwen2": Style(qkv_bias=True, o_bias=False, mlp_bias=False, sliding=_qwen_sliding),
    "qwen3": _QWEN3,
    "qwen3_moe": _QWEN3,
    "qwen3_vl_text": _QWEN3,
    "qwen3_vl_moe_text": _QWEN3,
    "qwen3_next": _QWEN3_NEXT,
    "qwen3_5_text": _QWEN3_5,
    "qwen3_5_moe_text": _QWEN3_5,
    "olmo2": Style(mlp_bias=False, qk_norm="full"),
    "olmo3": Style(mlp_bias=False, qk_norm="full"),
    "exaone4": Style(mlp_bias=False, qk_norm="per_head"),
    "phi3": Style(qkv_bias=False, o_bias=False, mlp_bias=False),
    "cohere": Style(tie_default=True, mlp_bias=False, norms_per_layer=1),
    "gemma2": _GEMMA2,
    "gemma3_text": _GEMMA3,
    "gpt_oss": _GPT_OSS,
    "minimax_m2": Style(mlp_bias=False, names=_MIXTRAL_NAMES),
    "deepseek_v2": _DEEPSEEK,
    "deepseek_v3": _DEEPSEEK,
    "kimi_k2": _DEEPSEEK,
    "deepseek_v32": _DEEPSEEK,
    "glm_moe_dsa": _DEEPSEEK,
}


# ---------------------------------------------------------------- Falcon (RefinedWeb)


def _falcon(f: Fields) -> Built:
    """Falcon-40B/180B "new decoder architecture": fused QKV with grouped KV heads, parallel
    attention + MLP, two LayerNorms (with bias) per layer. Accepts the legacy RefinedWeb keys."""
    d = attention_dims(Fields({**f.raw, "head_dim": None}, f.source))
    layers = f.first_int(("num_hidden_layers", "n_layer"))
    kv_heads = f.first_int(("num_kv_heads", "n_head_kv"), 1)
    if d.heads % kv_heads:
        raise ConfigError(f"{f.source}: {d.heads} attention heads cannot share {kv_heads} KV heads")
    bias = f.bool("bias", False)
    new_arch = f.bool("new_decoder_architecture", f.str("model_type") == "RefinedWeb")
    inner = f.int("ffn_hidden_size", 4 * d.hidden)
    tensors, tied = embeddings(f, tie_default=True, names=("word_embeddings", "ln_f", "lm_head"))
    tensors.append(Tensor("norm", None, (d.hidden,), name="ln_f"))  # LayerNorm: a bias too
    caches = []
    for i in range(layers):
        tensors += blocks.gqa_attention(
            i, d.hidden, d.heads, kv_heads, d.head_dim, qkv_bias=bias, o_bias=bias
        )
        tensors += blocks.plain_mlp(i, d.hidden, inner, bias)
        tensors += blocks.norms(i, d.hidden, 2 if new_arch else 1, with_bias=True)
        caches.append(kv_cache(kv_heads, d.head_dim, None))
    notes = ["legacy RefinedWeb config read as Falcon (n_head -> num_attention_heads, ...)"]
    return Built(
        tensors,
        caches,
        tied,
        d.head_dim,
        kv_heads,
        inner,
        f.int("max_position_embeddings", 2048),
        notes=notes if "n_head" in f else [],
    )


# ---------------------------------------------------------------- Llama 4


def _llama4(f: Fields) -> Built:
    """Llama 4 text model: MoE every ``interleave_moe_layer_step`` layers (routed experts plus a
    shared expert), dense MLPs of ``intermediate_size_mlp`` elsewhere; RoPE layers use chunked
    local attention (``attention_chunk_size``), every 4th layer is global NoPE attention. Its
    ``use_qk_norm`` is a weightless L2 norm (no tensors)."""
    d, layers = attention_dims(f), f.int("num_hidden_layers")
    experts, _ = experts_and_top_k(f, "num_local_experts")
    inner, dense_inner = f.int("intermediate_size"), f.int("intermediate_size_mlp")
    step = f.int("interleave_moe_layer_step", 1)
    moe_layers = set(f.int_list("moe_layers") or range(step - 1, layers, step))
    chunk = f.opt_int("attention_chunk_size")
    interval = f.int("no_rope_layer_interval", 4)
    rope_layers = f.int_list("no_rope_layers", layers if "no_rope_layers" in f else None) or [
        int((i + 1) % interval != 0) for i in range(layers)
    ]
    tensors, tied = embeddings(f, tie_default=False)
    caches = []
    for i in range(layers):
        tensors += blocks.gqa_attention(i, d.hidden, d.heads, d.kv_heads, d.head_dim)
        if i in moe_layers:
            tensors += blocks.routed_experts(i, d.hidden, inner, experts, prefix="feed_forward")
            tensors += blocks.gated_mlp(
                i, d.hidden, inner, kind="shared", prefix="feed_forward.shared_expert"
            )
        else:
            tensors += blocks.gated_mlp(i, d.hidden, dense_inner, prefix="feed_forward")
        tensors += blocks.norms(i, d.hidden, 2)
        caches.append(kv_cache(d.kv_heads, d.head_dim, chunk if rope_layers[i] else None))
    return Built(
        tensors,
        caches,
        tied,
        d.head_dim,
        d.kv_heads,
        dense_inner,
        f.int("max_position_embeddings"),
        num_experts=experts,
        num_experts_per_tok=f.int("num_experts_per_tok"),
        moe_intermediate_size=inner,
        shared_expert_intermediate_size=inner,
        notes=["text model only; the vision encoder is not counted"],
    )


# ---------------------------------------------------------------- Gemma 4


def _gemma4(f: Fields) -> Built:
    """Gemma 4 text model: sliding layers (``head_dim``, ``num_key_value_heads``) interleaved
    with global layers (``global_head_dim``, ``num_global_key_value_heads``, values taken from
    the key projection when ``attention_k_eq_v``); with ``enable_moe_block`` every layer runs a
    dense MLP and routed experts side by side (router with a learned scale per input and expert).
    """
    d = attention_dims(f)
    global_kv = f.int("num_global_key_value_heads", d.kv_heads)
    global_dim = f.int("global_head_dim", d.head_dim)
    k_eq_v = f.bool("attention_k_eq_v", False)
    inner, moe = f.int("intermediate_size"), f.bool("enable_moe_block", False)
    experts, top_k = experts_and_top_k(f, "num_experts") if moe else (0, 0)
    moe_inner = f.int("moe_intermediate_size") if moe else 0
    if f.int("hidden_size_per_layer_input", 0, minimum=0) or f.int(
        "num_kv_shared_layers", 0, minimum=0
    ):
        raise ConfigError(
            f"{f.source}: Gemma 4 per-layer inputs / shared KV layers are not supported"
        )
    tensors, tied = embeddings(f, tie_default=True)
    caches = []
    types = generic.layer_types(f, f.int("num_hidden_layers"), _gemma_sliding(6))
    for i, kind in enumerate(types):
        window = f.int("sliding_window") if kind == generic.SLIDING else None
        kv, dim = (d.kv_heads, d.head_dim) if window else (global_kv, global_dim)
        tensors += blocks.gqa_attention(
            i, d.hidden, d.heads, kv, dim, qk_norm="per_head", has_v=bool(window) or not k_eq_v
        )
        tensors += blocks.gated_mlp(i, d.hidden, inner)
        tensors += blocks.norms(i, d.hidden, 4)
        if moe:
            tensors += blocks.routed_experts(
                i, d.hidden, moe_inner, experts, prefix="", router="router"
            )
            tensors += [Tensor("router", i, (d.hidden,)), Tensor("router", i, (experts,))]
            tensors += blocks.norms(i, d.hidden, 3)
        caches.append(kv_cache(kv, dim, window))
    return Built(
        tensors,
        caches,
        tied,
        d.head_dim,
        d.kv_heads,
        inner,
        f.int("max_position_embeddings"),
        num_experts=experts,
        num_experts_per_tok=top_k,
        moe_intermediate_size=moe_inner,
        notes=[
            "text model only; the vision encoder is not counted",
            "global layers cache K and V separately even when V is computed from K",
        ],
    )


FAMILIES: dict[str, Callable[[Fields], Built]] = {
    **{name: partial(generic.build, style=style) for name, style in _STYLES.items()},
    "falcon": _falcon,
    "RefinedWeb": _falcon,
    "RefinedWebModel": _falcon,
    "llama4_text": _llama4,
    "gemma4_text": _gemma4,
    "nemotron_h": hybrid.nemotron_h,
    "deepseek_v4": hybrid.deepseek_v4,
}
