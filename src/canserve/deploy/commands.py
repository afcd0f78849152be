"""Serving commands for a planned deployment: vLLM, SGLang, TGI and llama.cpp.

Each command uses only flags of the engine version in ``catalog/data/engine_flags.toml``
(checked by a test). Quantized formats other than FP8 need a checkpoint already in that format
(vLLM quantizes to FP8 on load, not to AWQ/GPTQ): the command then says so.
"""

from __future__ import annotations

import shlex
import tomllib
from dataclasses import dataclass
from functools import cache
from typing import Any

from canserve.catalog.loader import data_path

__all__ = ["Deployment", "engine_commands", "engine_versions", "vllm_command"]

# canserve kv dtype -> each engine's name for it
_VLLM_KV = {"fp8": "fp8", "fp8_e4m3": "fp8_e4m3", "fp8_e5m2": "fp8_e5m2"}
_SGLANG_KV = {"fp8": "fp8_e4m3", "fp8_e4m3": "fp8_e4m3", "fp8_e5m2": "fp8_e5m2"}
_LLAMA_KV = {"q8_0": "q8_0", "q4_0": "q4_0"}
_TGI_QUANT = {
    "awq": "awq",
    "gptq": "gptq",
    "fp8": "fp8",
    "nf4": "bitsandbytes-nf4",
    "bnb-int8": "bitsandbytes",
}


@dataclass(frozen=True)
class Deployment:
    """What a serving command needs to know about a plan."""

    model_id: str
    tensor_parallel_size: int
    pipeline_parallel_size: int
    replicas: int
    max_model_len: int
    max_num_seqs: int
    max_num_batched_tokens: int
    gpu_memory_utilization: float
    kv_cache_dtype: str  # canserve name: auto, fp8, q8_0, ...
    quantization: str  # canserve format id
    vllm_quantization: str | None  # vLLM's --quantization value for it
    checkpoint_quantization: str | None  # the format the model id already ships in
    max_input_tokens: int
    port: int = 8000


@cache
def _engines() -> dict[str, dict[str, Any]]:
    with data_path("engine_flags.toml").open("rb") as fh:
        return {row["id"]: row for row in tomllib.load(fh)["engine"]}


def engine_versions() -> dict[str, dict[str, Any]]:
    return dict(_engines())


def _join(argv: list[str]) -> str:
    return " ".join(shlex.quote(a) for a in argv)


def _needs_checkpoint(d: Deployment) -> str | None:
    """A note when the model id must be swapped for a checkpoint in the planned format."""
    if d.quantization in ("bf16", "fp32", "fp8") or d.quantization == d.checkpoint_quantization:
        return None
    return (
        f"# use a {d.quantization} checkpoint of {d.model_id} (the engines do not quantize "
        f"to {d.quantization} on load)"
    )


def vllm_command(d: Deployment) -> str:
    argv = [
        "vllm",
        "serve",
        d.model_id,
        "--host",
        "0.0.0.0",
        "--port",
        str(d.port),
        "--tensor-parallel-size",
        str(d.tensor_parallel_size),
    ]
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
    if d.vllm_quantization and d.quantization != d.checkpoint_quantization:
        argv += ["--quantization", d.vllm_quantization]
    note = _needs_checkpoint(d)
    return (note + "\n" if note else "") + _join(argv)


def _sglang_command(d: Deployment) -> str:
    argv = [
        "python",
        "-m",
        "sglang.launch_server",
        "--model-path",
        d.model_id,
        "--host",
        "0.0.0.0",
        "--port",
        str(d.port),
        "--tp-size",
        str(d.tensor_parallel_size * d.pipeline_parallel_size),
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
    if (
        d.vllm_quantization in ("fp8", "awq", "gptq")
        and d.quantization != d.checkpoint_quantization
    ):
        argv += ["--quantization", d.vllm_quantization]
    return _join(argv)


def _tgi_command(d: Deployment) -> str:
    argv = [
        "text-generation-launcher",
        "--model-id",
        d.model_id,
        "--hostname",
        "0.0.0.0",
        "--port",
        str(d.port),
        "--num-shard",
        str(d.tensor_parallel_size * d.pipeline_parallel_size),
        "--max-input-tokens",
        str(d.max_input_tokens),
        "--max-total-tokens",
        str(d.max_model_len),
        "--max-concurrent-requests",
        str(d.max_num_seqs),
    ]
    if d.quantization in _TGI_QUANT and d.quantization != d.checkpoint_quantization:
        argv += ["--quantize", _TGI_QUANT[d.quantization]]
    return _join(argv)


def _llamacpp_command(d: Deployment) -> str:
    argv = [
        "llama-server",
        "-m",
        f"{d.model_id.split('/')[-1]}.{d.quantization.upper()}.gguf",
        "--host",
        "0.0.0.0",
        "--port",
        str(d.port),
        "-c",
        str(d.max_model_len * d.max_num_seqs),
        "-np",
        str(d.max_num_seqs),
        "-ngl",
        "999",
        "-fa",
        "on",
    ]
    if d.kv_cache_dtype in _LLAMA_KV:
        argv += ["--cache-type-k", d.kv_cache_dtype, "--cache-type-v", d.kv_cache_dtype]
    return _join(argv)


def engine_commands(d: Deployment) -> dict[str, str]:
    """Commands per engine; llama.cpp only for GGUF formats, the others not for GGUF."""
    if d.quantization.startswith("q") and "_" in d.quantization:  # a GGUF type
        return {"llama.cpp": _llamacpp_command(d)}
    return {"vllm": vllm_command(d), "sglang": _sglang_command(d), "tgi": _tgi_command(d)}
