"""Range checks for every number a user can give, in one place for the CLI, the Python API and
the HTTP API: each value is checked once, where it enters (a query or a ``ServingConfig``), and a
bad one raises :class:`~canserve.errors.InvalidInputError` naming the field and its bounds.

The bounds themselves are the constants below; a bound that limits work (not physics) says so in
its name (``MAX_*``) and in the message.
"""

from __future__ import annotations

import math

from canserve.errors import InvalidInputError

__all__ = [
    "MAX_BATCH",
    "MAX_GPUS",
    "MAX_LIST_ITEMS",
    "MAX_REPLICAS",
    "MAX_TOKENS",
    "check_float",
    "check_int",
    "check_optional_float",
    "check_optional_int",
    "split_names",
]

MAX_BATCH = 1_000_000  # concurrent sequences of one replica (memory and perf sizing)
MAX_GPUS = 100_000  # GPUs in one deployment
MAX_REPLICAS = 10_000  # data-parallel replicas
MAX_TOKENS = 100_000_000  # any token count (context, prompt, output, chunk)
MAX_LIST_ITEMS = 64  # names in one comma-separated list (GPU types, formats, models)


def check_int(name: str, value: object, low: int, high: int) -> int:
    """``value`` as an int in ``low..high`` (bools and floats with a fraction are refused)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInputError(f"{name} must be an integer, got {value!r}")
    if isinstance(value, float) and not (math.isfinite(value) and value.is_integer()):
        raise InvalidInputError(f"{name} must be an integer, got {value!r}")
    number = int(value)
    if not low <= number <= high:
        raise InvalidInputError(f"{name} must be between {low:,} and {high:,}, got {number:,}")
    return number


def check_float(
    name: str, value: object, low: float, high: float, *, open_low: bool = False
) -> float:
    """``value`` as a finite float in ``[low, high]`` (``(low, high]`` when ``open_low``)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInputError(f"{name} must be a number, got {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise InvalidInputError(f"{name} must be a finite number, got {value!r}")
    below = number <= low if open_low else number < low
    if below or number > high:
        bracket = "(" if open_low else "["
        raise InvalidInputError(f"{name} must be in {bracket}{low:g}, {high:g}], got {number:g}")
    return number


def check_optional_int(name: str, value: object, low: int, high: int) -> int | None:
    return None if value is None else check_int(name, value, low, high)


def check_optional_float(
    name: str, value: object, low: float, high: float, *, open_low: bool = False
) -> float | None:
    return None if value is None else check_float(name, value, low, high, open_low=open_low)


def split_names(name: str, text: str | None) -> list[str] | None:
    """``'H100, A100-80GB'`` -> ``['H100', 'A100-80GB']`` (None or empty: None), at most
    ``MAX_LIST_ITEMS`` names."""
    if text is None:
        return None
    names = [t.strip() for t in text.split(",") if t.strip()]
    if len(names) > MAX_LIST_ITEMS:
        raise InvalidInputError(f"{name} lists {len(names):,} names; at most {MAX_LIST_ITEMS}")
    return names or None
