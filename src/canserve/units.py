"""Units: the one place where bytes become GB (1e9) or GiB (2**30), and back.

Inside canserve every size is an integer number of bytes and every duration a float number of
seconds; names carry the unit (``weights_bytes``, ``ttft_s``). Conversions for display and for
parsing user input live here and nowhere else. Vendor datasheets quote decimal units (GB, TB/s,
TFLOP/s); tools such as ``nvidia-smi`` and PyTorch report binary ones (MiB, GiB).
"""

from __future__ import annotations

from canserve.errors import InvalidInputError

__all__ = [
    "GB",
    "GIB",
    "KIB",
    "MB",
    "MIB",
    "TB",
    "TIB",
    "format_bytes",
    "format_params",
    "gb",
    "gib",
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
        raise InvalidInputError(f"unknown byte unit {unit!r}")
    return f"{num_bytes / _BYTE_UNITS[key]:,.{digits}f} {unit}"


def format_params(count: int) -> str:
    """``format_params(8_030_261_248) == '8.03 B'`` (parameters, in billions: 1 B = 1e9)."""
    return f"{count / 1e9:,.2f} B"
