"""Read a Hugging Face ``config.json`` into a :class:`~canserve.arch.spec.ModelSpec`."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from canserve.arch.families import FAMILIES
from canserve.arch.fields import Fields
from canserve.arch.spec import ModelSpec
from canserve.errors import ConfigError

__all__ = ["read_config_file", "spec_from_config"]

# Multimodal wrappers whose text model sits under "text_config" (only the text model is sized).
_TEXT_MODEL_TYPES = {"llama4": "llama4_text", "gemma3": "gemma3_text", "gemma4": "gemma4_text"}
_MAX_CONFIG_BYTES = 8 * 2**20  # real config.json files are a few KiB; refuse anything huge


def read_config_file(path: str | Path) -> dict[str, Any]:
    """Load ``path`` (a config.json, or a folder holding one) as a JSON object."""
    p = Path(path)
    if p.is_dir():
        p = p / "config.json"
    if not p.is_file():
        raise ConfigError(f"no config.json at {path}")
    if p.stat().st_size > _MAX_CONFIG_BYTES:
        raise ConfigError(f"{p}: too large to be a config.json")
    try:
        raw = json.loads(p.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{p}: not valid JSON ({exc})") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{p}: a config.json must hold a JSON object")
    return raw


def _text_config(raw: Mapping[str, Any], source: str) -> Mapping[str, Any]:
    text = raw.get("text_config")
    if text is None:
        return raw
    if not isinstance(text, dict):
        raise ConfigError(f"{source}: 'text_config' must be an object")
    merged = dict(text)
    merged.setdefault("model_type", _TEXT_MODEL_TYPES.get(str(raw.get("model_type")), ""))
    for key in ("tie_word_embeddings", "torch_dtype", "dtype"):
        if key in raw and key not in text:
            merged[key] = raw[key]
    return merged


def _checkpoint_quantization(raw: Mapping[str, Any]) -> str | None:
    """The quantization the checkpoint ships in, as a canserve format id (None: 16-bit)."""
    qc = raw.get("quantization_config")
    if not isinstance(qc, dict):
        return None
    method = str(qc.get("quant_method", "")).lower()
    if method == "fp8":
        return "fp8-block" if qc.get("weight_block_size") else "fp8"
    if method in {"awq", "gptq"}:
        return f"{method}-int{qc.get('bits', 4)}" if qc.get("bits", 4) != 4 else method
    if method == "bitsandbytes":
        return "nf4" if qc.get("load_in_4bit") else "int8"
    return method or None


def spec_from_config(raw: Mapping[str, Any], model_id: str = "") -> ModelSpec:
    """Build the ModelSpec of a decoder-only LLM from its config.json contents."""
    source = model_id or "config.json"
    text = _text_config(raw, source)
    model_type = str(text.get("model_type") or "")
    if not model_type:
        raise ConfigError(f"{source}: no 'model_type'; is this a Hugging Face config.json?")
    family = FAMILIES.get(model_type)
    if family is None:
        known = ", ".join(sorted(FAMILIES))
        raise ConfigError(
            f"{source}: model_type {model_type!r} is not a decoder LLM canserve knows ({known})"
        )
    f = Fields(text, source)
    built = family(f)
    dtype = str(text.get("torch_dtype") or text.get("dtype") or "bfloat16")
    return ModelSpec(
        model_id=model_id or str(raw.get("_name_or_path") or model_type),
        model_type=model_type,
        hidden_size=f.int("hidden_size", f.int("n_embed", 0, minimum=0) or None),
        num_hidden_layers=len(built.cache_layers)
        if model_type != "nemotron_h"
        else f.int("num_hidden_layers"),
        vocab_size=f.int("vocab_size"),
        num_attention_heads=f.int("num_attention_heads", f.int("n_head", 0, minimum=0) or None),
        num_key_value_heads=built.num_key_value_heads,
        head_dim=built.head_dim,
        intermediate_size=built.intermediate_size,
        max_position_embeddings=built.max_position_embeddings,
        tie_word_embeddings=built.tie_word_embeddings,
        tensors=tuple(built.tensors),
        cache_layers=tuple(built.cache_layers),
        torch_dtype=dtype,
        num_experts=built.num_experts,
        num_experts_per_tok=built.num_experts_per_tok,
        moe_intermediate_size=built.moe_intermediate_size,
        shared_expert_intermediate_size=built.shared_expert_intermediate_size,
        checkpoint_quantization=_checkpoint_quantization(raw),
        notes=tuple(built.notes),
    )
