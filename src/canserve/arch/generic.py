"""The common config.json vocabulary, and one builder for every decoder it describes.

A decoder layer is a token mixer and a feed-forward block, each read from the field names most
Hugging Face configs share:

* mixer: grouped-query attention (``num_attention_heads``, ``num_key_value_heads``, ``head_dim``;
  ``attn_output_gate`` doubles the query rows), multi-head latent attention when the config has
  ``kv_lora_rank`` (``q_lora_rank``, ``qk_nope_head_dim``, ``qk_rope_head_dim``, ``v_head_dim``,
  plus DeepSeek sparse attention's lightning indexer when it has ``index_n_heads`` and
  ``index_head_dim``), or Gated DeltaNet linear attention (``linear_num_key_heads``,
  ``linear_num_value_heads``, ``linear_key_head_dim``, ``linear_value_head_dim``,
  ``linear_conv_kernel_dim``) on the layers ``layer_types`` calls ``linear_attention`` (or all
  but every ``full_attention_interval``-th);
* windows: ``layer_types`` (``sliding_attention``), else the family's rule, else
  ``sliding_window_pattern``, else ``sliding_window`` on every layer (Mistral v0.1), never when
  ``use_sliding_window`` is false;
* feed-forward: a gated MLP of ``intermediate_size``, or routed experts (``num_experts``,
  ``num_local_experts`` or ``n_routed_experts``; ``num_experts_per_tok``;
  ``moe_intermediate_size``, else ``intermediate_size``) with shared experts
  (``shared_expert_intermediate_size``, or ``n_shared_experts`` experts' worth), dense in
  ``mlp_only_layers``, in the first ``first_k_dense_replace`` layers, and off every
  ``decoder_sparse_step``-th (Qwen) or ``moe_layer_freq``-th (DeepSeek) layer.

A family's :class:`Style` says how it departs from that (biases, norms, q/k norms, tied
embeddings, module names). A ``model_type`` canserve does not know is read with the default style.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from canserve.arch import blocks
from canserve.arch.common import (
    AttentionDims,
    Built,
    attention_dims,
    embeddings,
    experts_and_top_k,
    kv_cache,
    num_layers,
)
from canserve.arch.fields import Fields
from canserve.arch.spec import CacheLayer, Tensor
from canserve.errors import ConfigError

__all__ = ["LINEAR", "Names", "Style", "build", "layer_types"]

LINEAR, FULL, SLIDING = "linear_attention", "full_attention", "sliding_attention"


@dataclass(frozen=True)
class Names:
    """Module names inside a layer, as the family's checkpoints spell them."""

    attn: str = "self_attn"
    linear_attn: str = "linear_attn"
    mlp: str = "mlp"
    moe: str = "mlp"  # the module holding the router and the experts
    router: str = "gate"
    expert_proj: tuple[str, str, str] = blocks.GATED
    shared: str = "mlp.shared_experts"


@dataclass(frozen=True)
class Style:
    """How one family departs from the common vocabulary (defaults: Llama)."""

    tie_default: bool = False
    qkv_bias: str | bool = "attention_bias"  # a config field name, or a fixed value
    o_bias: str | bool = "attention_bias"
    mlp_bias: str | bool = "mlp_bias"
    qk_norm: blocks.QKNorm | None = None  # None: as the config says (use_qk_norm, qk_norm_type)
    norms_per_layer: int = 2
    sliding: Callable[[Fields, int], bool] | None = None  # which layers slide, absent layer_types
    gated_q: bool = False  # the query projection also emits an output gate (else attn_output_gate)
    sinks: bool = False
    expert_bias: bool = False
    router_bias: bool = False
    shared_gate: bool = False  # a (1, hidden) sigmoid gate on the shared expert (Qwen)
    split_linear_proj: bool = False  # Gated DeltaNet projections as Qwen3.5 names them
    context_default: int = 2048  # max_position_embeddings when the config omits it
    names: Names = field(default_factory=Names)


@dataclass(frozen=True)
class _MoE:
    experts: int
    top_k: int
    inner: int
    shared_inner: int
    dense_layers: frozenset[int]


def _flag(f: Fields, value: str | bool) -> bool:
    return f.bool(value, False) if isinstance(value, str) else value


