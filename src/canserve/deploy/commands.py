"""Serving commands for a planned deployment: vLLM, SGLang, TGI and llama.cpp.

Each command uses only flags of the engine version in ``catalog/data/engine_flags.toml`` (checked
by a test) and serves the weights :func:`~canserve.deploy.weights.resolve_weights` picked: the
original model, a named pre-quantized checkpoint, or the output of a quantization step printed
before the command. Lengths are the planned ``max_model_len``: TGI takes prompts of up to
``max_model_len - 1`` tokens (its launcher requires ``max_input_tokens < max_total_tokens`` and
``max_batch_prefill_tokens >= max_input_tokens``).
"""

from __future__ import annotations

import shlex
import tomllib
from dataclasses import dataclass
from functools import cache
from typing import Any

from canserve.catalog.loader import data_path
from canserve.deploy.weights import Weights

__all__ = ["Deployment", "engine_commands", "engine_image", "engine_versions", "vllm_command"]

# canserve kv dtype -> each engine's name for it
_VLLM_KV = {"fp8": "fp8", "fp8_e4m3": "fp8_e4m3", "fp8_e5m2": "fp8_e5m2"}
_SGLANG_KV = {"fp8": "fp8_e4m3", "fp8_e4m3": "fp8_e4m3", "fp8_e5m2": "fp8_e5m2"}
_LLAMA_KV = {"q8_0": "q8_0", "q4_0": "q4_0"}
# the engine's flag value for a format it quantizes to while loading
_SGLANG_ON_LOAD = {"fp8": "fp8"}
_TGI_ON_LOAD = {"fp8": "fp8", "nf4": "bitsandbytes-nf4", "nf4-dq": "bitsandbytes-nf4"}
_TGI_ON_LOAD_INT8 = "bitsandbytes"


@dataclass(frozen=True)
class Deployment:
    """What a serving command needs to know about a plan (``vendor``: nvidia or amd)."""

    model_id: str
    weights: Weights
    tensor_parallel_size: int
    pipeline_parallel_size: int
    replicas: int
    max_model_len: int
    max_num_seqs: int
    max_num_batched_tokens: int
    gpu_memory_utilization: float
    kv_cache_dtype: str  # canserve name: auto, fp8, q8_0, ...
    quantization: str  # canserve format id
    vendor: str = "nvidia"
    kv_capacity_tokens: int | None = None  # tokens the KV cache holds (llama.cpp allocates -c)
    port: int = 8000

    @property
    def gpus_per_replica(self) -> int:
        return self.tensor_parallel_size * self.pipeline_parallel_size

    @property
    def max_input_tokens(self) -> int:
        return max(1, self.max_model_len - 1)


@cache
def _engines() -> dict[str, dict[str, Any]]:
    with data_path("engine_flags.toml").open("rb") as fh:
        return {row["id"]: row for row in tomllib.load(fh)["engine"]}


def engine_versions() -> dict[str, dict[str, Any]]:
    return dict(_engines())


def engine_image(engine: str, vendor: str) -> str:
    """The container image for ``engine`` on ``vendor``'s GPUs (ROCm builds for AMD)."""
    row = _engines()[engine]
    return str(row["image_rocm"] if vendor == "amd" else row["image"])


def _join(argv: list[str]) -> str:
    return " ".join(shlex.quote(a) for a in argv)


def _with_note(d: Deployment, command: str) -> str:
    return f"# {d.weights.note}\n{command}"


def vllm_command(d: Deployment) -> str:
    w = d.weights
    argv = ["vllm", "serve", w.serve, "--host", "0.0.0.0", "--port", str(d.port)]
    if w.serve != d.model_id:
        argv += ["--served-model-name", d.model_id]
    argv += ["--tensor-parallel-size", str(d.tensor_parallel_size)]
    if d.pipeline_parallel_size > 1:
        argv += ["--pipeline-parallel-size", str(d.pipeline_parallel_size)]
    argv += [
        "--max-model-len",
        str(d.max_model_len),
        "--gpu-memory-utilization",
        f"{d.gpu_memory_utilization:.2f}",
        "--max-num-seqs",
        str(d.max_num_seqs),
        "--max-num-batched-tokens",
        str(d.max_num_batched_tokens),
    ]
    if d.kv_cache_dtype in _VLLM_KV:
        argv += ["--kv-cache-dtype", _VLLM_KV[d.kv_cache_dtype]]
    if w.on_load:
        argv += ["--quantization", w.on_load]
    return _with_note(d, _join(argv))


