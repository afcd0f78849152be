"""One deployment, as every model in canserve sees it: :class:`ServingConfig`.

The same serving knobs (GPU type, tensor/pipeline/data parallel layout, weight and KV formats,
engine, longest sequence, scheduler limits, memory headroom, calibration) used to be threaded by
hand through memory, performance, simulation and planning. Now they are resolved and validated
once, by :func:`serving_config`, into one frozen object that every estimator takes. Field names
follow vLLM's engine arguments (``tensor_parallel_size``, ``max_model_len``, ``max_num_seqs``,
``kv_cache_dtype``); :func:`serving_config` takes the CLI's short spellings (``tp``, ``pp``,
``context``, ``kv_dtype``).

Layout rule, the same in every command: ``gpus`` is the total count. Without ``tp`` the replica
spans all of them (``tp = gpus / (pp x replicas)``); with ``tp`` the GPUs left over are
data-parallel replicas.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from canserve.arch.spec import ModelSpec
from canserve.catalog.frameworks import Framework, get_framework
from canserve.catalog.gpus import GPU, get_gpu
from canserve.catalog.quant import QuantFormat, get_quant
from canserve.errors import InvalidInputError
from canserve.kv import kv_bits
from canserve.validation import (
    MAX_BATCH,
    MAX_GPUS,
    MAX_REPLICAS,
    MAX_TOKENS,
    check_float,
    check_int,
    check_optional_int,
)

if TYPE_CHECKING:  # perf imports this module; the calibration loader is imported on use
    from canserve.perf.calibration import Calibration

__all__ = [
    "DEFAULT_CONTEXT_TOKENS",
    "DEFAULT_HEADROOM",
    "DEFAULT_OUTPUT_TOKENS",
    "DEFAULT_PROMPT_TOKENS",
    "ServingConfig",
    "default_quant",
    "serving_config",
]

DEFAULT_CONTEXT_TOKENS = 8192  # the article's production case: 8K context windows
DEFAULT_HEADROOM = 0.20  # the article's checklist: "Model loads with 20% VRAM headroom"
# One request shape for every command that needs one (simulate, plan, cost, bench, perf): a
# chat turn with a few hundred tokens of prompt and a shorter answer.
DEFAULT_PROMPT_TOKENS = 512
DEFAULT_OUTPUT_TOKENS = 256
MAX_TENSOR_PARALLEL = 1024


def default_quant(spec: ModelSpec) -> QuantFormat:
    """The format the checkpoint ships in (its quantization_config), else 16-bit."""
    return get_quant(spec.checkpoint_quantization or "bf16")


@dataclass(frozen=True)
class ServingConfig:
    """A model served on ``replicas`` replicas of ``tensor_parallel_size x
    pipeline_parallel_size`` GPUs each (``gpu`` None: no device chosen, memory sizing only)."""

    model: ModelSpec
    quant: QuantFormat
    framework: Framework
    calibration: Calibration
    gpu: GPU | None = None
    tensor_parallel_size: int = 1
    pipeline_parallel_size: int = 1
    replicas: int = 1
    kv_cache_dtype: str = "auto"
    max_model_len: int | None = None  # the longest sequence the server accepts (None: model's)
    max_num_seqs: int | None = None  # None: the engine's default for the GPU
    max_num_batched_tokens: int | None = None  # None: the engine's default prefill chunk
    headroom: float = DEFAULT_HEADROOM

    @property
    def tp(self) -> int:
        return self.tensor_parallel_size

    @property
    def pp(self) -> int:
        return self.pipeline_parallel_size

    @property
    def gpus_per_replica(self) -> int:
        return self.tensor_parallel_size * self.pipeline_parallel_size

    @property
    def gpu_count(self) -> int:
        return self.gpus_per_replica * self.replicas

    @property
    def kv_bits(self) -> float:
        return kv_bits(self.kv_cache_dtype)

    @property
    def model_len(self) -> int:
        """The longest sequence: ``max_model_len``, else the model's own maximum."""
        return self.max_model_len or self.model.max_position_embeddings

    def require_gpu(self, command: str) -> GPU:
        if self.gpu is None:
            raise InvalidInputError(f"{command} needs a GPU (--gpu NAME; see: canserve gpus)")
        return self.gpu

    def with_changes(self, **changes: Any) -> ServingConfig:
        """A copy with some fields changed, validated again."""
        return _validated(replace(self, **changes))


