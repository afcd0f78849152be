"""Serving-framework profiles (rows in ``data/frameworks.toml``): how each engine allocates the
KV cache, which memory knob it has and what it costs beyond weights and KV, with sources."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from canserve.catalog.index import NameIndex
from canserve.catalog.loader import load_rows
from canserve.errors import UnknownFrameworkError
from canserve.units import GIB

__all__ = ["Framework", "UnknownFrameworkError", "get_framework", "list_frameworks"]

_ALIASES = {
    "vllm": ("vLLM",),
    "sglang": ("sgl",),
    "tensorrt-llm": ("trtllm", "trt-llm", "tensorrt"),
    "tgi": ("text-generation-inference",),
    "llama.cpp": ("llamacpp", "llama-cpp", "ollama", "llama-server"),
    "transformers": ("hf", "huggingface", "hf-transformers"),
}


@dataclass(frozen=True)
class Framework:
    id: str
    name: str
    kv_allocation: str  # paged | static | dynamic
    kv_block_size_tokens: int
    memory_fraction_key: str
    memory_fraction_default: float
    cuda_context_bytes: int
    cuda_graph_bytes: int
    workspace_bytes: int
    nccl_bytes_per_gpu_tp: int
    default_max_num_seqs: int
    default_max_num_batched_tokens: int
    continuous_batching: bool
    activation_hidden_copies: float
    activation_inner_copies: float
    logits_fp32_copies: float
    logits_rows: str
    source_date: str
    row: dict[str, Any]
    # tokens the scheduler packs into one step when that differs from the activation chunk above
    # (llama-server's n_batch; 0: the chunk)
    step_tokens: int = 0

    @property
    def has_memory_fraction(self) -> bool:
        return self.memory_fraction_key != "none"

    @property
    def memory_knob(self) -> str:
        """The engine's memory flag and its default, e.g. ``gpu_memory_utilization=0.9``."""
        return f"{self.memory_fraction_key}={self.memory_fraction_default}"

    @property
    def fixed_overhead_bytes(self) -> int:
        """CUDA context + CUDA graphs + workspace, per GPU."""
        return self.cuda_context_bytes + self.cuda_graph_bytes + self.workspace_bytes

    def batch_defaults(self, gpu_memory_bytes: int, gpu_id: str) -> tuple[int, int]:
        """(max_num_seqs, max_num_batched_tokens) the engine picks for a GPU, serving mode."""
        for d in self.row.get("defaults", ()):
            big = gpu_memory_bytes >= 70 * GIB and "a100" not in gpu_id.lower()
            if d["usage"].startswith("vllm serve") and ("not contain" in d["condition"]) == big:
                return int(d["max_num_seqs"]), int(d["max_num_batched_tokens"])
        return self.default_max_num_seqs, self.default_max_num_batched_tokens


def _from_row(row: dict[str, Any]) -> Framework:
    names = Framework.__dataclass_fields__
    fields = {k: row[k] for k in names if k in row}
    if not row.get("cuda_graphs", False):
        fields["cuda_graph_bytes"] = 0
    return Framework(**fields, row=row)


@cache
def _frameworks() -> tuple[Framework, ...]:
    rows = load_rows("frameworks.toml", "framework")
    return tuple(_from_row(r) for r in rows)


@cache
def _index() -> NameIndex[Framework]:
    index: NameIndex[Framework] = NameIndex(UnknownFrameworkError, "see: canserve frameworks")
    for fw in _frameworks():
        index.add(fw, (fw.id, *_ALIASES.get(fw.id, ())))
    return index


def get_framework(name: str) -> Framework:
    return _index().get(name)


def list_frameworks() -> list[Framework]:
    return list(_frameworks())
