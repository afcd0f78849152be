"""What every family builder shares: the result type, the checked attention and MoE dimensions
from the config's common vocabulary, embeddings and the GQA cache entry."""

from __future__ import annotations

from dataclasses import dataclass, field

from canserve.arch import blocks
from canserve.arch.fields import Fields
from canserve.arch.spec import CacheLayer, Tensor
from canserve.errors import ConfigError

__all__ = [
    "EXPERTS_FIELDS",
    "LAYERS_FIELDS",
    "TOP_K_FIELDS",
    "AttentionDims",
    "Built",
    "attention_dims",
    "embeddings",
    "experts_and_top_k",
    "kv_cache",
    "num_layers",
]

LAYERS_FIELDS = ("num_hidden_layers", "n_layer", "num_layers")
EXPERTS_FIELDS = ("num_experts", "num_local_experts", "n_routed_experts", "moe_num_experts")
TOP_K_FIELDS = ("num_experts_per_tok", "top_k_experts", "moe_topk", "experts_per_token")


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
    num_hidden_layers: int = 0  # 0: one per cache layer

    @property
    def layers(self) -> int:
        return self.num_hidden_layers or len(self.cache_layers)


@dataclass(frozen=True)
class AttentionDims:
    hidden: int
    heads: int
    kv_heads: int
    head_dim: int


def num_layers(f: Fields) -> int:
    return f.first_int(LAYERS_FIELDS)


def attention_dims(f: Fields, head_dim_field: str = "head_dim") -> AttentionDims:
    """Hidden size, query/KV heads and head_dim, checked for consistency: KV heads divide the
    query heads, and without an explicit head_dim the heads divide the hidden size."""
    hidden = f.first_int(("hidden_size", "n_embed", "n_embd", "d_model"))
    heads = f.first_int(("num_attention_heads", "n_head"))
    kv_heads = f.first_int(("num_key_value_heads", "num_kv_heads", "n_head_kv"), heads)
    if kv_heads > heads or heads % kv_heads:
        raise ConfigError(
            f"{f.source}: {heads} attention heads cannot share {kv_heads} KV heads "
            "(KV heads must divide the query heads)"
        )
    head_dim = f.opt_int(head_dim_field) or f.opt_int("head_dim")
    if head_dim is None:
        if hidden % heads:
            raise ConfigError(
                f"{f.source}: hidden_size {hidden} is not divisible by {heads} attention heads "
                "and no head_dim is given"
            )
        head_dim = hidden // heads
    return AttentionDims(hidden, heads, kv_heads, head_dim)


def experts_and_top_k(f: Fields, experts_field: str | None = None) -> tuple[int, int]:
    """Routed experts and experts per token: (0, 0) for a dense model when ``experts_field`` is
    not given; with it, the family has MoE layers and the field must say how many experts. Top-k
    never exceeds the expert count."""
    names = (experts_field,) if experts_field else EXPERTS_FIELDS
    experts = f.int(f.pick(*names) or names[0], None if experts_field else 0, minimum=0)
    if not experts:
        if experts_field:
            raise f.fail(experts_field, "must be at least 1 for a model with MoE layers")
        return 0, 0
    top_k = f.first_int(TOP_K_FIELDS)
    if top_k > experts:
        raise ConfigError(f"{f.source}: {top_k} experts per token but only {experts} experts")
    return experts, top_k


def embeddings(
    f: Fields, tie_default: bool, names: tuple[str, ...] = ()
) -> tuple[list[Tensor], bool]:
    """Input embedding, final norm and (unless tied) the LM head. ``names``: the checkpoint's
    (embedding, final norm, LM head) module names when they are not Llama's."""
    embed, norm, head = names or ("embed_tokens", "norm", "lm_head")
    vocab = f.int("vocab_size")
    hidden = f.first_int(("hidden_size", "n_embed", "n_embd", "d_model"))
    tied = f.bool("tie_word_embeddings", tie_default)
    tensors = [Tensor("embed", None, (vocab, hidden), name=embed)]
    tensors += blocks.norms(None, hidden, 1, name=norm)
    if not tied:
        tensors.append(Tensor("lm_head", None, (vocab, hidden), name=head))
    return tensors, tied


def kv_cache(kv_heads: int, head_dim: int, window: int | None) -> CacheLayer:
    """A GQA/MQA layer's cache: K and V of ``kv_heads`` heads per token."""
    return CacheLayer(
        "attention", kv_elements_per_token=2 * kv_heads * head_dim, window_tokens=window
    )
