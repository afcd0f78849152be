"""What one decode or prefill step reads and computes, per GPU of a tensor-parallel group.

Bytes come from the exact weight inventory (:mod:`canserve.weights`) under the quantization
format; FLOPs from the parameters the tokens of a step actually multiply (2 per parameter per
token). Routed experts are counted by how many distinct experts a step's tokens touch: with
uniform routing of ``M`` tokens, each choosing ``k`` of ``E`` experts, a layer reads
``E * (1 - (1 - k/E)**M)`` experts, not ``k``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from canserve.arch.spec import ModelSpec
from canserve.catalog.quant import QuantFormat
from canserve.weights import tensor_bytes, tp_share

__all__ = ["ModelCosts", "attention_groups", "experts_touched", "model_costs"]


@dataclass(frozen=True)
class ModelCosts:
    """Per GPU of a ``tp``-way group, over all layers of the model."""

    dense_bytes: float  # attention / dense-MLP / shared-expert / SSM matrices + small tensors
    dense_params: float  # parameters every token multiplies (excluding the LM head)
    head_bytes: float  # the LM head (the embedding matrix when tied)
    head_params: float
    expert_bytes: float  # one routed expert, summed over the MoE layers
    expert_params: float
    moe_layers: int


def experts_touched(tokens: float, experts: int, top_k: int) -> float:
    """Expected distinct experts ``tokens`` tokens select in one layer (uniform routing)."""
    if experts == 0 or tokens <= 0:
        return 0.0
    return float(experts * (1.0 - (1.0 - top_k / experts) ** tokens))


@lru_cache(maxsize=512)
def model_costs(spec: ModelSpec, fmt: QuantFormat, tp: int) -> ModelCosts:
    dense_b = dense_p = head_b = head_p = expert_b = expert_p = 0.0
    for t in spec.tensors:
        share = tp_share(t, spec, tp)
        nbytes = tensor_bytes(t, fmt, spec) * share
        if t.role == "embed":
            if spec.tie_word_embeddings:
                head_b, head_p = head_b + nbytes, head_p + t.numel * share
            continue  # the input embedding is a lookup: one row per token
        if t.role == "lm_head":
            head_b, head_p = head_b + nbytes, head_p + t.numel * share
        elif t.role == "expert":
            expert_b += nbytes / t.copies
            expert_p += t.numel * share / t.copies
        else:
            dense_b += nbytes
            if len(t.shape) == 2:
                dense_p += t.numel * share
    moe_layers = len({t.layer for t in spec.tensors if t.kind == "expert_up"})
    return ModelCosts(
        dense_bytes=dense_b,
        dense_params=dense_p,
        head_bytes=head_b,
        head_params=head_p,
        expert_bytes=expert_b,
        expert_params=expert_p,
        moe_layers=moe_layers,
    )


@lru_cache(maxsize=512)
def attention_groups(spec: ModelSpec, tp: int) -> tuple[tuple[int | None, float], ...]:
    """Per window (None: global), the attention FLOPs of one query-key pair summed over the
    layers with that window, on one GPU: ``4 x head_dim`` per head (QK^T and PV). MLA runs in
    its latent space (weights absorbed, as vLLM does): ``4 x (kv_lora_rank + rope)`` per head,
    about 6% high since V uses only the ``kv_lora_rank`` part."""
    heads_gpu = spec.num_attention_heads / tp
    groups: dict[int | None, float] = {}
    for layer in spec.cache_layers:
        if layer.kind == "state":
            continue
        width = 4 * (layer.kv_elements_per_token if layer.kind == "mla" else spec.head_dim)
        groups[layer.window_tokens] = groups.get(layer.window_tokens, 0.0) + width * heads_gpu
    return tuple(groups.items())
