"""Checked access to the fields of a config.json: a missing, malformed or absurd field is a
ConfigError that names the model and the field, never a KeyError, a TypeError or an answer built
from nonsense.

Every integer canserve reads is bounded before anything is built from it (a config claiming a
billion layers is refused in microseconds, not after allocating a billion layer objects). The
bounds sit far above the largest released models (checked 2026-12-02 against the shipped configs:
126 layers (Llama 3.1 405B), vocabulary 262,208 (Gemma 3), hidden size 16,384, 128 attention
heads, 896 routed experts (Kimi K3), head_dim 512, context 10,485,760 tokens (Llama 4 Scout)).
"""

from __future__ import annotations

import builtins
import reprlib
from collections.abc import Mapping
from typing import Any

from canserve.errors import ConfigError

__all__ = ["MAX_LAYERS", "Fields"]

MAX_LAYERS = 1024
_MAX_CONTEXT = 2**28
_MAX_DIMENSION = 2**24  # any other size a config gives (ranks, widths, windows)
_LIMITS = {
    **dict.fromkeys(("num_hidden_layers", "n_layer", "num_layers"), MAX_LAYERS),
    "vocab_size": 2**22,
    **dict.fromkeys(("hidden_size", "n_embed", "n_embd", "d_model"), 2**17),
    **dict.fromkeys(
        ("num_attention_heads", "n_head", "num_key_value_heads", "num_kv_heads", "n_head_kv"),
        2048,
    ),
    **dict.fromkeys(
        ("num_experts", "num_local_experts", "n_routed_experts", "moe_num_experts"), 16384
    ),
    **dict.fromkeys(
        ("num_experts_per_tok", "top_k_experts", "moe_topk", "experts_per_token"), 1024
    ),
    **dict.fromkeys(("head_dim", "attention_head_dim", "global_head_dim"), 8192),
    **dict.fromkeys(
        ("intermediate_size", "moe_intermediate_size", "intermediate_size_mlp", "ffn_hidden_size"),
        2**21,
    ),
    **dict.fromkeys(
        ("max_position_embeddings", "sliding_window", "attention_chunk_size"), _MAX_CONTEXT
    ),
}
_LIST_LIMIT = 4 * MAX_LAYERS  # per-layer lists (layer_types, no_rope_layers, ...)

_short = reprlib.Repr()
_short.maxlevel, _short.maxstring, _short.maxother, _short.maxlist = 2, 40, 40, 6


def _show(value: Any) -> builtins.str:
    """A short, safe rendering of a config value for an error message (no 5,000-digit ints, no
    50,000-deep lists)."""
    if isinstance(value, builtins.int) and not isinstance(value, builtins.bool):
        if abs(value) < 10**18:
            return builtins.str(value)
        return f"an integer of about {int(value.bit_length() * 0.30103)} digits"
    return _short.repr(value)


def _limit(name: builtins.str) -> builtins.int:
    """The largest value canserve accepts for integer field ``name``."""
    return _LIMITS.get(name, _MAX_DIMENSION)


class Fields:
    """A config.json object with typed getters; ``source`` names it in error messages."""

    def __init__(self, raw: Mapping[builtins.str, Any], source: builtins.str) -> None:
        self.raw = raw
        self.source = source

    def __contains__(self, name: builtins.str) -> builtins.bool:
        return self.raw.get(name) is not None

    def fail(self, name: builtins.str, why: builtins.str) -> ConfigError:
        return ConfigError(f"{self.source}: field {name!r} {why}")

    def pick(self, *names: builtins.str) -> builtins.str | None:
        """The first of ``names`` the config sets (the vocabulary differs between families)."""
        return next((n for n in names if n in self), None)

    def _checked(self, name: builtins.str, value: Any, minimum: builtins.int) -> builtins.int:
        if isinstance(value, builtins.bool) or not isinstance(value, builtins.int):
            raise self.fail(name, f"must be an integer, got {_show(value)}")
        if value < minimum:
            raise self.fail(name, f"must be at least {minimum}, got {_show(value)}")
        if value > _limit(name):
            raise self.fail(
                name, f"is {_show(value)}, above the limit of {_limit(name):,} canserve accepts"
            )
        return value

    def int(
        self, name: builtins.str, default: builtins.int | None = None, *, minimum: builtins.int = 1
    ) -> builtins.int:
        value = self.raw.get(name)
        if value is None:
            if default is None:
                raise self.fail(name, "is missing")
            return default
        return self._checked(name, value, minimum)

    def opt_int(self, name: builtins.str, *, minimum: builtins.int = 1) -> builtins.int | None:
        return self.int(name, minimum=minimum) if name in self else None

    def first_int(
        self,
        names: tuple[builtins.str, ...],
        default: builtins.int | None = None,
        *,
        minimum: builtins.int = 1,
    ) -> builtins.int:
        """The first of ``names`` the config sets, else ``default`` (missing if None)."""
        name = self.pick(*names)
        if name is None:
            if default is None:
                raise self.fail(names[0], "is missing")
            return default
        return self.int(name, minimum=minimum)

    def bool(self, name: builtins.str, default: builtins.bool) -> builtins.bool:
        value = self.raw.get(name)
        if value is None:
            return default
        if not isinstance(value, builtins.bool):
            raise self.fail(name, f"must be true or false, got {_show(value)}")
        return value

    def str(self, name: builtins.str, default: builtins.str = "") -> builtins.str:
        value = self.raw.get(name)
        if value is None:
            return default
        if not isinstance(value, builtins.str) or len(value) > _LIST_LIMIT:
            raise self.fail(name, f"must be a short string, got {_show(value)}")
        return value

    def _list(self, name: builtins.str, length: builtins.int | None) -> list[Any] | None:
        value = self.raw.get(name)
        if value is None:
            return None
        if not isinstance(value, list) or len(value) > _LIST_LIMIT:
            raise self.fail(name, f"must be a list, got {_show(value)}")
        if length is not None and len(value) != length:
            raise self.fail(name, f"has {len(value)} entries for {length} layers")
        return value

    def int_list(
        self, name: builtins.str, length: builtins.int | None = None, *, minimum: builtins.int = 0
    ) -> list[builtins.int]:
        """A list of integers (empty when absent); ``length``: the count it must have."""
        value = self._list(name, length) or []
        return [self._checked(name, v, minimum) for v in value]

    def str_list(self, name: builtins.str, length: builtins.int) -> list[builtins.str] | None:
        """A per-layer list of strings with exactly ``length`` entries, or None when absent."""
        value = self._list(name, length)
        if value is not None and not all(isinstance(v, builtins.str) for v in value):
            raise self.fail(name, "must be a list of strings")
        return value