def _default_sliding(f: Fields, i: int) -> bool:
    if "sliding_window" not in f or not f.bool("use_sliding_window", True):
        return False
    pattern = f.pick("sliding_window_pattern", "_sliding_window_pattern")
    return (i + 1) % f.int(pattern) != 0 if pattern else True


def layer_types(f: Fields, layers: int, sliding: Callable[[Fields, int], bool] | None) -> list[str]:
    """Per layer ``full_attention``, ``sliding_attention`` or ``linear_attention``."""
    types = f.str_list("layer_types", layers)
    if types is None:
        interval = f.opt_int("full_attention_interval")
        rule = sliding or _default_sliding
        types = [
            (FULL if (i + 1) % interval == 0 else LINEAR)
            if interval
            else (SLIDING if rule(f, i) else FULL)
            for i in range(layers)
        ]
    unknown = set(types) - {FULL, SLIDING, LINEAR}
    if unknown:
        raise f.fail("layer_types", f"has layer types canserve does not know: {sorted(unknown)}")
    if SLIDING in types and "sliding_window" not in f:
        raise ConfigError(f"{f.source}: sliding-attention layers but no 'sliding_window'")
    return types


def _moe(f: Fields, layers: int) -> _MoE | None:
    experts, top_k = experts_and_top_k(f)
    if not experts:
        return None
    inner = f.int("moe_intermediate_size", f.opt_int("intermediate_size"))
    shared = f.first_int(
        (
            "shared_expert_intermediate_size",
            "moe_shared_expert_intermediate_size",
            "shared_intermediate_size",
        ),
        0,
        minimum=0,
    ) or inner * f.int("n_shared_experts", 0, minimum=0)
    only_dense = set(f.int_list("mlp_only_layers"))
    first_moe = f.int("first_k_dense_replace", 0, minimum=0)
    step, freq = f.int("decoder_sparse_step", 1), f.int("moe_layer_freq", 1)
    dense = {
        i for i in range(layers) if i in only_dense or i < first_moe or (i + 1) % step or i % freq
    }
    return _MoE(experts, top_k, inner, shared, frozenset(dense))


def _qk_norm(f: Fields, style: Style) -> blocks.QKNorm:
    if style.qk_norm is not None:
        return style.qk_norm
    if not f.bool("use_qk_norm", False):
        return "none"
    return "full" if f.str("qk_norm_type", "per_head") == "per_layer" else "per_head"


@dataclass(frozen=True)
class _Layer:
    """What the builder needs besides the layer index (read once per model)."""

    f: Fields
    style: Style
    dims: AttentionDims
    qk_norm: blocks.QKNorm
    moe: _MoE | None


def _attention(ctx: _Layer, i: int, window: int | None) -> tuple[list[Tensor], CacheLayer]:
    f, d, style = ctx.f, ctx.dims, ctx.style
    if "kv_lora_rank" in f:
        return _mla(f, i, d)
    tensors = blocks.gqa_attention(
        i,
        d.hidden,
        d.heads,
        d.kv_heads,
        d.head_dim,
        qkv_bias=_flag(f, style.qkv_bias),
        o_bias=_flag(f, style.o_bias),
        qk_norm=ctx.qk_norm,
        gated_q=style.gated_q or f.bool("attn_output_gate", False),
        sinks=style.sinks,
        prefix=style.names.attn,
    )
    return tensors, kv_cache(d.kv_heads, d.head_dim, window)


def _mla(f: Fields, i: int, d: AttentionDims) -> tuple[list[Tensor], CacheLayer]:
    """MLA attention and its cache: the ``kv_lora_rank + qk_rope_head_dim`` latent (stored once
    for K and V, as vLLM and SGLang store it), plus the indexer's key where there is one."""
    kv_lora, rope = f.int("kv_lora_rank"), f.int("qk_rope_head_dim")
    indexer = None
    if "index_n_heads" in f:
        indexer = (f.int("index_n_heads"), f.int("index_head_dim"))
    tensors = blocks.mla_attention(
        i,
        d.hidden,
        d.heads,
        q_lora_rank=f.opt_int("q_lora_rank"),
        kv_lora_rank=kv_lora,
        qk_nope_head_dim=f.int("qk_nope_head_dim"),
        qk_rope_head_dim=rope,
        v_head_dim=f.int("v_head_dim"),
        bias=f.bool("attention_bias", False),
        indexer=indexer,
    )
    cache = CacheLayer(
        "mla",
        kv_elements_per_token=kv_lora + rope,
        compressed_elements_per_entry=indexer[1] if indexer else 0,
    )
    return tensors, cache


