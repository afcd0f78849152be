"""Checked access to the fields of a config.json: a missing or malformed field is a ConfigError
that names the model and the field, never a KeyError or TypeError."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from canserve.errors import ConfigError

__all__ = ["Fields"]

_ABSURD = 10**9  # no real dimension (layers, heads, hidden size, vocab) comes near a billion


class Fields:
    """A config.json object with typed getters; ``source`` names it in error messages."""

    def __init__(self, raw: Mapping[str, Any], source: str) -> None:
        self.raw = raw
        self.source = source

    def __contains__(self, name: str) -> bool:
        return self.raw.get(name) is not None

    def _fail(self, name: str, why: str) -> ConfigError:
        return ConfigError(f"{self.source}: field {name!r} {why}")

    def int(self, name: str, default: int | None = None, *, minimum: int = 1) -> int:
        value = self.raw.get(name)
        if value is None:
            if default is None:
                raise self._fail(name, "is missing")
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            raise self._fail(name, f"must be an integer, got {value!r}")
        if value < minimum or value > _ABSURD:
            raise self._fail(name, f"is out of range: {value}")
        return value

    def opt_int(self, name: str, *, minimum: int = 1) -> int | None:
        return self.int(name, minimum=minimum) if name in self else None

    def bool(self, name: str, default: bool) -> bool:
        value = self.raw.get(name)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise self._fail(name, f"must be true or false, got {value!r}")
        return value

    def str(self, name: str, default: str = "") -> str:
        value = self.raw.get(name)
        if value is None:
            return default
        if not isinstance(value, str):
            raise self._fail(name, f"must be a string, got {value!r}")
        return value

    def int_list(self, name: str) -> list[int]:
        value = self.raw.get(name) or []
        if not isinstance(value, list) or not all(
            isinstance(v, int) and not isinstance(v, bool) for v in value
        ):
            raise self._fail(name, "must be a list of integers")
        return value

    def str_list(self, name: str, length: int) -> list[str] | None:
        value = self.raw.get(name)
        if value is None:
            return None
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self._fail(name, "must be a list of strings")
        if len(value) != length:
            raise self._fail(name, f"has {len(value)} entries for {length} layers")
        return value
