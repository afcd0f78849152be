"""Read a Hugging Face ``config.json`` into a :class:`~canserve.arch.spec.ModelSpec`.

The ``model_type`` picks a family (:mod:`canserve.arch.families`). A decoder whose type canserve
does not know is still sized, from the common config vocabulary (:mod:`canserve.arch.generic`),
and its spec's ``notes`` say so and what was assumed; :func:`canserve.arch.exact_param_count`
checks such a count against transformers when it is installed. Multimodal configs are sized by
their text model (``text_config``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from canserve.arch import generic
from canserve.arch.common import Built, num_layers
from canserve.arch.families import FAMILIES
from canserve.arch.fields import Fields
from canserve.arch.quantization import checkpoint_quantization
from canserve.arch.spec import ModelSpec
from canserve.errors import ConfigError

__all__ = ["read_config_file", "read_quant_file", "spec_from_config"]

_MAX_CONFIG_BYTES = 8 * 2**20  # real config.json files are a few KiB; refuse anything huge
# Encoder and encoder-decoder model types: not decoder LLMs, so not sized.
_NOT_DECODERS = {
    "albert", "bart", "bert", "clip", "deberta", "deberta-v2", "distilbert", "electra",
    "hubert", "marian", "mbart", "modernbert", "mt5", "pegasus", "roberta", "siglip", "t5",
    "umt5", "vit", "wav2vec2", "whisper", "xlm-roberta",
}  # fmt: skip
# Outer keys a text_config inherits when it does not set them itself.
_INHERITED = ("tie_word_embeddings", "torch_dtype", "dtype")
_MTP_FIELDS = ("num_nextn_predict_layers", "mtp_num_hidden_layers", "num_mtp_modules")
# transformers' defaults of a config class, for configs that rely on them: Google publishes the
# Gemma 3 4B/12B/27B config.json with only the fields that differ from Gemma3TextConfig's.
# Values: transformers 5.24.0 Gemma3TextConfig() (checked 2026-12-04; rope_theta is its full-
# attention layers' value).
_CLASS_DEFAULTS: dict[str, dict[str, Any]] = {
    "gemma3_text": {
        "vocab_size": 262208,
        "hidden_size": 2304,
        "intermediate_size": 9216,
        "num_hidden_layers": 26,
        "num_attention_heads": 8,
        "num_key_value_heads": 4,
        "head_dim": 256,
        "max_position_embeddings": 131072,
        "query_pre_attn_scalar": 256,
        "sliding_window": 4096,
        "rope_theta": 1_000_000.0,
        "rms_norm_eps": 1e-6,
        "tie_word_embeddings": True,
    },
}


def _read_json(p: Path) -> Any:
    if p.stat().st_size > _MAX_CONFIG_BYTES:
        raise ConfigError(f"{p}: too large to be a config file")
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)[:200]
        raise ConfigError(f"{p}: not valid JSON ({reason})") from None


def read_config_file(path: str | Path) -> dict[str, Any]:
    """Load ``path`` (a config.json, or a folder holding one) as a JSON object."""
    p = Path(path)
    if p.is_dir():
        p = p / "config.json"
    if not p.is_file():
        raise ConfigError(f"no config.json at {path}")
    raw = _read_json(p)
    if not isinstance(raw, dict):
        raise ConfigError(f"{p}: a config.json must hold a JSON object")
    return raw


def read_quant_file(path: str | Path) -> dict[str, Any] | None:
    """The ``hf_quant_config.json`` (NVIDIA ModelOpt) beside a config.json or in its folder."""
    p = Path(path)
    p = (p if p.is_dir() else p.parent) / "hf_quant_config.json"
    if not p.is_file():
        return None
    raw = _read_json(p)
    if not isinstance(raw, dict):
        raise ConfigError(f"{p}: must hold a JSON object")
    return raw


def _text_config(raw: Mapping[str, Any], source: str) -> Mapping[str, Any]:
    """The text model's config: ``text_config`` when there is one, with the outer keys it
    inherits (tied embeddings, dtype) and a model_type (``<outer>_text`` when it names none)."""
    text = raw.get("text_config")
    if text is None:
        return raw
    if not isinstance(text, dict):
        raise ConfigError(f"{source}: 'text_config' must be an object")
    merged = dict(text)
    if not isinstance(merged.get("model_type"), str) or not merged["model_type"]:
        merged["model_type"] = f"{raw.get('model_type')}_text"
    for key in _INHERITED:
        if key in raw and key not in text:
            merged[key] = raw[key]
    return merged


def _model_type(raw: Mapping[str, Any], text: Mapping[str, Any], source: str) -> str:
    model_type = text.get("model_type")
    if not model_type:
        raise ConfigError(f"{source}: no 'model_type'; is this a Hugging Face config.json?")
    if not isinstance(model_type, str) or len(model_type) > 100:
        raise ConfigError(f"{source}: 'model_type' must be a short string")
    if model_type in _NOT_DECODERS or raw.get("is_encoder_decoder") is True:
        raise ConfigError(
            f"{source}: model_type {model_type!r} is not a decoder LLM "
            "(canserve sizes decoder-only language models)"
        )
    return model_type


def _unknown_type_note(model_type: str, f: Fields) -> str:
    assumed = [
        "multi-head latent attention" if "kv_lora_rank" in f else "grouped-query attention",
        "gated (SwiGLU) MLPs",
        "two norms per layer",
        "no biases unless attention_bias/mlp_bias say so",
    ]
    if "tie_word_embeddings" not in f:
        assumed.append("untied embeddings (no tie_word_embeddings)")
    return (
        f"model_type {model_type!r} is not a family canserve knows: sized from the common "
        f"config fields, assuming {', '.join(assumed)}; the parameter count may differ from "
        "the real model's (check it with canserve.arch.exact_param_count, needs transformers)"
    )


def _mtp_note(f: Fields) -> list[str]:
    layers = max((f.int(n, 0, minimum=0) for n in _MTP_FIELDS), default=0)
    if not layers:
        return []
    return [
        f"the checkpoint's {layers} multi-token-prediction layer(s) are not counted "
        "(transformers does not instantiate them; vLLM loads them only for MTP speculation)"
    ]


def _build(model_type: str, f: Fields) -> tuple[Built, list[str]]:
    family = FAMILIES.get(model_type)
    if family is not None:
        return family(f), []
    num_layers(f)  # a missing or absurd layer count fails before anything else is read
    return generic.build(f, generic.Style()), [_unknown_type_note(model_type, f)]


def spec_from_config(
    raw: Mapping[str, Any],
    model_id: str = "",
    *,
    hf_quant_config: Mapping[str, Any] | None = None,
) -> ModelSpec:
    """Build the ModelSpec of a decoder-only LLM from its config.json contents (and, for a
    ModelOpt checkpoint, its ``hf_quant_config.json``)."""
    source = model_id or "config.json"
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{source}: a config.json must hold a JSON object")
    text = _text_config(raw, source)
    model_type = _model_type(raw, text, source)
    text = {**_CLASS_DEFAULTS.get(model_type, {}), **text}
    f = Fields(text, source)
    built, notes = _build(model_type, f)
    tensors = tuple(built.tensors)
    quant = checkpoint_quantization((raw, text), hf_quant_config, tensors)
    return ModelSpec(
        model_id=model_id or f.str("_name_or_path") or model_type,
        model_type=model_type,
        hidden_size=f.first_int(("hidden_size", "n_embed", "n_embd", "d_model")),
        num_hidden_layers=built.layers,
        vocab_size=f.int("vocab_size"),
        num_attention_heads=f.first_int(("num_attention_heads", "n_head")),
        num_key_value_heads=built.num_key_value_heads,
        head_dim=built.head_dim,
        intermediate_size=built.intermediate_size,
        max_position_embeddings=built.max_position_embeddings,
        tie_word_embeddings=built.tie_word_embeddings,
        tensors=tensors,
        cache_layers=tuple(built.cache_layers),
        torch_dtype=f.str("torch_dtype") or f.str("dtype") or "bfloat16",
        num_experts=built.num_experts,
        num_experts_per_tok=built.num_experts_per_tok,
        moe_intermediate_size=built.moe_intermediate_size,
        shared_expert_intermediate_size=built.shared_expert_intermediate_size,
        checkpoint_quantization=quant.format,
        checkpoint_tensor_formats=quant.overrides,
        notes=(*notes, *built.notes, *_mtp_note(f), *quant.notes),
    )