def _linear_attention(ctx: _Layer, i: int) -> tuple[list[Tensor], CacheLayer]:
    f = ctx.f
    tensors, state = blocks.gated_deltanet(
        i,
        ctx.dims.hidden,
        key_heads=f.int("linear_num_key_heads"),
        value_heads=f.int("linear_num_value_heads"),
        key_head_dim=f.int("linear_key_head_dim"),
        value_head_dim=f.int("linear_value_head_dim"),
        conv_kernel=f.int("linear_conv_kernel_dim"),
        split_proj=ctx.style.split_linear_proj,
        prefix=ctx.style.names.linear_attn,
    )
    return tensors, CacheLayer("state", state_elements=state)


def _feed_forward(ctx: _Layer, i: int) -> list[Tensor]:
    f, style, names, hidden = ctx.f, ctx.style, ctx.style.names, ctx.dims.hidden
    moe = ctx.moe
    if moe is None or i in moe.dense_layers:
        inner = f.int("intermediate_size")
        return blocks.gated_mlp(i, hidden, inner, _flag(f, style.mlp_bias), prefix=names.mlp)
    tensors = blocks.routed_experts(
        i,
        hidden,
        moe.inner,
        moe.experts,
        expert_bias=style.expert_bias,
        router_bias=style.router_bias,
        prefix=names.moe,
        router=names.router,
        proj=names.expert_proj,
    )
    if moe.shared_inner:
        tensors += blocks.gated_mlp(i, hidden, moe.shared_inner, kind="shared", prefix=names.shared)
        if style.shared_gate:
            gate = f"{names.mlp}.shared_expert_gate"
            tensors.append(Tensor("shared_expert_gate", i, (1, hidden), name=gate))
    return tensors


def _layer(ctx: _Layer, i: int, kind: str) -> tuple[list[Tensor], CacheLayer]:
    if kind == LINEAR:
        tensors, cache = _linear_attention(ctx, i)
    else:
        window = ctx.f.int("sliding_window") if kind == SLIDING else None
        tensors, cache = _attention(ctx, i, window)
    tensors += _feed_forward(ctx, i)
    tensors += blocks.norms(i, ctx.dims.hidden, ctx.style.norms_per_layer)
    return tensors, cache


def build(f: Fields, style: Style) -> Built:
    """Tensors and cache layers of a decoder described by the common vocabulary."""
    layers = num_layers(f)
    dims = attention_dims(f)
    types = layer_types(f, layers, style.sliding)
    moe = _moe(f, layers)
    ctx = _Layer(f, style, dims, _qk_norm(f, style), moe)
    tensors, tied = embeddings(f, style.tie_default)
    caches = []
    for i, kind in enumerate(types):
        layer_tensors, cache = _layer(ctx, i, kind)
        tensors += layer_tensors
        caches.append(cache)
    return _built(f, style, dims, tensors, caches, tied, moe)


def _built(
    f: Fields,
    style: Style,
    dims: AttentionDims,
    tensors: list[Tensor],
    caches: list[CacheLayer],
    tied: bool,
    moe: _MoE | None,
) -> Built:
    mla = "kv_lora_rank" in f
    head_dim = f.int("qk_nope_head_dim") + f.int("qk_rope_head_dim") if mla else dims.head_dim
    inner = f.opt_int("intermediate_size") or (moe.inner if moe else f.int("intermediate_size"))
    return Built(
        tensors,
        caches,
        tied,
        head_dim,
        1 if mla else dims.kv_heads,
        inner,
        f.int("max_position_embeddings", style.context_default),
        num_experts=moe.experts if moe else 0,
        num_experts_per_tok=moe.top_k if moe else 0,
        moe_intermediate_size=moe.inner if moe else 0,
        shared_expert_intermediate_size=moe.shared_inner if moe else 0,
    )
