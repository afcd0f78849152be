"""Families whose layers do not follow the common vocabulary: Nemotron-H (each layer one of
Mamba-2, attention, MLP or MoE, by a pattern string) and DeepSeek-V4 (sliding attention plus
compressed long-range attention, hyper-connections, grouped output projection)."""

from __future__ import annotations

from canserve.arch import blocks
from canserve.arch.common import Built, attention_dims, embeddings, experts_and_top_k, kv_cache
from canserve.arch.fields import MAX_LAYERS, Fields
from canserve.arch.spec import CacheLayer, Tensor
from canserve.errors import ConfigError

__all__ = ["deepseek_v4", "nemotron_h"]

# ---------------------------------------------------------------- Nemotron-H / Nemotron-3

# transformers NemotronHConfig: pattern characters and their layers_block_type names
_NEMOTRON_BLOCKS = {
    "mamba": "M",
    "linear_attention": "M",
    "attention": "*",
    "full_attention": "*",
    "mlp": "-",
    "moe": "E",
}


def _nemotron_pattern(f: Fields) -> str:
    """One of ``M`` (Mamba-2), ``*`` (attention), ``-`` (MLP), ``E`` (MoE) per layer, from
    ``hybrid_override_pattern`` or ``layers_block_type``; it must match ``num_hidden_layers``."""
    if "layers_block_type" in f:
        given = f.raw["layers_block_type"]
        count = f.int("num_hidden_layers", len(given) if isinstance(given, list) else 1)
        types = f.str_list("layers_block_type", count) or []
        unknown = set(types) - set(_NEMOTRON_BLOCKS)
        if unknown:
            raise f.fail(
                "layers_block_type", f"has block types canserve does not know: {sorted(unknown)}"
            )
        pattern = "".join(_NEMOTRON_BLOCKS[t] for t in types)
    else:
        pattern = f.str("hybrid_override_pattern")
        if len(pattern) != f.int("num_hidden_layers") or set(pattern) - set("M*-E"):
            raise f.fail(
                "hybrid_override_pattern", "must have one of M * - E per layer (num_hidden_layers)"
            )
    if len(pattern) > MAX_LAYERS:
        raise f.fail("layers_block_type", f"has more than {MAX_LAYERS} layers")
    return pattern


def _nemotron_moe(f: Fields, i: int, hidden: int) -> list[Tensor]:
    """Nemotron-3 MoE layer: squared-ReLU routed experts (in a ``moe_latent_size`` latent space
    when given, with projections in and out) plus one squared-ReLU shared expert."""
    experts, _ = experts_and_top_k(f, "n_routed_experts")
    latent, bias = f.opt_int("moe_latent_size"), f.bool("mlp_bias", False)
    inner = f.int("moe_intermediate_size")
    tensors = blocks.routed_experts(
        i, hidden, inner, experts, gated=False, width=latent, prefix="mixer"
    )
    if latent:
        tensors += blocks.linear("moe_latent", i, latent, hidden, bias, "mixer.fc1_latent_proj")
        tensors += blocks.linear("moe_latent", i, hidden, latent, bias, "mixer.fc2_latent_proj")
    shared = f.int("moe_shared_expert_intermediate_size", 0, minimum=0)
    if shared:
        tensors += blocks.plain_mlp(
            i, hidden, shared, bias, kind="shared", prefix="mixer.shared_experts"
        )
    return tensors


