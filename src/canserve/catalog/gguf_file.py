"""Read a GGUF file: its architecture (as a config.json would give it) and the real bytes of
every tensor in the types llama.cpp stored them, for an exact weights estimate.

Architectures: llama.cpp's ``llama``, ``mistral``, ``qwen2`` and ``qwen3`` families (dense,
grouped-query attention). The GGUF metadata keys map to Hugging Face names:
``{arch}.block_count`` -> ``num_hidden_layers``, ``{arch}.embedding_length`` -> ``hidden_size``,
``{arch}.feed_forward_length`` -> ``intermediate_size``, ``{arch}.attention.head_count[_kv]`` ->
``num_attention_heads`` / ``num_key_value_heads``, ``{arch}.context_length`` ->
``max_position_embeddings``; the embedding is tied when the file has no ``output.weight``.

A damaged file (bad magic, truncated, bit-flipped, absurd counts) is a ConfigError: the header is
checked against the file's size before the ``gguf`` reader walks it, so no claim in it makes the
work larger than the file.
"""

from __future__ import annotations

import struct
from dataclasses import replace
from pathlib import Path
from typing import Any

from canserve.arch.config import spec_from_config
from canserve.arch.spec import ModelSpec
from canserve.errors import ConfigError

__all__ = ["read_gguf"]

_FAMILIES = {"llama": "llama", "mistral": "mistral", "qwen2": "qwen2", "qwen3": "qwen3"}
_HEADER = struct.Struct("<4sIQQ")  # magic, version, tensor count, metadata key-value count
# gguf spec (ggml docs/gguf.md): a tensor info is at least name length (8) + one byte of name +
# n_dims (4) + one dimension (8) + type (4) + offset (8); a key-value at least key length (8) +
# one byte + value type (4) + a one-byte value
_MIN_TENSOR_INFO_BYTES, _MIN_KV_BYTES = 33, 14
# exceptions the gguf reader raises on a malformed file (it parses with numpy views and struct)
_PARSE_ERRORS = (
    ValueError,
    IndexError,
    KeyError,
    TypeError,
    struct.error,
    OverflowError,
    UnicodeDecodeError,
    AssertionError,
    EOFError,
)


def _role(name: str) -> str:
    if name.startswith("token_embd"):
        return "embed"
    if name.startswith("output."):
        return "lm_head"
    if name.endswith("norm.weight"):
        return "norm"
    return "linear" if name.endswith(".weight") else "other"


def _check_header(path: Path) -> None:
    """Magic, version and counts a file of this size can actually hold."""
    size = path.stat().st_size
    with path.open("rb") as fh:
        head = fh.read(_HEADER.size)
    if len(head) < _HEADER.size or head[:4] != b"GGUF":
        raise ConfigError(f"{path}: not a GGUF file (no GGUF header)")
    _, version, tensors, kvs = _HEADER.unpack(head)
    if version not in (2, 3):
        raise ConfigError(f"{path}: GGUF version {version} is not one canserve reads (2, 3)")
    if tensors * _MIN_TENSOR_INFO_BYTES + kvs * _MIN_KV_BYTES > size - _HEADER.size:
        raise ConfigError(
            f"{path}: claims {tensors} tensors and {kvs} metadata entries, more than its "
            f"{size} bytes can hold (truncated or damaged)"
        )


def _reader(path: Path) -> Any:
    try:
        from gguf import GGUFReader

        _check_header(path)
        return GGUFReader(str(path))
    except OSError as exc:
        raise ConfigError(f"{path}: not a readable GGUF file ({exc.strerror or exc})") from None
    except _PARSE_ERRORS as exc:
        reason = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
        raise ConfigError(f"{path}: damaged GGUF file ({reason})") from None


def _config(reader: Any, path: Path) -> dict[str, Any]:
    """The config.json a GGUF's metadata stands for (types checked by spec_from_config)."""

    def field(key: str, default: Any = None) -> Any:
        item = reader.fields.get(key)
        try:
            value = default if item is None else item.contents()
        except _PARSE_ERRORS:
            raise ConfigError(f"{path}: damaged GGUF metadata {key!r}") from None
        return value.item() if hasattr(value, "item") else value  # numpy scalar -> Python

    arch = field("general.architecture", "")
    if arch not in _FAMILIES:
        raise ConfigError(
            f"{path}: GGUF architecture {arch!r} is not supported ({', '.join(sorted(_FAMILIES))})"
        )
    tokens = field("tokenizer.ggml.tokens", [])
    heads = field(f"{arch}.attention.head_count")
    config = {
        "model_type": _FAMILIES[arch],
        "hidden_size": field(f"{arch}.embedding_length"),
        "num_hidden_layers": field(f"{arch}.block_count"),
        "intermediate_size": field(f"{arch}.feed_forward_length"),
        "num_attention_heads": heads,
        "num_key_value_heads": field(f"{arch}.attention.head_count_kv", heads),
        "max_position_embeddings": field(f"{arch}.context_length", 2048),
        "vocab_size": field(f"{arch}.vocab_size")
        or (len(tokens) if isinstance(tokens, list) else 0),
        "tie_word_embeddings": "output.weight" not in {t.name for t in reader.tensors},
        "torch_dtype": "bfloat16",
    }
    key_length = field(f"{arch}.attention.key_length")
    if key_length:
        config["head_dim"] = key_length
    return config


def read_gguf(path: str | Path) -> ModelSpec:
    """The model in the GGUF file at ``path``, with the bytes its tensors take there by role
    (``file_bytes_by_role``, used by the ``gguf-file`` weights format)."""
    p = Path(path)
    reader = _reader(p)
    config = _config(reader, p)
    try:
        name = reader.fields.get("general.name")
        label = str(name.contents())[:200] if name is not None else ""
    except _PARSE_ERRORS:
        label = ""
    spec = spec_from_config(config, label or p.stem)
    by_role: dict[str, int] = {}
    for t in reader.tensors:
        role = _role(t.name)
        by_role[role] = by_role.get(role, 0) + int(t.n_bytes)
    return replace(
        spec, checkpoint_quantization="gguf-file", file_bytes_by_role=tuple(sorted(by_role.items()))
    )
