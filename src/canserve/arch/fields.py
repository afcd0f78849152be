"""Checked access to the fields of a config.json: a missing or malformed field is a ConfigError
that names the model and the field, never a KeyError or TypeError."""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from typing import Any

from canserve.errors import ConfigError

__all__ = ["Fields"]

_ABSURD = 10**9  # no real dimension (layers, heads, hidden size, vocab) comes near a billion


class Fields:
    """A config.json object with typed getters; ``source`` names it in error messages."""

    def __init__(self, raw: Mapping[builtins.str, Any], source: builtins.str) -> None:
        self.raw = raw
        self.source = source

    def __contains__(self, name: builtins.str) -> builtins.bool:
        return self.raw.get(name) is not None

    def _fail(self, name: builtins.str, why: builtins.str) -> ConfigError:
        return ConfigError(f"{self.source}: field {name!r} {why}")

    def int(
        self, name: builtins.str, default: builtins.int | None = None, *, minimum: builtins.int = 1
    ) -> builtins.int:
        value = self.raw.get(name)
        if value is None:
            if default is None:
                raise self._fail(name, "is missing")
            return default
        if isinstance(value, builtins.bool) or not isinstance(value, builtins.int):
            raise self._fail(name, f"must be an integer, got {value!r}")
        if value < minimum or value > _ABSURD:
            raise self._fail(name, f"is out of range: {value}")
        return value

    def opt_int(self, name: builtins.str, *, minimum: builtins.int = 1) -> builtins.int | None:
        return self.int(name, minimum=minimum) if name in self else None

    def bool(self, name: builtins.str, default: builtins.bool) -> builtins.bool:
        value = self.raw.get(name)
        if value is None:
            return default
        if not isinstance(value, builtins.bool):
            raise self._fail(name, f"must be true or false, got {value!r}")
        return value

    def str(self, name: builtins.str, default: builtins.str = "") -> builtins.str:
        value = self.raw.get(name)
        if value is None:
            return default
        if not isinstance(value, builtins.str):
            raise self._fail(name, f"must be a string, got {value!r}")
        return value

    def int_list(self, name: builtins.str) -> list[builtins.int]:
        value = self.raw.get(name) or []
        if not isinstance(value, list) or not all(
            isinstance(v, builtins.int) and not isinstance(v, builtins.bool) for v in value
        ):
            raise self._fail(name, "must be a list of integers")
        return value

    def str_list(self, name: builtins.str, length: builtins.int) -> list[builtins.str] | None:
        value = self.raw.get(name)
        if value is None:
            return None
        if not isinstance(value, list) or not all(isinstance(v, builtins.str) for v in value):
            raise self._fail(name, "must be a list of strings")
        if len(value) != length:
            raise self._fail(name, f"has {len(value)} entries for {length} layers")
        return value
