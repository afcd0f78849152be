"""Units: the one place where bytes become GB (1e9) or GiB (2**30), and back.

Inside canserve every size is an integer number of bytes and every duration a float number of
seconds; names carry the unit (``weights_bytes``, ``ttft_s``). Conversions for display and for
parsing user input live here and nowhere else. Vendor datasheets quote decimal units (GB, TB/s,
TFLOP/s); tools such as ``nvidia-smi`` and PyTorch report binary ones (MiB, GiB).
"""

from __future__ import annotations

import re

__all__ = [
    "GB",
    "GIB",
    "KIB",
    "MB",
    "MIB",
    "TB",
    "TIB",
    "format_bytes",
    "gb",
    "gib",
    "parse_bytes",
    "parse_count",
]

KIB = 2**10
MIB = 2**20
GIB = 2**30
TIB = 2**40
MB = 10**6
GB = 10**9
TB = 10**12

_BYTE_UNITS = {
    "b": 1,
    "kb": 10**3,
    "mb": MB,
    "gb": GB,
    "tb": TB,
    "kib": KIB,
    "mib": MIB,
    "gib": GIB,
    "tib": TIB,
}
_SIZE_RE = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:e[+-]?\d+)?)\s*([a-z]*)\s*$", re.IGNORECASE)
_COUNT_SUFFIX = {"": 1, "k": 10**3, "m": 10**6, "b": 10**9}


def gb(num_bytes: float) -> float:
    """Bytes to decimal gigabytes (1 GB = 1e9 bytes)."""
    return num_bytes / GB


def gib(num_bytes: float) -> float:
    """Bytes to binary gibibytes (1 GiB = 2**30 bytes)."""
    return num_bytes / GIB


def format_bytes(num_bytes: float, unit: str = "GB", digits: int = 2) -> str:
    """``format_bytes(80e9) == '80.00 GB'``; the unit is always printed."""
    key = unit.lower()
    if key not in _BYTE_UNITS:
        raise ValueError(f"unknown byte unit {unit!r}")
    return f"{num_bytes / _BYTE_UNITS[key]:,.{digits}f} {unit}"


def parse_bytes(text: str) -> int:
    """Parse ``'80GB'``, ``'80 GiB'``, ``'512MiB'`` or a plain byte count into bytes."""
    match = _SIZE_RE.match(text)
    if not match or match.group(2).lower() not in _BYTE_UNITS:
        raise ValueError(f"not a size: {text!r} (examples: 80GB, 24GiB, 512MiB)")
    return round(float(match.group(1)) * _BYTE_UNITS[match.group(2).lower()])


def parse_count(text: str) -> int:
    """Parse ``'8192'``, ``'8k'`` or ``'128K'`` (powers of ten: 8k = 8000) into an integer."""
    match = _SIZE_RE.match(text)
    if not match or match.group(2).lower() not in _COUNT_SUFFIX:
        raise ValueError(f"not a count: {text!r}")
    value = float(match.group(1)) * _COUNT_SUFFIX[match.group(2).lower()]
    if value != int(value):
        raise ValueError(f"not a whole number: {text!r}")
    return int(value)
