"""KV cache sizing from a model's real cache layout.

Per layer (:class:`~canserve.arch.spec.CacheLayer`): GQA/MQA layers store ``2 * kv_heads *
head_dim`` elements per token, MLA layers the compressed latent ``kv_lora_rank +
qk_rope_head_dim`` (as vLLM and SGLang store it), sliding-window and chunked-attention layers at
most their window, and recurrent layers (Mamba-2, Gated DeltaNet) a fixed state per sequence.
Entries kept at one per ``compress_ratio`` tokens over the whole context come on top: the
lightning indexer's 128-wide key of DeepSeek-V3.2 and GLM-5 (ratio 1: their cache is 704 elements
per token and layer instead of V3's 576, +22%) and DeepSeek-V4's compressed KV (ratio 4 or 128).

The article's formula ``2 * layers * hidden_size * tokens * bytes`` assumes every attention head
has its own K and V; with grouped-query attention only ``num_key_value_heads`` do (Llama 3.1
70B: 8 of 64), so the real cache is ``num_attention_heads / num_key_value_heads`` times smaller.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

from canserve.arch.spec import ModelSpec
from canserve.errors import InvalidInputError
from canserve.gguf_recipes import gguf_bits_per_weight

__all__ = ["KVLayout", "kv_bits", "kv_layout"]

# KV cache element types, in bits. vLLM --kv-cache-dtype {auto, fp8, fp8_e4m3, fp8_e5m2}
# (docs.vllm.ai "Quantized KV Cache", 2026-11-26); TensorRT-LLM int8/fp8 KV; llama.cpp
# --cache-type-k/-v {f16, q8_0, q4_0} whose bits come from the gguf package's table.
_KV_BITS: dict[str, float] = {
    "bf16": 16,
    "fp16": 16,
    "float16": 16,
    "bfloat16": 16,
    "f16": 16,
    "fp32": 32,
    "fp8": 8,
    "fp8_e4m3": 8,
    "fp8_e5m2": 8,
    "int8": 8,
}
_GGUF_KV = {"q8_0": "Q8_0", "q4_0": "Q4_0", "q5_0": "Q5_0"}


def kv_bits(kv_dtype: str) -> float:
    """Bits per cached element; ``auto`` means the model's 16-bit activation dtype."""
    key = kv_dtype.lower()
    if key == "auto":
        return 16.0
    if key in _GGUF_KV:
        return gguf_bits_per_weight(_GGUF_KV[key])
    if key not in _KV_BITS:
        choices = ", ".join(["auto", *_KV_BITS, *_GGUF_KV])
        raise InvalidInputError(f"unknown KV cache dtype {kv_dtype!r} (choose from {choices})")
    return _KV_BITS[key]


@dataclass(frozen=True)
class KVLayout:
    """A model's cache layout on one GPU of a tensor-parallel group, in elements.

    ``groups`` holds, per (window, tokens per entry), the elements one entry takes summed over the
    layers that keep such entries: ``(None, 1, e)`` for whole-context K/V, ``(4096, 1, e)`` for
    4096-token sliding windows, ``(None, 4, e)`` for one compressed entry per 4 tokens.
    ``state_elements`` is the fixed recurrent state per sequence. ``mla`` is true when the cache
    is an MLA latent (replicated on every tensor-parallel rank by vLLM).
    """

    groups: tuple[tuple[int | None, int, int], ...]
    state_elements: int
    mla: bool

    def elements_per_sequence(self, tokens: int) -> int:
        return sum(e * ((tokens if w is None else min(tokens, w)) // r) for w, r, e in self.groups)

    def elements_per_token_at(self, tokens: int) -> float:
        """K/V elements one more token adds at ``tokens``, on average (windows already full
        drop out; compressed entries add ``1 / ratio`` of an entry per token)."""
        return sum(e / r for w, r, e in self.groups if w is None or tokens < w)


@lru_cache(maxsize=512)
def kv_layout(spec: ModelSpec, tp: int = 1) -> KVLayout:
    """Cache layout per GPU when attention heads are split over ``tp`` ranks.

    GQA: each rank keeps ``max(1, kv_heads // tp)`` KV heads (vLLM replicates KV heads when
    ``tp > kv_heads``). MLA: the latent is not split; every rank keeps all of it. Recurrent state:
    split over ranks with the heads.
    """
    groups: dict[tuple[int | None, int], int] = {}
    state = 0
    mla = any(layer.kind == "mla" for layer in spec.cache_layers)
    for layer in spec.cache_layers:
        if layer.kind == "state":  # recurrent heads split over the ranks
            state += math.ceil(layer.state_elements / tp)
            continue
        state += _rank_share(spec, layer.kind, layer.state_elements, tp)
        for key, elements in (
            ((layer.window_tokens, 1), layer.kv_elements_per_token),
            ((None, layer.compress_ratio), layer.compressed_elements_per_entry),
        ):
            if elements:
                groups[key] = groups.get(key, 0) + _rank_share(spec, layer.kind, elements, tp)
    return KVLayout(tuple((w, r, e) for (w, r), e in groups.items()), state, mla)


def _rank_share(spec: ModelSpec, kind: str, elements: int, tp: int) -> int:
    """Elements one of ``tp`` ranks keeps: each keeps ``max(1, kv_heads // tp)`` KV heads (vLLM
    replicates KV heads when ``tp > kv_heads``); an MLA latent is kept whole on every rank."""
    kv_heads = spec.num_key_value_heads
    if kind == "mla" or tp == 1:
        return elements
    return elements * max(1, kv_heads // tp) // kv_heads