def _sglang_command(d: Deployment) -> str:
    w = d.weights
    argv = ["python", "-m", "sglang.launch_server", "--model-path", w.serve]
    if w.serve != d.model_id:
        argv += ["--served-model-name", d.model_id]
    argv += [
        "--host",
        "0.0.0.0",
        "--port",
        str(d.port),
        "--tp-size",
        str(d.gpus_per_replica),
        "--context-length",
        str(d.max_model_len),
        "--mem-fraction-static",
        f"{d.gpu_memory_utilization - 0.05:.2f}",
        "--max-running-requests",
        str(d.max_num_seqs),
        "--chunked-prefill-size",
        str(d.max_num_batched_tokens),
    ]
    if d.kv_cache_dtype in _SGLANG_KV:
        argv += ["--kv-cache-dtype", _SGLANG_KV[d.kv_cache_dtype]]
    if w.on_load and d.quantization in _SGLANG_ON_LOAD:
        argv += ["--quantization", _SGLANG_ON_LOAD[d.quantization]]
    return _with_note(d, _join(argv))


def _tgi_command(d: Deployment) -> str:
    w = d.weights
    argv = [
        "text-generation-launcher",
        "--model-id",
        w.serve,
        "--hostname",
        "0.0.0.0",
        "--port",
        str(d.port),
        "--num-shard",
        str(d.gpus_per_replica),
        "--max-input-tokens",
        str(d.max_input_tokens),
        "--max-total-tokens",
        str(d.max_model_len),
        "--max-batch-prefill-tokens",
        str(max(d.max_input_tokens, d.max_num_batched_tokens)),
        "--max-concurrent-requests",
        str(d.max_num_seqs),
    ]
    if w.on_load:
        argv += ["--quantize", _TGI_ON_LOAD.get(d.quantization, _TGI_ON_LOAD_INT8)]
    return _with_note(d, _join(argv))


def _llamacpp_command(d: Deployment) -> str:
    w = d.weights
    source = ["-hf", f"{w.serve}:{w.gguf_tag}"] if w.gguf_tag else ["-m", w.serve]
    total = d.max_model_len * d.max_num_seqs  # llama-server splits -c over its -np slots
    if d.kv_capacity_tokens is not None:
        total = min(total, d.kv_capacity_tokens)  # it allocates all of -c up front
    argv = [
        "llama-server",
        *source,
        "--alias",
        d.model_id,
        "--host",
        "0.0.0.0",
        "--port",
        str(d.port),
        "-c",
        str(total),
        "-np",
        str(d.max_num_seqs),
        "-ngl",
        "999",
        "-fa",
        "on",
    ]
    if d.kv_cache_dtype in _LLAMA_KV:
        argv += ["--cache-type-k", d.kv_cache_dtype, "--cache-type-v", d.kv_cache_dtype]
    per_slot = total // d.max_num_seqs
    slots = f"# {d.max_num_seqs} slots of {per_slot:,} tokens each (-c is shared by the slots)\n"
    return slots + _with_note(d, _join(argv))


def engine_commands(d: Deployment) -> dict[str, str]:
    """Commands per engine; llama.cpp only for GGUF formats, the others not for GGUF."""
    if d.quantization.startswith(("q", "gguf")) and (
        "_" in d.quantization or d.quantization.startswith("gguf")
    ):
        return {"llama.cpp": _llamacpp_command(d)}
    return {"vllm": vllm_command(d), "sglang": _sglang_command(d), "tgi": _tgi_command(d)}
