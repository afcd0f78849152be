"""An exact parameter count from Hugging Face transformers, for configs canserve reads with its
generic vocabulary (or to check any count): the model is built on PyTorch's ``meta`` device, so no
weights are allocated or downloaded. Needs the ``exact`` extra (``pip install 'canserve[exact]'``:
transformers and torch); canserve itself never depends on them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from canserve.errors import ConfigError

__all__ = ["exact_param_count"]

_MISSING = "exact parameter counts need transformers and torch: pip install 'canserve[exact]'"
# model types transformers builds under another name, with the same keys
_RENAMED = {"kimi_k2": "deepseek_v3"}


def _text_kwargs(config: Mapping[str, Any]) -> dict[str, Any]:
    """The text model's config keys (``text_config`` with the outer tie flag), unquantized."""
    raw = dict(config)
    text = raw.get("text_config")
    if isinstance(text, dict):
        tie = raw.get("tie_word_embeddings")
        raw = {
            **text,
            **(
                {"tie_word_embeddings": tie}
                if "tie_word_embeddings" not in text and tie is not None
                else {}
            ),
        }
    raw.pop("quantization_config", None)
    model_type = raw.get("model_type")
    raw["model_type"] = _RENAMED.get(str(model_type), model_type)
    return raw


def exact_param_count(config: Mapping[str, Any]) -> int:
    """Parameters transformers instantiates for ``config`` (a config.json's contents; its text
    model for multimodal configs; tied embeddings once). Raises ConfigError without transformers
    or when transformers cannot build the config."""
    try:
        import torch
        import transformers
    except ImportError:
        raise ConfigError(_MISSING) from None
    kwargs = _text_kwargs(config)
    model_type = kwargs.pop("model_type")
    try:
        cfg = transformers.AutoConfig.for_model(str(model_type), **kwargs)
        with torch.device("meta"):
            return _count(transformers, cfg)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ConfigError(
            f"transformers {transformers.__version__} cannot build model_type {model_type!r}: "
            f"{str(exc).splitlines()[0][:200]}"
        ) from None


def _count(transformers: Any, cfg: Any) -> int:
    try:
        model = transformers.AutoModelForCausalLM.from_config(cfg)
        total: int = sum(p.numel() for p in model.parameters())
        return total
    except ValueError as exc:
        if "Unrecognized configuration class" not in str(exc):
            raise
    # a text model with no causal-LM class (Qwen3-VL): its base model plus the LM head
    base = transformers.AutoModel.from_config(cfg)
    head = 0 if getattr(cfg, "tie_word_embeddings", False) else cfg.vocab_size * cfg.hidden_size
    body: int = sum(p.numel() for p in base.parameters())
    return body + head
