"""The shape of a decoder-only language model, as canserve sees it.

A :class:`ModelSpec` is built once from a Hugging Face ``config.json`` (see
:mod:`canserve.arch.config`) and holds two exact inventories:

* ``tensors``: every stored weight tensor, with its shape and a ``kind`` that says what it is
  (``attn_q``, ``expert_down``, ``norm``, ...). Parameter counts, weight bytes under any
  quantization format, and active parameters for mixture-of-experts models all derive from it.
* ``cache_layers``: per layer, what the serving engine keeps per sequence: K/V elements per token
  (GQA/MQA heads, or the MLA latent), the window that caps them (sliding or chunked attention),
  entries kept for the whole context at one per ``compress_ratio`` tokens (DeepSeek sparse
  attention's indexer keys, DeepSeek-V4's compressed KV), or a fixed-size recurrent state
  (Mamba-2, Gated DeltaNet) that does not grow with the context.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal

from canserve.errors import CatalogError

__all__ = ["CacheLayer", "ModelSpec", "Tensor", "TensorRole"]

TensorRole = Literal["embed", "lm_head", "norm", "router", "linear", "expert", "other"]

# kind -> role. "linear" and "expert" tensors are the 2-D matrices that weight-quantization
# formats compress; "expert" marks routed mixture-of-experts weights (shared experts are "linear").
_ROLE_OF_KIND: dict[str, TensorRole] = {
    "embed": "embed",
    "lm_head": "lm_head",
    "norm": "norm",
    "router": "router",
    **{
        k: "linear"
        for k in (
            "attn_q",
            "attn_k",
            "attn_v",
            "attn_o",
            "attn_q_a",
            "attn_q_b",
            "attn_kv_a",
            "attn_kv_b",
            "attn_kv",
            "attn_o_a",
            "attn_index",
            "attn_compress",
            "moe_latent",
            "mlp_gate",
            "mlp_up",
            "mlp_down",
            "shared_gate",
            "shared_up",
            "shared_down",
            "ssm_in",
            "ssm_out",
        )
    },
    **{k: "expert" for k in ("expert_gate", "expert_up", "expert_down", "expert_bias")},
    **{
        k: "other"
        for k in ("bias", "conv", "ssm_param", "sink", "shared_expert_gate", "hyper", "position")
    },
}


@dataclass(frozen=True, slots=True)
class Tensor:
    """One stored weight tensor (or ``copies`` identical-shaped ones, e.g. routed experts).

    ``shape`` follows PyTorch ``nn.Linear`` convention for matrices: ``(out_features,
    in_features)``. ``name`` is the module path the checkpoint stores it under, inside its layer
    (``self_attn.q_proj``) or at the top (``lm_head``); routed experts write their index as ``*``
    (``mlp.experts.*.down_proj``). Quantization configs name the modules they skip this way.
    """

    kind: str
    layer: int | None
    shape: tuple[int, ...]
    copies: int = 1
    name: str = ""

    def __post_init__(self) -> None:
        if self.kind not in _ROLE_OF_KIND:
            raise CatalogError(f"unknown tensor kind {self.kind!r}")

    @property
    def role(self) -> TensorRole:
        return _ROLE_OF_KIND[self.kind]

    @property
    def numel(self) -> int:
        """Elements over all copies."""
        return math.prod(self.shape) * self.copies


@dataclass(frozen=True, slots=True)
class CacheLayer:
    """What one layer keeps per sequence while serving.

    ``kv_elements_per_token``: K and V elements one token adds (``2 * kv_heads * head_dim`` for
    GQA/MQA; ``kv_lora_rank + qk_rope_head_dim`` for MLA, stored once for K and V).
    ``window_tokens``: the most tokens this layer ever keeps (sliding window or attention chunk);
    ``None`` means the whole context. ``compressed_elements_per_entry`` and ``compress_ratio``:
    beside that, entries kept over the whole context, one per ``compress_ratio`` tokens (the
    128-wide lightning-indexer key of DeepSeek-V3.2 and GLM-5 at ratio 1; DeepSeek-V4's compressed
    KV at ratio 4 or 128). ``state_elements``: a fixed per-sequence state (Mamba-2 or Gated DeltaNet
    conv + recurrent state, DeepSeek-V4's compression buffers), independent of the context length.
    """

    kind: Literal["attention", "mla", "state"]
    kv_elements_per_token: int = 0
    window_tokens: int | None = None
    state_elements: int = 0
    compressed_elements_per_entry: int = 0
    compress_ratio: int = 1


@dataclass(frozen=True, eq=False)
class ModelSpec:
    """A decoder-only LLM: its dimensions (Hugging Face names), tensors and cache layout.

    Equality is identity (specs are built once and cached), which keeps them cheap to hash.
    """

    model_id: str
    model_type: str
    hidden_size: int
    num_hidden_layers: int
    vocab_size: int
    num_attention_heads: int
    num_key_value_heads: int
    head_dim: int
    intermediate_size: int
    max_position_embeddings: int
    tie_word_embeddings: bool
    tensors: tuple[Tensor, ...]
    cache_layers: tuple[CacheLayer, ...]
    torch_dtype: str = "bfloat16"
    num_experts: int = 0
    num_experts_per_tok: int = 0
    moe_intermediate_size: int = 0
    shared_expert_intermediate_size: int = 0
    checkpoint_quantization: str | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)
    # bytes by tensor role as stored in a weights file (a GGUF), when the spec came from one
    file_bytes_by_role: tuple[tuple[str, int], ...] = ()
    # tensors the checkpoint stores in another format than checkpoint_quantization (a ModelOpt
    # exclude list keeps them in 16-bit, or a mixed-precision checkpoint uses FP8 for them)
    checkpoint_tensor_formats: tuple[tuple[Tensor, str], ...] = ()

    @cached_property
    def checkpoint_formats(self) -> dict[Tensor, str]:
        """Tensor -> format id, for the tensors listed in ``checkpoint_tensor_formats``."""
        return dict(self.checkpoint_tensor_formats)

    @cached_property
    def params_total(self) -> int:
        """Every stored parameter once (tied embeddings once), as transformers instantiates."""
        return sum(t.numel for t in self.tensors)

    @cached_property
    def routed_expert_params(self) -> int:
        return sum(t.numel for t in self.tensors if t.role == "expert")

    @cached_property
    def params_active(self) -> int:
        """Parameters one token uses: routed experts count ``num_experts_per_tok / num_experts``.

        Shared experts, routers, attention and embeddings count in full. The input embedding is
        a lookup, not a matmul, but it is counted (as Hugging Face and model cards count it).
        """
        if not self.num_experts:
            return self.params_total
        unused = self.routed_expert_params * (self.num_experts - self.num_experts_per_tok)
        return self.params_total - unused // self.num_experts

    @property
    def is_moe(self) -> bool:
        return self.num_experts > 0

    @cached_property
    def attention_layers(self) -> int:
        """Layers with a per-token K/V cache (not recurrent-state layers)."""
        return sum(1 for c in self.cache_layers if c.kind != "state")

    @cached_property
    def active_inner_width(self) -> int:
        """Widest per-token MLP intermediate of any layer: dense/shared MLP rows plus
        ``num_experts_per_tok`` routed experts' rows (what one token's MLP activations span)."""
        width: dict[int | None, int] = {}
        for t in self.tensors:
            if t.kind in {"mlp_up", "shared_up"}:
                width[t.layer] = width.get(t.layer, 0) + t.shape[0]
            elif t.kind == "expert_up":
                width[t.layer] = width.get(t.layer, 0) + t.shape[0] * self.num_experts_per_tok
        return max(width.values(), default=0)

    def params_by_role(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for t in self.tensors:
            out[t.role] = out.get(t.role, 0) + t.numel
        return out
