"""From a planned layout to what a team runs: the longest request the server accepts, the
weights it serves, the commands and the manifest.

``max_model_len`` is the user's ``--context`` when given (a layout whose KV cache cannot hold
one such sequence beside the planned batch is rejected), else the model's own maximum, capped by
the longest sequence the KV cache holds beside the planned batch (vLLM refuses to start when
one ``max_model_len`` sequence does not fit). :class:`~canserve.plan.checklist.Lengths` says
which applied and how many sequences of that length fit at once.
"""

from __future__ import annotations

from canserve.deploy import Deployment, Weights, resolve_weights
from canserve.errors import InvalidInputError
from canserve.memory import estimate_memory
from canserve.plan.checklist import Lengths
from canserve.serving import ServingConfig

__all__ = ["GPU_MEMORY_UTILIZATION", "deployment_of", "plan_lengths", "weights_of"]

GPU_MEMORY_UTILIZATION = 0.9  # vLLM's default; canserve's 20% headroom check is stricter


def weights_of(cfg: ServingConfig) -> Weights:
    spec = cfg.model
    return resolve_weights(spec.model_id, cfg.quant, spec.checkpoint_quantization)


def plan_lengths(
    cfg: ServingConfig, request_tokens: int, batch: int, context: int | None
) -> Lengths:
    """The planned ``max_model_len`` for one replica running ``batch`` sequences (see module
    docstring); raises InvalidInputError when a given ``context`` does not fit."""
    spec = cfg.model
    sized = cfg.with_changes(max_num_seqs=batch)
    longest = estimate_memory(sized, batch=1, context=request_tokens).max_context_tokens or 0
    model_max = spec.max_position_embeddings
    if context is not None:
        if longest < context:
            raise InvalidInputError(
                f"context {context:,} does not fit: the KV cache holds {longest:,} tokens beside "
                f"{batch} sequences' activations with {cfg.headroom:.0%} headroom"
            )
        length, source = context, "given (--context)"
    elif longest >= model_max:
        length, source = model_max, "the model's maximum"
    else:
        length = longest
        source = (
            f"the KV cache's limit beside the planned batch of {batch} (the model allows "
            f"{model_max:,}; --context plans for a length)"
        )
    at_length = estimate_memory(sized, batch=1, context=length).max_concurrent_sequences or 0
    return Lengths(length, source, longest, at_length)


def deployment_of(
    cfg: ServingConfig, replicas: int, batch: int, chunk: int, lengths: Lengths
) -> Deployment:
    """The serving commands' view of one planned layout."""
    gpu = cfg.require_gpu("plan")
    return Deployment(
        model_id=cfg.model.model_id,
        weights=weights_of(cfg),
        tensor_parallel_size=cfg.tp,
        pipeline_parallel_size=cfg.pp,
        replicas=replicas,
        max_model_len=lengths.max_model_len,
        max_num_seqs=batch,
        max_num_batched_tokens=chunk,
        gpu_memory_utilization=GPU_MEMORY_UTILIZATION,
        kv_cache_dtype=cfg.kv_cache_dtype,
        quantization=cfg.quant.id,
        vendor="amd" if gpu.vendor == "amd" else "nvidia",
        kv_capacity_tokens=lengths.kv_capacity_tokens,
    )
