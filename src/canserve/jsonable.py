"""Strict JSON for every answer canserve prints or sends: an undefined statistic (the TPOT of
one-token outputs, a percentile of no requests) is ``null``, never ``NaN`` or ``Infinity``,
which JSON does not have. The CLI's ``--json`` and the HTTP API both encode through here, so
they agree on it."""

from __future__ import annotations

import json
import math
from typing import Any

__all__ = ["dumps", "finite"]


def finite(data: Any) -> Any:
    """``data`` with every non-finite float replaced by None (dicts, lists and tuples walked)."""
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, dict):
        return {k: finite(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [finite(v) for v in data]
    return data


def dumps(data: Any, indent: int | None = 2) -> str:
    return json.dumps(finite(data), indent=indent, allow_nan=False)