def _mamba(f: Fields, i: int, hidden: int) -> tuple[list[Tensor], int]:
    return blocks.mamba2_mixer(
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


def nemotron_h(f: Fields) -> Built:
    """Nemotron-H and Nemotron-3: only attention layers keep a per-token KV cache, Mamba-2 layers
    a fixed state, MLP and MoE layers nothing. Attention has no biases (transformers builds
    ``q_proj`` ... ``o_proj`` with ``bias=False``)."""
    pattern = _nemotron_pattern(f)
    d = attention_dims(f, head_dim_field="attention_head_dim")
    experts, top_k = experts_and_top_k(f, "n_routed_experts") if "E" in pattern else (0, 0)
    inner = f.int("intermediate_size")
    tensors, tied = embeddings(f, tie_default=False, names=("embeddings", "norm_f", "lm_head"))
    caches = []
    for i, kind in enumerate(pattern):
        if kind == "M":
            mixer, state = _mamba(f, i, d.hidden)
            tensors += mixer
            caches.append(CacheLayer("state", state_elements=state))
        elif kind == "*":
            tensors += blocks.gqa_attention(
                i, d.hidden, d.heads, d.kv_heads, d.head_dim, prefix="mixer"
            )
            caches.append(kv_cache(d.kv_heads, d.head_dim, None))
        elif kind == "E":
            tensors += _nemotron_moe(f, i, d.hidden)
        else:
            tensors += blocks.plain_mlp(
                i, d.hidden, inner, f.bool("mlp_bias", False), prefix="mixer"
            )
        tensors += blocks.norms(i, d.hidden, 1, name="norm")
    return Built(
        tensors,
        caches,
        tied,
        d.head_dim,
        d.kv_heads,
        inner,
        f.int("max_position_embeddings", 4096),
        num_experts=experts,
        num_experts_per_tok=top_k,
        moe_intermediate_size=f.int("moe_intermediate_size") if experts else 0,
        shared_expert_intermediate_size=(
            f.int("moe_shared_expert_intermediate_size", 0, minimum=0) if experts else 0
        ),
        num_hidden_layers=len(pattern),
    )


# ---------------------------------------------------------------- DeepSeek-V4

# transformers DeepseekV4Config: legacy compress_ratios per layer -> attention type
_V4_TYPES = {
    0: "sliding_attention",
    4: "compressed_sparse_attention",
    128: "heavily_compressed_attention",
}
_CSA, _HCA = "compressed_sparse_attention", "heavily_compressed_attention"


def _v4_layer_types(f: Fields, layers: int) -> list[str]:
    """``layer_types``, else the legacy ``compress_ratios`` (one more entry than layers: the MTP
    layer), else transformers' default (two HCA layers, then CSA and HCA alternating)."""
    if "layer_types" in f:
        types = f.str_list("layer_types", layers) or []
    elif "compress_ratios" in f:
        ratios = f.int_list("compress_ratios")
        if len(ratios) < layers or set(ratios[:layers]) - set(_V4_TYPES):
            raise f.fail("compress_ratios", f"must give 0, 4 or 128 for each of {layers} layers")
        types = [_V4_TYPES[r] for r in ratios[:layers]]
    else:
        types = [_HCA] * min(layers, 2) + [_CSA if i % 2 else _HCA for i in range(layers - 2)]
    if set(types) - set(_V4_TYPES.values()):
        raise f.fail(
            "layer_types", "must name sliding, compressed-sparse or heavily-compressed attention"
        )
    return types


def _v4_ratio(f: Fields, kind: str) -> int:
    rates = f.raw.get("compress_rates")
    rates = rates if isinstance(rates, dict) else {}
    legacy = {_CSA: "compress_rate_csa", _HCA: "compress_rate_hca"}[kind]
    value = rates.get(kind, f.raw.get(legacy, 4 if kind == _CSA else 128))
    return Fields({legacy: value}, f.source).int(legacy)


def _v4_compressor(f: Fields, i: int, kind: str, q_lora: int) -> tuple[list[Tensor], CacheLayer]:
    """One layer's compressor (and, for CSA, its lightning indexer) and the layer's cache: the
    sliding window of shared K=V entries, one compressed entry (plus the indexer's key) per
    ``ratio`` tokens, and the buffers of not-yet-compressed tokens transformers keeps."""
    hidden, head_dim, window = f.int("hidden_size"), f.int("head_dim"), f.int("sliding_window")
    if kind == "sliding_attention":
        return [], _shared_kv_window(head_dim, window)
    ratio = _v4_ratio(f, kind)
    series = 2 if kind == _CSA else 1  # CSA compresses two overlapping series (Ca, Cb)
    tensors = _compressor("attn.compressor", i, hidden, head_dim, ratio, series)
    entry, state = head_dim, (ratio - 1) * 2 * series * head_dim + (series - 1) * 2 * head_dim
    if kind == _CSA:
        heads, dim = f.int("index_n_heads"), f.int("index_head_dim")
        tensors += _compressor("attn.compressor.indexer", i, hidden, dim, ratio, 2)
        tensors += blocks.linear("attn_index", i, heads * dim, q_lora, name="attn.indexer.q_b_proj")
        tensors += blocks.linear("attn_index", i, heads, hidden, name="attn.indexer.weights_proj")
        entry, state = entry + dim, state + (ratio - 1) * 4 * dim + 2 * dim
    cache = CacheLayer(
        "attention",
        kv_elements_per_token=head_dim,
        window_tokens=window,
        compressed_elements_per_entry=entry,
        compress_ratio=ratio,
        state_elements=state,
    )
    return tensors, cache


def _shared_kv_window(head_dim: int, window: int) -> CacheLayer:
    """A sliding-window cache whose one KV head serves as both K and V (DeepSeek-V4)."""
    return CacheLayer("attention", kv_elements_per_token=head_dim, window_tokens=window)


def _compressor(
    prefix: str, i: int, hidden: int, dim: int, ratio: int, series: int
) -> list[Tensor]:
    width = series * dim
    return [
        Tensor("position", i, (ratio, width), name=f"{prefix}.position_bias"),
        *blocks.linear("attn_compress", i, width, hidden, name=f"{prefix}.kv_proj"),
        *blocks.linear("attn_compress", i, width, hidden, name=f"{prefix}.gate_proj"),
        *blocks.norms(i, dim, 1, name=f"{prefix}.kv_norm"),
    ]


def _v4_attention(f: Fields, i: int) -> list[Tensor]:
    """Shared-KV multi-query attention with a low-rank query and a grouped output projection
    (``o_groups`` groups of heads, each projected to ``o_lora_rank``, then mixed), head sinks."""
    d = attention_dims(f)
    q_lora, groups, o_lora = f.int("q_lora_rank"), f.int("o_groups"), f.int("o_lora_rank")
    if d.heads % groups:
        raise ConfigError(
            f"{f.source}: {d.heads} attention heads do not split into {groups} o_groups"
        )
    q_rows = d.heads * d.head_dim
    return [
        Tensor("sink", i, (d.heads,), name="attn.sinks"),
        *blocks.linear("attn_q_a", i, q_lora, d.hidden, name="attn.q_a_proj"),
        *blocks.norms(i, q_lora, 1, name="attn.q_a_norm"),
        *blocks.linear("attn_q_b", i, q_rows, q_lora, name="attn.q_b_proj"),
        *blocks.linear("attn_kv", i, d.head_dim, d.hidden, name="attn.kv_proj"),
        *blocks.norms(i, d.head_dim, 1, name="attn.kv_norm"),
        *blocks.linear("attn_o_a", i, groups * o_lora, q_rows // groups, name="attn.o_a_proj"),
        *blocks.linear("attn_o", i, d.hidden, groups * o_lora, name="attn.o_b_proj"),
    ]


def _hyper_connection(
    i: int | None, hidden: int, hc: int, outputs: int, scales: int, name: str
) -> list[Tensor]:
    """Manifold-constrained hyper-connection mixing ``hc`` residual streams: a projection to
    ``outputs`` mixing weights, their bias and ``scales`` scales (transformers
    ``DeepseekV4HyperConnection``: pre, post and comb weights; ``DeepseekV4HyperHead``: one)."""
    return [
        Tensor("hyper", i, (outputs, hc * hidden), name=f"{name}.fn"),
        Tensor("hyper", i, (outputs,), name=f"{name}.base"),
        Tensor("hyper", i, (scales,), name=f"{name}.scale"),
    ]


def deepseek_v4(f: Fields) -> Built:
    """DeepSeek-V4 (transformers ``DeepseekV4ForCausalLM``): every layer keeps a
    ``sliding_window`` of K=V entries; compressed-sparse layers (CSA) add one compressed entry per
    4 tokens, selected by a lightning indexer, heavily-compressed layers (HCA) one per 128 tokens;
    every layer is routed MoE with shared experts; ``hc_mult`` residual streams."""
    layers, hidden = f.int("num_hidden_layers"), f.int("hidden_size")
    types = _v4_layer_types(f, layers)
    experts, top_k = experts_and_top_k(f, "n_routed_experts")
    moe_inner = f.int("moe_intermediate_size")
    shared = moe_inner * f.int("n_shared_experts", 0, minimum=0)
    hc = f.int("hc_mult", 4)
    tensors, tied = embeddings(f, tie_default=False, names=("embed", "norm", "head"))
    tensors += _hyper_connection(None, hidden, hc, hc, 1, "hc_head")
    caches = []
    for i, kind in enumerate(types):
        tensors += _v4_attention(f, i)
        compressor, cache = _v4_compressor(f, i, kind, f.int("q_lora_rank"))
        tensors += compressor
        tensors += blocks.routed_experts(
            i, hidden, moe_inner, experts, prefix="ffn", proj=("w1", "w3", "w2")
        )
        if shared:
            tensors += blocks.gated_mlp(
                i,
                hidden,
                shared,
                kind="shared",
                prefix="ffn.shared_experts",
                proj=("w1", "w3", "w2"),
            )
        tensors += blocks.norms(i, hidden, 2)
        for name in ("hc_attn", "hc_ffn"):
            tensors += _hyper_connection(i, hidden, hc, (2 + hc) * hc, 3, name)
        caches.append(cache)
    return Built(
        tensors,
        caches,
        tied,
        f.int("head_dim"),
        f.int("num_key_value_heads", 1),
        moe_inner,
        f.int("max_position_embeddings"),
        num_experts=experts,
        num_experts_per_tok=top_k,
        moe_intermediate_size=moe_inner,
        shared_expert_intermediate_size=shared,
        notes=[
            "KV cache as transformers' DeepseekV4 cache layers hold it: a sliding window of shared "
            "K=V entries per layer, compressed entries (and indexer keys) over the whole context, "
            "and the buffers of tokens not yet compressed (as a fixed per-sequence state)",
        ],
    )
