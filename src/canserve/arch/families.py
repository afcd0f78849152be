"""One function per architecture family: config fields -> tensors and cache layers.

Each follows the module structure of the Hugging Face transformers implementation of that
``model_type`` (checked against transformers' own parameter counts for every shipped config in
``tests/golden/param_counts.json``). Defaults for fields a config may omit are transformers'
defaults for that config class.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from canserve.arch import blocks
from canserve.arch.fields import Fields
from canserve.arch.spec import CacheLayer, Tensor
from canserve.errors import ConfigError

__all__ = ["FAMILIES", "Built"]


@dataclass
class Built:
    """What a family function returns; :mod:`canserve.arch.config` turns it into a ModelSpec."""

    tensors: list[Tensor]
    cache_layers: list[CacheLayer]
    tie_word_embeddings: bool
    head_dim: int
    num_key_value_heads: int
    intermediate_size: int
    max_position_embeddings: int
    num_experts: int = 0
    num_experts_per_tok: int = 0
    moe_intermediate_size: int = 0
    shared_expert_intermediate_size: int = 0
    notes: list[str] = field(default_factory=list)


def _embeddings(f: Fields, tie_default: bool) -> tuple[list[Tensor], bool]:
    """Input embedding, final norm and (unless tied) the LM head."""
    vocab, hidden = f.int("vocab_size"), f.int("hidden_size")
    tied = f.bool("tie_word_embeddings", tie_default)
    tensors = [Tensor("embed", None, (vocab, hidden)), *blocks.norms(None, hidden, 1)]
    if not tied:
        tensors.append(Tensor("lm_head", None, (vocab, hidden)))
    return tensors, tied


def _head_dim(f: Fields) -> int:
    return f.int("head_dim", f.int("hidden_size") // f.int("num_attention_heads"))


def _kv_cache(kv_heads: int, head_dim: int, window: int | None) -> CacheLayer:
    return CacheLayer(
        "attention", kv_elements_per_token=2 * kv_heads * head_dim, window_tokens=window
    )


def _layer_windows(f: Fields, default_sliding: Callable[[int], bool]) -> list[int | None]:
    """Per layer, the sliding window (or None for full attention).

    ``layer_types`` in the config wins; otherwise ``default_sliding(i)`` says which layers slide.
    """
    layers = f.int("num_hidden_layers")
    window = f.opt_int("sliding_window")
    types = f.str_list("layer_types", layers)
    if types is not None:
        sliding = [t == "sliding_attention" for t in types]
    else:
        sliding = [default_sliding(i) for i in range(layers)]
    if any(sliding) and window is None:
        raise ConfigError(f"{f.source}: sliding-attention layers but no 'sliding_window'")
    return [window if s else None for s in sliding]


# ---------------------------------------------------------------- dense llama-like families


@dataclass(frozen=True)
class _DenseStyle:
    """How one dense family differs from Llama."""

    tie_default: bool = False
    qkv_bias: str | bool = "attention_bias"  # a config field name, or a fixed value
    o_bias: str | bool = "attention_bias"
    mlp_bias: str | bool = "mlp_bias"
    qk_norm: blocks.QKNorm = "none"
    norms_per_layer: int = 2
    sliding: Callable[[Fields, int], bool] = lambda f, i: "sliding_window" in f


def _flag(f: Fields, value: str | bool) -> bool:
    return f.bool(value, False) if isinstance(value, str) else value


def _dense(style: _DenseStyle) -> Callable[[Fields], Built]:
    def build(f: Fields) -> Built:
        hidden, heads = f.int("hidden_size"), f.int("num_attention_heads")
        kv_heads, head_dim = f.int("num_key_value_heads", heads), _head_dim(f)
        inner = f.int("intermediate_size")
        qk_norm = style.qk_norm
        if f.bool("use_qk_norm", False):  # Cohere's optional per-head q/k LayerNorm
            qk_norm = "per_head"
        tensors, tied = _embeddings(f, style.tie_default)
        windows = _layer_windows(f, lambda i: style.sliding(f, i))
        caches = []
        for i, window in enumerate(windows):
            tensors += blocks.gqa_attention(
                i,
                hidden,
                heads,
                kv_heads,
                head_dim,
                qkv_bias=_flag(f, style.qkv_bias),
                o_bias=_flag(f, style.o_bias),
                qk_norm=qk_norm,
            )
            tensors += blocks.gated_mlp(i, hidden, inner, _flag(f, style.mlp_bias))
            tensors += blocks.norms(i, hidden, style.norms_per_layer)
            caches.append(_kv_cache(kv_heads, head_dim, window))
        return Built(
            tensors,
            caches,
            tied,
            head_dim,
            kv_heads,
            inner,
            f.int("max_position_embeddings", 2048),
        )

    return build


def _qwen2_sliding(f: Fields, i: int) -> bool:
    """Qwen2: sliding window only if ``use_sliding_window``, and only from ``max_window_layers``."""
    return f.bool("use_sliding_window", False) and i >= f.int("max_window_layers", 0, minimum=0)


def _every(n_field: str, default: int) -> Callable[[Fields, int], bool]:
    """Gemma-style interleave: layer i slides unless (i + 1) is a multiple of the pattern."""
    return lambda f, i: (i + 1) % f.int(n_field, default) != 0


_LLAMA = _DenseStyle()
_DENSE_FAMILIES = {
    "llama": _LLAMA,
    "mistral": _LLAMA,
    "qwen2": _DenseStyle(qkv_bias=True, o_bias=False, mlp_bias=False, sliding=_qwen2_sliding),
    "qwen3": _DenseStyle(mlp_bias=False, qk_norm="per_head", sliding=_qwen2_sliding),
    "olmo2": _DenseStyle(mlp_bias=False, qk_norm="full"),
    "phi3": _DenseStyle(qkv_bias=False, o_bias=False, mlp_bias=False),
    "cohere": _DenseStyle(tie_default=True, mlp_bias=False, norms_per_layer=1),
    "gemma2": _DenseStyle(
        tie_default=True,
        mlp_bias=False,
        norms_per_layer=4,
        sliding=_every("sliding_window_pattern", 2),
    ),
    "gemma3_text": _DenseStyle(
        tie_default=True,
        mlp_bias=False,
        norms_per_layer=4,
        qk_norm="per_head",
        sliding=_every("sliding_window_pattern", 6),
    ),
}


# ---------------------------------------------------------------- Falcon (RefinedWeb)


def _falcon(f: Fields) -> Built:
    """Falcon-40B/180B "new decoder architecture": fused QKV with grouped KV heads, parallel
    attention + MLP, two LayerNorms (with bias) per layer. Accepts the legacy RefinedWeb keys."""
    hidden = f.int("hidden_size", f.int("n_embed", 0, minimum=0) or None)
    layers = f.int("num_hidden_layers", f.int("n_layer", 0, minimum=0) or None)
    heads = f.int("num_attention_heads", f.int("n_head", 0, minimum=0) or None)
    kv_heads = f.int("num_kv_heads", f.int("n_head_kv", 0, minimum=0) or 1)
    head_dim = hidden // heads
    bias = f.bool("bias", False)
    new_arch = f.bool("new_decoder_architecture", f.str("model_type") == "RefinedWeb")
    inner = f.int("ffn_hidden_size", 4 * hidden)
    tensors, tied = _embeddings(f, tie_default=True)
    tensors.append(Tensor("norm", None, (hidden,)))  # ln_f is a LayerNorm: it has a bias too
    caches = []
    for i in range(layers):
        tensors += blocks.gqa_attention(
            i, hidden, heads, kv_heads, head_dim, qkv_bias=bias, o_bias=bias
        )
        tensors += blocks.plain_mlp(i, hidden, inner, bias)
        tensors += blocks.norms(i, hidden, 2 if new_arch else 1, with_bias=True)
        caches.append(_kv_cache(kv_heads, head_dim, None))
    notes = ["legacy RefinedWeb config read as Falcon (n_head -> num_attention_heads, ...)"]
    return Built(
        tensors,
        caches,
        tied,
        head_dim,
        kv_heads,
        inner,
        f.int("max_position_embeddings", 2048),
        notes=notes,
    )


# ---------------------------------------------------------------- mixture of experts


def _moe_attention_family(
    f: Fields,
    *,
    experts_field: str,
    qk_norm: blocks.QKNorm,
    is_moe_layer: Callable[[int], bool],
    dense_inner: int,
    moe_inner: int,
    shared_inner: int = 0,
    router_bias: bool = False,
) -> Built:
    """GQA attention + (routed experts [+ one shared expert]) or a dense MLP per layer."""
    hidden, heads = f.int("hidden_size"), f.int("num_attention_heads")
    kv_heads, head_dim = f.int("num_key_value_heads", heads), _head_dim(f)
    experts, top_k = f.int(experts_field), f.int("num_experts_per_tok")
    tensors, tied = _embeddings(f, tie_default=False)
    windows = _layer_windows(f, lambda i: False)
    caches = []
    for i, window in enumerate(windows):
        tensors += blocks.gqa_attention(i, hidden, heads, kv_heads, head_dim, qk_norm=qk_norm)
        if is_moe_layer(i):
            tensors += blocks.routed_experts(i, hidden, moe_inner, experts, router_bias=router_bias)
            if shared_inner:
                tensors += blocks.gated_mlp(i, hidden, shared_inner, prefix="shared")
        else:
            tensors += blocks.gated_mlp(i, hidden, dense_inner)
        tensors += blocks.norms(i, hidden, 2)
        caches.append(_kv_cache(kv_heads, head_dim, window))
    return Built(
        tensors,
        caches,
        tied,
        head_dim,
        kv_heads,
        dense_inner,
        f.int("max_position_embeddings", 4096),
        num_experts=experts,
        num_experts_per_tok=top_k,
        moe_intermediate_size=moe_inner,
        shared_expert_intermediate_size=shared_inner,
    )


def _mixtral(f: Fields) -> Built:
    inner = f.int("intermediate_size")
    return _moe_attention_family(
        f,
        experts_field="num_local_experts",
        qk_norm="none",
        is_moe_layer=lambda i: True,
        dense_inner=inner,
        moe_inner=inner,
    )


def _qwen3_moe(f: Fields) -> Built:
    step, dense_only = f.int("decoder_sparse_step", 1), set(f.int_list("mlp_only_layers"))
    return _moe_attention_family(
        f,
        experts_field="num_experts",
        qk_norm="per_head",
        is_moe_layer=lambda i: i not in dense_only and (i + 1) % step == 0,
        dense_inner=f.int("intermediate_size"),
        moe_inner=f.int("moe_intermediate_size"),
    )


def _qwen3_next(f: Fields) -> Built:
    """Qwen3-Next: 3 of 4 layers Gated DeltaNet (fixed state), 1 of 4 gated full attention;
    every layer a routed MoE with one gated shared expert."""
    hidden, heads = f.int("hidden_size"), f.int("num_attention_heads")
    kv_heads, head_dim, layers = (
        f.int("num_key_value_heads"),
        _head_dim(f),
        f.int("num_hidden_layers"),
    )
    experts, top_k = f.int("num_experts"), f.int("num_experts_per_tok")
    moe_inner, shared_inner = (
        f.int("moe_intermediate_size"),
        f.int("shared_expert_intermediate_size"),
    )
    interval = f.int("full_attention_interval", 4)
    types = f.str_list("layer_types", layers) or [
        "full_attention" if (i + 1) % interval == 0 else "linear_attention" for i in range(layers)
    ]
    step, dense_only = f.int("decoder_sparse_step", 1), set(f.int_list("mlp_only_layers"))
    tensors, tied = _embeddings(f, tie_default=False)
    caches = []
    for i, kind in enumerate(types):
        if kind == "linear_attention":
            mixer, state = blocks.gated_deltanet(
                i,
                hidden,
                key_heads=f.int("linear_num_key_heads"),
                value_heads=f.int("linear_num_value_heads"),
                key_head_dim=f.int("linear_key_head_dim"),
                value_head_dim=f.int("linear_value_head_dim"),
                conv_kernel=f.int("linear_conv_kernel_dim"),
            )
            tensors += mixer
            caches.append(CacheLayer("state", state_elements=state))
        else:
            tensors += blocks.gqa_attention(
                i, hidden, heads, kv_heads, head_dim, qk_norm="per_head", gated_q=True
            )
            caches.append(_kv_cache(kv_heads, head_dim, None))
        if i not in dense_only and (i + 1) % step == 0:
            tensors += blocks.routed_experts(i, hidden, moe_inner, experts)
            tensors += blocks.gated_mlp(i, hidden, shared_inner, prefix="shared")
            tensors.append(Tensor("shared_expert_gate", i, (1, hidden)))
        else:
            tensors += blocks.gated_mlp(i, hidden, f.int("intermediate_size"))
        tensors += blocks.norms(i, hidden, 2)
    return Built(
        tensors,
        caches,
        tied,
        head_dim,
        kv_heads,
        f.int("intermediate_size"),
        f.int("max_position_embeddings"),
        num_experts=experts,
        num_experts_per_tok=top_k,
        moe_intermediate_size=moe_inner,
        shared_expert_intermediate_size=shared_inner,
    )


def _deepseek(f: Fields) -> Built:
    """DeepSeek-V2/V3 and Kimi K2: MLA attention; the first ``first_k_dense_replace`` layers
    dense, the rest routed experts + ``n_shared_experts`` shared ones (fused as one MLP)."""
    hidden, heads, layers = (
        f.int("hidden_size"),
        f.int("num_attention_heads"),
        f.int("num_hidden_layers"),
    )
    kv_lora, rope = f.int("kv_lora_rank"), f.int("qk_rope_head_dim")
    experts, top_k = f.int("n_routed_experts"), f.int("num_experts_per_tok")
    moe_inner = f.int("moe_intermediate_size")
    shared_inner = moe_inner * f.int("n_shared_experts", 0, minimum=0)
    first_dense, freq = f.int("first_k_dense_replace", 0, minimum=0), f.int("moe_layer_freq", 1)
    tensors, tied = _embeddings(f, tie_default=False)
    caches = []
    for i in range(layers):
        tensors += blocks.mla_attention(
            i,
            hidden,
            heads,
            q_lora_rank=f.opt_int("q_lora_rank"),
            kv_lora_rank=kv_lora,
            qk_nope_head_dim=f.int("qk_nope_head_dim"),
            qk_rope_head_dim=rope,
            v_head_dim=f.int("v_head_dim"),
            bias=f.bool("attention_bias", False),
        )
        if i >= first_dense and i % freq == 0:
            tensors += blocks.routed_experts(i, hidden, moe_inner, experts)
            if shared_inner:
                tensors += blocks.gated_mlp(i, hidden, shared_inner, prefix="shared")
        else:
            tensors += blocks.gated_mlp(i, hidden, f.int("intermediate_size"))
        tensors += blocks.norms(i, hidden, 2)
        caches.append(CacheLayer("mla", kv_elements_per_token=kv_lora + rope))
    notes = []
    if f.int("num_nextn_predict_layers", 0, minimum=0):
        notes.append(
            "the checkpoint's multi-token-prediction layer is not counted "
            "(transformers does not instantiate it; vLLM loads it only for MTP speculation)"
        )
    return Built(
        tensors,
        caches,
        tied,
        f.int("qk_nope_head_dim") + rope,
        1,
        f.int("intermediate_size"),
        f.int("max_position_embeddings"),
        num_experts=experts,
        num_experts_per_tok=top_k,
        moe_intermediate_size=moe_inner,
        shared_expert_intermediate_size=shared_inner,
        notes=notes,
    )


def _gpt_oss(f: Fields) -> Built:
    """gpt-oss: biased attention with per-head sinks, alternating 128-token sliding windows and
    full attention, every layer routed experts with biases (stored fused in transformers)."""
    hidden, heads = f.int("hidden_size"), f.int("num_attention_heads")
    kv_heads, head_dim = f.int("num_key_value_heads"), _head_dim(f)
    experts, top_k = f.int("num_local_experts"), f.int("num_experts_per_tok")
    inner = f.int("intermediate_size")
    tensors, tied = _embeddings(f, tie_default=False)
    caches = []
    for i, window in enumerate(_layer_windows(f, lambda i: i % 2 == 0)):
        tensors += blocks.gqa_attention(
            i, hidden, heads, kv_heads, head_dim, qkv_bias=True, o_bias=True, sinks=True
        )
        tensors += blocks.routed_experts(
            i, hidden, inner, experts, expert_bias=True, router_bias=True
        )
        tensors += blocks.norms(i, hidden, 2)
        caches.append(_kv_cache(kv_heads, head_dim, window))
    return Built(
        tensors,
        caches,
        tied,
        head_dim,
        kv_heads,
        inner,
        f.int("max_position_embeddings"),
        num_experts=experts,
        num_experts_per_tok=top_k,
        moe_intermediate_size=inner,
    )


def _llama4(f: Fields) -> Built:
    """Llama 4 text model: MoE every ``interleave_moe_layer_step`` layers (routed experts plus a
    shared expert), dense MLPs of ``intermediate_size_mlp`` elsewhere; RoPE layers use chunked
    local attention (``attention_chunk_size``), every 4th layer is global NoPE attention."""
    hidden, heads = f.int("hidden_size"), f.int("num_attention_heads")
    kv_heads, head_dim, layers = (
        f.int("num_key_value_heads"),
        _head_dim(f),
        f.int("num_hidden_layers"),
    )
    experts, top_k = f.int("num_local_experts"), f.int("num_experts_per_tok")
    inner, dense_inner = f.int("intermediate_size"), f.int("intermediate_size_mlp")
    step = f.int("interleave_moe_layer_step", 1)
    moe_layers = set(f.int_list("moe_layers") or range(step - 1, layers, step))
    chunk = f.opt_int("attention_chunk_size")
    nope_interval = f.int("no_rope_layer_interval", 4)
    rope_layers = f.int_list("no_rope_layers") or [
        int((i + 1) % nope_interval != 0) for i in range(layers)
    ]
    tensors, tied = _embeddings(f, tie_default=False)
    caches = []
    for i in range(layers):
        tensors += blocks.gqa_attention(i, hidden, heads, kv_heads, head_dim)
        if i in moe_layers:
            tensors += blocks.routed_experts(i, hidden, inner, experts)
            tensors += blocks.gated_mlp(i, hidden, inner, prefix="shared")
        else:
            tensors += blocks.gated_mlp(i, hidden, dense_inner)
        tensors += blocks.norms(i, hidden, 2)
        caches.append(_kv_cache(kv_heads, head_dim, chunk if rope_layers[i] else None))
    return Built(
        tensors,
        caches,
        tied,
        head_dim,
        kv_heads,
        dense_inner,
        f.int("max_position_embeddings"),
        num_experts=experts,
        num_experts_per_tok=top_k,
        moe_intermediate_size=inner,
        shared_expert_intermediate_size=inner,
        notes=["text model only; the vision encoder is not counted"],
    )


def _gemma4(f: Fields) -> Built:
    """Gemma 4 text model: sliding layers (``head_dim``, ``num_key_value_heads``) interleaved
    with global layers (``global_head_dim``, ``num_global_key_value_heads``, values taken from
    the key projection when ``attention_k_eq_v``); with ``enable_moe_block`` every layer runs a
    dense MLP and routed experts side by side (router with a learned scale per input and expert).
    """
    hidden, heads = f.int("hidden_size"), f.int("num_attention_heads")
    kv_heads, head_dim = f.int("num_key_value_heads"), _head_dim(f)
    global_kv = f.int("num_global_key_value_heads", kv_heads)
    global_dim = f.int("global_head_dim", head_dim)
    k_eq_v = f.bool("attention_k_eq_v", False)
    inner, moe = f.int("intermediate_size"), f.bool("enable_moe_block", False)
    experts = f.int("num_experts") if moe else 0
    top_k = f.int("top_k_experts", f.int("num_experts_per_tok", 0, minimum=0) or None) if moe else 0
    moe_inner = f.int("moe_intermediate_size") if moe else 0
    if f.int("hidden_size_per_layer_input", 0, minimum=0) or f.int(
        "num_kv_shared_layers", 0, minimum=0
    ):
        raise ConfigError(
            f"{f.source}: Gemma 4 per-layer inputs / shared KV layers are not supported"
        )
    tensors, tied = _embeddings(f, tie_default=True)
    caches = []
    for i, window in enumerate(_layer_windows(f, lambda i: (i + 1) % 6 != 0)):
        kv, dim = (kv_heads, head_dim) if window else (global_kv, global_dim)
        tensors += blocks.gqa_attention(
            i, hidden, heads, kv, dim, qk_norm="per_head", has_v=bool(window) or not k_eq_v
        )
        tensors += blocks.gated_mlp(i, hidden, inner)
        tensors += blocks.norms(i, hidden, 4)
        if moe:
            tensors += blocks.routed_experts(i, hidden, moe_inner, experts)
            tensors += [Tensor("router", i, (hidden,)), Tensor("router", i, (experts,))]
            tensors += blocks.norms(i, hidden, 3)
        caches.append(_kv_cache(kv, dim, window))
    return Built(
        tensors,
        caches,
        tied,
        head_dim,
        kv_heads,
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


def _nemotron_h(f: Fields) -> Built:
    """Nemotron-H: each layer one of Mamba-2 ('M'), attention ('*') or MLP ('-'), per
    ``hybrid_override_pattern``; only attention layers keep a per-token KV cache."""
    hidden, layers = f.int("hidden_size"), f.int("num_hidden_layers")
    pattern = f.str("hybrid_override_pattern")
    if len(pattern) != layers or set(pattern) - set("M*-"):
        raise ConfigError(f"{f.source}: 'hybrid_override_pattern' must have one of M * - per layer")
    heads, kv_heads = f.int("num_attention_heads"), f.int("num_key_value_heads")
    head_dim = f.int("attention_head_dim", f.int("head_dim", hidden // heads))
    inner = f.int("intermediate_size")
    tensors, tied = _embeddings(f, tie_default=False)
    caches = []
    for i, kind in enumerate(pattern):
        if kind == "M":
            mixer, state = blocks.mamba2_mixer(
                i,
                hidden,
                heads=f.int("mamba_num_heads"),
                head_dim=f.int("mamba_head_dim"),
                state_size=f.int("ssm_state_size"),
                groups=f.int("n_groups"),
                conv_kernel=f.int("conv_kernel"),
                proj_bias=f.bool("use_bias", False),
                conv_bias=f.bool("use_conv_bias", True),
            )
            tensors += mixer
            caches.append(CacheLayer("state", state_elements=state))
        elif kind == "*":
            tensors += blocks.gqa_attention(
                i,
                hidden,
                heads,
                kv_heads,
                head_dim,
                qkv_bias=f.bool("attention_bias", False),
                o_bias=f.bool("attention_bias", False),
            )
            caches.append(_kv_cache(kv_heads, head_dim, None))
        else:
            tensors += blocks.plain_mlp(i, hidden, inner, f.bool("mlp_bias", False))
        tensors += blocks.norms(i, hidden, 1)
    return Built(
        tensors, caches, tied, head_dim, kv_heads, inner, f.int("max_position_embeddings", 4096)
    )


FAMILIES: dict[str, Callable[[Fields], Built]] = {
    **{name: _dense(style) for name, style in _DENSE_FAMILIES.items()},
    "falcon": _falcon,
    "RefinedWeb": _falcon,
    "RefinedWebModel": _falcon,
    "mixtral": _mixtral,
    "qwen3_moe": _qwen3_moe,
    "qwen3_next": _qwen3_next,
    "deepseek_v2": _deepseek,
    "deepseek_v3": _deepseek,
    "kimi_k2": _deepseek,
    "gpt_oss": _gpt_oss,
    "llama4_text": _llama4,
    "gemma4_text": _gemma4,
    "nemotron_h": _nemotron_h,
}
