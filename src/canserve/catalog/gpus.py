"""The GPU catalog (rows in ``data/gpus.toml``, each with its datasheet source and date)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from canserve.catalog.index import NameIndex
from canserve.catalog.loader import load_rows
from canserve.errors import CatalogError, UnknownGPUError

__all__ = ["GPU", "get_gpu", "list_gpus"]

_FLOPS_KEYS = ("fp32", "tf32", "bf16", "fp16", "fp8", "int8", "fp4")
# The values a row may hold; see the header of data/gpus.toml.
VENDORS = frozenset({"nvidia", "amd", "intel", "apple", "cpu"})
INTERCONNECTS = frozenset(
    {"nvlink2", "nvlink3", "nvlink4", "nvlink5", "infinity-fabric", "roce", "pcie-only",
     "unified-memory", "none"}
)  # fmt: skip


@dataclass(frozen=True)
class GPU:
    """One accelerator model. Bytes are integers; rates are per second, decimal, dense (no
    sparsity). ``peak_flops`` holds only the dtypes the GPU's tensor cores support."""

    id: str
    aliases: tuple[str, ...]
    name: str
    vendor: str
    architecture: str
    form_factor: str
    memory_bytes: int
    memory_bytes_source: str
    hbm_bytes_per_s: float
    peak_flops: dict[str, float]
    interconnect: str
    interconnect_bytes_per_s: float
    pcie_bytes_per_s: float
    tdp_watts: float
    source: str
    source_date: str
    memory_marketing_bytes: int = 0
    # unified memory (Apple): the machine's RAM; memory_bytes is the share the GPU may use
    memory_total_bytes: int = 0
    pcie_gen: int = 0
    notes: str = ""

    def __post_init__(self) -> None:
        if self.vendor not in VENDORS:
            raise CatalogError(
                f"GPU {self.id}: vendor {self.vendor!r} not one of {sorted(VENDORS)}"
            )
        if self.interconnect not in INTERCONNECTS:
            raise CatalogError(f"GPU {self.id}: interconnect {self.interconnect!r} unknown")
        if self.memory_total_bytes and self.memory_bytes > self.memory_total_bytes:
            raise CatalogError(f"GPU {self.id}: memory_bytes above its unified memory_total_bytes")
        if not self.peak_flops.get("bf16") and not self.peak_flops.get("fp16"):
            raise CatalogError(f"GPU {self.id}: needs a 16-bit peak (peak_flops_bf16 or _fp16)")

    @property
    def unified_memory(self) -> bool:
        return self.interconnect == "unified-memory"

    def supports(self, dtype: str) -> bool:
        return dtype in self.peak_flops


def _from_row(row: dict[str, Any]) -> GPU:
    fields = dict(row)
    flops = {
        k: float(fields.pop(f"peak_flops_{k}")) for k in _FLOPS_KEYS if f"peak_flops_{k}" in fields
    }
    known = GPU.__dataclass_fields__
    fields = {k: v for k, v in fields.items() if k in known}  # the rest is documentation
    return GPU(
        **{**fields, "aliases": tuple(fields.get("aliases", ()))},
        peak_flops=flops,
    )


@cache
def _gpus() -> tuple[GPU, ...]:
    return tuple(_from_row(row) for row in load_rows("gpus.toml", "gpu"))


@cache
def _index() -> NameIndex[GPU]:
    index: NameIndex[GPU] = NameIndex(UnknownGPUError, "see: canserve gpus")
    for gpu in _gpus():
        index.add(gpu, (gpu.id, *gpu.aliases))
    return index


def get_gpu(name: str) -> GPU:
    """The GPU called ``name`` (id or alias, any case): ``H100`` is the SXM part. ``cpu`` is the
    host CPU, measured by a short probe (:mod:`canserve.catalog.cpu`)."""
    if name.strip().lower() in ("cpu", "host"):
        from canserve.catalog.cpu import cpu_profile

        return cpu_profile()
    return _index().get(name)


def list_gpus() -> list[GPU]:
    return list(_gpus())
