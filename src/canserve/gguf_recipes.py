"""Which GGML type llama.cpp's quantizer gives each tensor of a GGUF mix (Q4_K_M, ...).

A re-statement of the rules in ``llama_tensor_get_type`` (llama.cpp ``src/llama-quant.cpp``,
read 2026-11-26) for the mixes canserve offers, without importance matrices. Bits per weight come
from the ``gguf`` package's ``GGML_QUANT_SIZES`` table, never retyped. Known simplifications:
fused QKV tensors (Phi-3, Falcon) are treated as separate q/k/v; tensors llama.cpp never
quantizes (norms, biases, routers, SSM parameters, conv weights) stay F32 if 1-D, else F16.
"""

from __future__ import annotations

from functools import cache

from canserve.arch.spec import ModelSpec, Tensor

__all__ = ["gguf_bits_per_weight", "gguf_tensor_type"]

_DOWN_KINDS = {"mlp_down", "expert_down", "shared_down"}
# K-quant types need rows divisible by their 256-element super-block; llama.cpp falls back.
_FALLBACK = {"Q2_K": "IQ4_NL", "Q3_K": "IQ4_NL", "Q4_K": "Q5_0", "Q5_K": "Q5_1", "Q6_K": "Q8_0"}


@cache
def _quant_sizes() -> dict[str, tuple[int, int]]:
    import gguf  # imported lazily: only GGUF estimates need it

    return {t.name: (int(b), int(s)) for t, (b, s) in gguf.GGML_QUANT_SIZES.items()}


def gguf_bits_per_weight(ggml_type: str) -> float:
    """Stored bits per element of a GGML type (Q4_K: 4.5, Q6_K: 6.5625, ...)."""
    block, size = _quant_sizes()[ggml_type]
    return size * 8 / block


def gguf_tensor_bytes(ggml_type: str, numel: int) -> int:
    block, size = _quant_sizes()[ggml_type]
    return -(-numel // block) * size


def _use_more_bits(i: int, n: int) -> bool:
    return i < n // 8 or i >= 7 * n // 8 or (i - n // 8) % 3 == 2


def _index_among(spec: ModelSpec, t: Tensor, kinds: set[str]) -> tuple[int, int]:
    """Position of ``t`` among the model's tensors of ``kinds``, and how many there are."""
    same = [x for x in spec.tensors if x.kind in kinds]
    return next(i for i, x in enumerate(same) if x is t), len(same)


def _output_type(base: str, spec: ModelSpec, in_features: int) -> str:
    if base in {"Q8_0", "F16"}:
        return base
    if spec.model_type in {"falcon", "RefinedWeb", "RefinedWebModel"} or in_features % 256:
        return "Q8_0"
    return "Q6_K"


def _attn_v_type(ftype: str, base: str, spec: ModelSpec, i: int, n: int) -> str:
    n_gqa = spec.num_attention_heads // max(1, spec.num_key_value_heads)
    new = base
    if ftype == "q2_k":
        new = "Q4_K" if n_gqa >= 4 else "Q3_K"
    elif ftype == "q3_k_m":
        new = "Q5_K" if i < 2 else "Q4_K"
    elif ftype in {"q4_k_m", "q5_k_m"} and _use_more_bits(i, n):
        new = "Q6_K"
    elif ftype == "q4_k_s" and i < 4:
        new = "Q5_K"
    if spec.model_type == "llama" and spec.num_hidden_layers == 80 and new in {"Q3_K", "Q4_K"}:
        new = "Q5_K"  # llama.cpp's LLM_TYPE_70B bump
    return "Q8_0" if spec.num_experts == 8 else new


def _ffn_down_type(ftype: str, base: str, spec: ModelSpec, i: int, n: int) -> str:
    falcon = spec.model_type in {"falcon", "RefinedWeb", "RefinedWebModel"}
    if ftype == "q2_k":
        return "Q3_K"
    if ftype == "q3_k_m":
        if i < n // 16:
            return "Q5_K"
        return "Q4_K" if not falcon or _use_more_bits(i, n) else "Q3_K"
    if ftype == "q4_k_m":
        if falcon:
            return "Q6_K" if i < n // 16 else "Q5_K" if _use_more_bits(i, n) else "Q4_K"
        return "Q6_K" if _use_more_bits(i, n) else base
    if ftype == "q5_k_m" and _use_more_bits(i, n):
        return "Q6_K"
    if ftype == "q4_k_s" and not falcon and i < n // 8:
        return "Q5_K"
    return base


def _attn_output_type(ftype: str, base: str, spec: ModelSpec) -> str:
    if spec.model_type in {"falcon", "RefinedWeb", "RefinedWebModel"}:
        return base
    if spec.num_experts == 8:
        return "Q5_K" if ftype in {"q2_k", "q3_k_m", "q4_k_s", "q4_k_m"} else base
    return {"q2_k": "Q3_K", "q3_k_m": "Q4_K"}.get(ftype, base)


def gguf_tensor_type(ftype: str, base: str, t: Tensor, spec: ModelSpec) -> str:
    """The GGML type of tensor ``t`` in a ``ftype`` GGUF (``ftype`` a canserve id: 'q4_k_m')."""
    if t.role in {"norm", "other", "router"} or len(t.shape) != 2:
        return "F32" if len(t.shape) == 1 else "F16"
    in_features = t.shape[-1]
    if t.role == "lm_head" or (t.role == "embed" and spec.tie_word_embeddings):
        return _output_type(base, spec, in_features)
    new = base
    if t.kind == "attn_v":
        new = _attn_v_type(ftype, base, spec, *_index_among(spec, t, {"attn_v"}))
    elif t.kind == "attn_k" and spec.num_experts == 8:
        new = "Q8_0"
    elif t.kind in _DOWN_KINDS:
        new = _ffn_down_type(ftype, base, spec, *_index_among(spec, t, _DOWN_KINDS))
    elif t.kind == "attn_o":
        new = _attn_output_type(ftype, base, spec)
    block = _quant_sizes()[new][0]
    if in_features % block:
        new = _FALLBACK.get(new, "F16")
        if in_features % _quant_sizes()[new][0]:
            new = "F16"
    return new
