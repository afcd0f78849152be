"""Exact, case-insensitive name lookup shared by every catalog.

A name matches an entry's id or one of its aliases, ignoring case, and nothing else: no prefix,
substring or fuzzy matching ("7B" never picks "Mistral-7B"). A miss raises the catalog's error
with up to five close matches to choose from.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Generic, TypeVar

from canserve.errors import CatalogError, UnknownNameError

__all__ = ["NameIndex"]

T = TypeVar("T")


class NameIndex(Generic[T]):
    def __init__(self, error: type[UnknownNameError], hint: str = "") -> None:
        self._error = error
        self._hint = hint
        self._by_key: dict[str, T] = {}
        self._display: dict[str, str] = {}

    def add(self, entry: T, names: Iterable[str]) -> None:
        for name in names:
            key = name.lower()
            if key in self._by_key and self._by_key[key] is not entry:
                raise CatalogError(f"catalog name {name!r} is used by two entries")
            self._by_key[key] = entry
            self._display[key] = name

    def get(self, name: str) -> T:
        key = name.strip().lower()
        if key in self._by_key:
            return self._by_key[key]
        close = difflib.get_close_matches(key, self._by_key, n=5, cutoff=0.6)
        if not close:  # fall back to names that contain what was typed, as suggestions only
            close = [k for k in self._by_key if key and key in k][:5]
        raise self._error(name, [self._display[k] for k in close], self._hint)

    def __contains__(self, name: str) -> bool:
        return name.strip().lower() in self._by_key
