"""The exceptions canserve raises. Every one is a :class:`CanserveError`::

    CanserveError
    ├── UnknownNameError        a model, GPU, quantization or framework name not in a catalog
    │   ├── UnknownModelError
    │   ├── UnknownGPUError
    │   ├── UnknownQuantError
    │   └── UnknownFrameworkError
    ├── ConfigError             a config.json that is malformed or not a decoder LLM
    ├── CatalogError            a shipped catalog row that breaks its schema (a canserve bug)
    └── InvalidInputError       a number out of range, a flag combination that makes no sense

The CLI prints ``error: <message>`` on one line and exits with status 2 for any of them.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = [
    "CanserveError",
    "CatalogError",
    "ConfigError",
    "InvalidInputError",
    "UnknownFrameworkError",
    "UnknownGPUError",
    "UnknownModelError",
    "UnknownNameError",
    "UnknownQuantError",
]


class CanserveError(Exception):
    """Base class of every error canserve raises on purpose."""


class UnknownNameError(CanserveError, LookupError):
    """A name that no catalog entry matches exactly; carries the close matches."""

    kind = "name"

    def __init__(self, name: str, close_matches: Iterable[str] = (), hint: str = "") -> None:
        self.name = name
        self.close_matches = tuple(close_matches)
        message = f"unknown {self.kind} {name!r}"
        if self.close_matches:
            message += "; close matches: " + ", ".join(self.close_matches)
        if hint:
            message += f" ({hint})"
        super().__init__(message)


class UnknownModelError(UnknownNameError):
    kind = "model"


class UnknownGPUError(UnknownNameError):
    kind = "GPU"


class UnknownQuantError(UnknownNameError):
    kind = "quantization format"


class UnknownFrameworkError(UnknownNameError):
    kind = "framework"


class ConfigError(CanserveError, ValueError):
    """A model config.json that canserve cannot read as a decoder-only language model."""


class CatalogError(CanserveError, ValueError):
    """A row of canserve's own data files that breaks its schema: a bug to report, not bad input."""


class InvalidInputError(CanserveError, ValueError):
    """A value out of range or a combination of options that makes no sense."""