def _validated(cfg: ServingConfig) -> ServingConfig:
    spec = cfg.model
    check_int("tensor_parallel_size", cfg.tensor_parallel_size, 1, MAX_TENSOR_PARALLEL)
    check_int("pipeline_parallel_size", cfg.pipeline_parallel_size, 1, spec.num_hidden_layers)
    check_int("replicas", cfg.replicas, 1, MAX_REPLICAS)
    check_int("gpus", cfg.gpu_count, 1, MAX_GPUS)
    if spec.num_attention_heads % cfg.tensor_parallel_size:
        raise InvalidInputError(
            f"tensor_parallel_size {cfg.tensor_parallel_size} does not divide the model's "
            f"{spec.num_attention_heads} attention heads"
        )
    if cfg.gpu is not None and cfg.gpu.vendor == "cpu" and cfg.gpus_per_replica > 1:
        raise InvalidInputError("the host CPU runs one replica on one device: use tp 1 and pp 1")
    if cfg.max_model_len is not None and not 1 <= cfg.max_model_len <= spec.max_position_embeddings:
        raise InvalidInputError(
            f"context (max_model_len) must be between 1 and the model's maximum "
            f"{spec.max_position_embeddings:,} tokens, got {cfg.max_model_len:,}"
        )
    check_optional_int("max_num_seqs", cfg.max_num_seqs, 1, MAX_BATCH)
    check_optional_int("max_num_batched_tokens", cfg.max_num_batched_tokens, 1, MAX_TOKENS)
    check_float("headroom", cfg.headroom, 0.0, 0.9)
    kv_bits(cfg.kv_cache_dtype)  # an unknown KV dtype fails here, once
    return cfg


def _layout(
    gpus: int | None, tp: int | None, pp: int, replicas: int | None
) -> tuple[int, int, int]:
    """(tensor_parallel_size, pipeline_parallel_size, replicas) from the count flags."""
    check_int("pipeline_parallel_size", pp, 1, MAX_GPUS)
    if replicas is not None:
        check_int("replicas", replicas, 1, MAX_REPLICAS)
    if gpus is None:
        return tp or 1, pp, replicas or 1
    check_int("gpus", gpus, 1, MAX_GPUS)
    if tp is None:
        per_replica = pp * (replicas or 1)
        if gpus % per_replica:
            raise InvalidInputError(f"{gpus} GPUs do not split into {per_replica} equal parts")
        return gpus // per_replica, pp, replicas or 1
    check_int("tensor_parallel_size", tp, 1, MAX_TENSOR_PARALLEL)
    if gpus % (tp * pp):
        raise InvalidInputError(f"{gpus} GPUs is not a multiple of tp x pp = {tp * pp}")
    if replicas is not None and replicas * tp * pp != gpus:
        raise InvalidInputError(
            f"{gpus} GPUs != tp {tp} x pp {pp} x replicas {replicas} = {tp * pp * replicas}"
        )
    return tp, pp, gpus // (tp * pp)


def serving_config(
    model: ModelSpec,
    *,
    gpu: GPU | str | None = None,
    gpus: int | None = None,
    tp: int | None = None,
    pp: int | None = None,
    replicas: int | None = None,
    quant: QuantFormat | str | None = None,
    kv_dtype: str = "auto",
    framework: Framework | str = "vllm",
    context: int | None = None,
    max_num_seqs: int | None = None,
    max_num_batched_tokens: int | None = None,
    headroom: float = DEFAULT_HEADROOM,
    calibration: Calibration | str | Path | dict[str, Any] | None = None,
) -> ServingConfig:
    """Resolve names (GPU, format, engine, calibration) and counts into a validated
    :class:`ServingConfig` (see the module docstring for the layout rule)."""
    device = get_gpu(gpu) if isinstance(gpu, str) else gpu
    if gpus is not None and device is None:
        raise InvalidInputError("gpus needs a GPU type (--gpu NAME)")
    tp_size, pp_size, n_replicas = _layout(gpus, tp, 1 if pp is None else pp, replicas)
    from canserve.perf.calibration import Calibration, load_calibration

    cal = calibration if isinstance(calibration, Calibration) else load_calibration(calibration)
    return _validated(
        ServingConfig(
            model=model,
            quant=get_quant(quant) if isinstance(quant, str) else quant or default_quant(model),
            framework=get_framework(framework) if isinstance(framework, str) else framework,
            calibration=cal,
            gpu=device,
            tensor_parallel_size=tp_size,
            pipeline_parallel_size=pp_size,
            replicas=n_replicas,
            kv_cache_dtype=kv_dtype,
            max_model_len=context,
            max_num_seqs=max_num_seqs,
            max_num_batched_tokens=max_num_batched_tokens,
            headroom=headroom,
        )
    )
