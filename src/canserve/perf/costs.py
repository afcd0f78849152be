"""What one step reads and multiplies, per GPU of a tensor-parallel group: the model's GEMMs.

The GEMMs come from the exact weight inventory (:mod:`canserve.weights`) under the quantization
format, fused the way serving engines fuse them (Q, K and V projections in one GEMM; gate and
up projections in one), each with its per-GPU shape ``n x k`` (output x input features: column-
parallel layers split ``n``, row-parallel ones ``k``) and stored bytes. Routed experts are
counted by how many distinct experts a step's tokens touch: with uniform routing of ``M``
tokens, each choosing ``k`` of ``E`` experts, a layer reads ``E * (1 - (1 - k/E)**M)`` experts,
not ``k``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

from canserve.arch.spec import ModelSpec, Tensor
from canserve.catalog.quant import QuantFormat
from canserve.weights import tensor_bytes, tp_share

__all__ = [
    "Gemm",
    "ModelCosts",
    "attention_groups",
    "attention_shape",
    "experts_touched",
    "model_costs",
]

# Tensors an engine multiplies in one GEMM (vLLM's QKVParallelLinear, MergedColumnParallelLinear).
_FUSED = {
    "attn_q": "qkv",
    "attn_k": "qkv",
    "attn_v": "qkv",
    "attn_q_a": "qkv_a",
    "attn_kv_a": "qkv_a",
    "mlp_gate": "gate_up",
    "mlp_up": "gate_up",
    "shared_gate": "shared_gate_up",
    "shared_up": "shared_gate_up",
    "expert_gate": "expert_gate_up",
    "expert_up": "expert_gate_up",
}
# Row-parallel layers split their input features over tensor-parallel ranks.
_ROW_PARALLEL = {"attn_o", "mlp_down", "shared_down", "expert_down", "ssm_out"}


@dataclass(frozen=True)
class Gemm:
    """One GEMM of a forward pass, on one GPU: ``tokens x k`` activations times ``k x n``
    weights, run by ``count`` layers. For routed experts, ``nbytes`` is one expert's."""

    name: str
    count: int
    n: float
    k: float
    nbytes: float
    quantized: bool  # stored below 16 bits (W8A8 formats also quantize its input)


@dataclass(frozen=True)
class ModelCosts:
    """Per GPU of a ``tp``-way group, over all layers of the model."""

    dense: tuple[Gemm, ...]  # GEMMs every token runs (attention, dense MLP, shared experts)
    experts: tuple[Gemm, ...]  # routed-expert GEMMs (grouped over the experts a step touches)
    routers: tuple[Gemm, ...]  # the routers' small GEMMs
    head: Gemm
    small_bytes: float  # norms, biases, convolutions: read by small kernels every step
    moe_layers: int

    @property
    def dense_bytes(self) -> float:
        return sum(g.count * g.nbytes for g in self.dense)

    @property
    def expert_bytes(self) -> float:
        """One routed expert per MoE layer, summed over the layers."""
        return sum(g.count * g.nbytes for g in self.experts)


def experts_touched(tokens: float, experts: int, top_k: int) -> float:
    """Expected distinct experts ``tokens`` tokens select in one layer (uniform routing)."""
    if experts == 0 or tokens <= 0:
        return 0.0
    return float(experts * (1.0 - (1.0 - top_k / experts) ** tokens))


@dataclass
class _Group:
    n: float = 0.0
    k: float = 0.0
    nbytes: float = 0.0
    quantized: bool = False


def _add(
    groups: dict[tuple[int | None, str], _Group],
    t: Tensor,
    nbytes: float,
    share: float,
    quantized: bool,
) -> None:
    name = _FUSED.get(t.kind, t.kind)
    g = groups.setdefault((t.layer, name), _Group())
    out, inp = t.shape[0], t.shape[1]
    if t.kind in _ROW_PARALLEL:
        g.n, g.k = out, inp * share
    else:
        g.n, g.k = g.n + out * share, inp
    g.nbytes += nbytes
    g.quantized = g.quantized or quantized


def _collect(groups: dict[tuple[int | None, str], _Group]) -> tuple[Gemm, ...]:
    counts: dict[tuple[str, float, float, float, bool], int] = {}
    for (_, name), g in groups.items():
        key = (name, g.n, g.k, g.nbytes, g.quantized)
        counts[key] = counts.get(key, 0) + 1
    return tuple(Gemm(name, c, n, k, b, q) for (name, n, k, b, q), c in counts.items())


@lru_cache(maxsize=512)
def model_costs(spec: ModelSpec, fmt: QuantFormat, tp: int) -> ModelCosts:
    dense: dict[tuple[int | None, str], _Group] = {}
    experts: dict[tuple[int | None, str], _Group] = {}
    router: dict[tuple[int | None, str], _Group] = {}
    head: dict[tuple[int | None, str], _Group] = {}
    small = 0.0
    for t in spec.tensors:
        share = tp_share(t, spec, tp)
        stored = tensor_bytes(t, fmt, spec)
        nbytes = stored * share
        quantized = stored < 1.98 * t.numel  # below 16 bits per weight
        if t.role == "embed" and not spec.tie_word_embeddings:
            continue  # the input embedding is a lookup: one row per token
        if t.role in ("embed", "lm_head"):
            _add(head, Tensor("lm_head", None, t.shape), nbytes, share, quantized)
        elif t.role == "expert" and len(t.shape) == 2:
            _add(experts, t, nbytes / t.copies, share, quantized)
        elif t.role == "router" and len(t.shape) == 2:
            _add(router, t, nbytes, share, quantized)
        elif t.role == "linear" and len(t.shape) == 2:
            _add(dense, t, nbytes, share, quantized)
        else:
            small += nbytes
    return ModelCosts(
        dense=_collect(dense),
        experts=_collect(experts),
        routers=_collect(router),
        head=_collect(head)[0],
        small_bytes=small,
        moe_layers=len({t.layer for t in spec.tensors if t.kind == "expert_up"}),
    )


@lru_cache(maxsize=512)
def attention_shape(spec: ModelSpec, tp: int) -> tuple[int, int]:
    """(KV heads, query heads per KV head) of one attention layer on one GPU. MLA caches one
    latent that every query head reads (multi-query attention on the latent), so it has one KV
    head and all the GPU's query heads share it."""
    heads_gpu = max(1, spec.num_attention_heads // tp)
    if any(layer.kind == "mla" for layer in spec.cache_layers):
        return 1, heads_gpu
    kv_gpu = max(1, spec.num_key_value_heads // tp)
    return kv_gpu, max(1, math.ceil(heads_gpu / kv_gpu))


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
