"""Read a GGUF file: its architecture (as a config.json would give it) and the real bytes of
every tensor in the types llama.cpp stored them, for an exact weights estimate.

Architectures: llama.cpp's ``llama``, ``mistral``, ``qwen2`` and ``qwen3`` families (dense,
grouped-query attention). The GGUF metadata keys map to Hugging Face names:
``{arch}.block_count`` -> ``num_hidden_layers``, ``{arch}.embedding_length`` -> ``hidden_size``,
``{arch}.feed_forward_length`` -> ``intermediate_size``, ``{arch}.attention.head_count[_kv]`` ->
``num_attention_heads`` / ``num_key_value_heads``, ``{arch}.context_length`` ->
``max_position_embeddings``; the embedding is tied when the file has no ``output.weight``.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from canserve.arch.config import spec_from_config
from canserve.arch.spec import ModelSpec
from canserve.errors import ConfigError

__all__ = ["read_gguf"]

_FAMILIES = {"llama": "llama", "mistral": "mistral", "qwen2": "qwen2", "qwen3": "qwen3"}


def _role(name: str) -> str:
    if name.startswith("token_embd"):
        return "embed"
    if name.startswith("output."):
        return "lm_head"
    if name.endswith("norm.weight"):
        return "norm"
    return "linear" if name.endswith(".weight") else "other"


def read_gguf(path: str | Path) -> ModelSpec:
    """The model in the GGUF file at ``path``, with the bytes its tensors take there by role
    (``file_bytes_by_role``, used by the ``gguf-file`` weights format)."""
    try:
        from gguf import GGUFReader

        reader = GGUFReader(str(path))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: not a readable GGUF file ({exc})") from None

    def field(key: str, default: Any = None) -> Any:
        item = reader.fields.get(key)
        return default if item is None else item.contents()

    arch = str(field("general.architecture", ""))
    if arch not in _FAMILIES:
        raise ConfigError(
            f"{path}: GGUF architecture {arch!r} is not supported ({', '.join(sorted(_FAMILIES))})"
        )
    names = {t.name for t in reader.tensors}
    vocab = field(f"{arch}.vocab_size") or len(field("tokenizer.ggml.tokens", []) or [])
    heads = int(field(f"{arch}.attention.head_count"))
    config = {
        "model_type": _FAMILIES[arch],
        "hidden_size": int(field(f"{arch}.embedding_length")),
        "num_hidden_layers": int(field(f"{arch}.block_count")),
        "intermediate_size": int(field(f"{arch}.feed_forward_length")),
        "num_attention_heads": heads,
        "num_key_value_heads": int(field(f"{arch}.attention.head_count_kv", heads)),
        "max_position_embeddings": int(field(f"{arch}.context_length", 2048)),
        "vocab_size": int(vocab),
        "tie_word_embeddings": "output.weight" not in names,
        "torch_dtype": "bfloat16",
    }
    key_length = field(f"{arch}.attention.key_length")
    if key_length:
        config["head_dim"] = int(key_length)
    name = str(field("general.name", "") or Path(path).stem)
    spec = spec_from_config(config, name)
    by_role: dict[str, int] = {}
    for t in reader.tensors:
        role = _role(t.name)
        by_role[role] = by_role.get(role, 0) + int(t.n_bytes)
    return replace(
        spec, checkpoint_quantization="gguf-file", file_bytes_by_role=tuple(sorted(by_role.items()))
    )
