"""Calibration of the performance model: kernel efficiencies, interconnect and framework costs.

The built-in values live in ``catalog/data/calibration.toml`` (fitted to H100 measurements by
``scripts/fit_perf.py``; constants with their sources). A user calibration file with the same
tables overrides any subset of them (``load_calibration(path)``).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields, replace
from functools import cache
from pathlib import Path
from typing import Any

from canserve.catalog.loader import data_path
from canserve.errors import InvalidInputError

__all__ = ["Calibration", "FrameworkCosts", "InterconnectCosts", "KernelCosts", "load_calibration"]


@dataclass(frozen=True)
class KernelCosts:
    weight_bw_fraction: float
    kv_bw_fraction: float
    kv_parallel_half: float
    gemm_flops_fraction: float
    gemm_m_half: float
    compute_efficiency: float
    step_overhead_s: float


@dataclass(frozen=True)
class InterconnectCosts:
    allreduce_latency_nvlink_s: float
    allreduce_latency_pcie_s: float
    link_bw_fraction: float
    p2p_latency_s: float


@dataclass(frozen=True)
class FrameworkCosts:
    step_overhead_s: float
    decode_overhead_s: float
    per_layer_overhead_s: float
    cuda_graphs: bool
    continuous_batching: bool


@dataclass(frozen=True)
class Calibration:
    kernels: KernelCosts
    interconnect: InterconnectCosts
    frameworks: dict[str, FrameworkCosts]
    source: str
    devices: dict[str, KernelCosts] = field(default_factory=dict)  # per GPU id, overriding

    def framework(self, framework_id: str) -> FrameworkCosts:
        return self.frameworks[framework_id]

    def kernels_for(self, gpu_id: str) -> KernelCosts:
        """The kernel efficiencies measured on ``gpu_id`` if any, else the default ones."""
        return self.devices.get(gpu_id, self.kernels)


def _pick(cls: type, table: dict[str, Any], where: str) -> Any:
    names = {f.name for f in fields(cls)}
    missing = names - table.keys()
    if missing:
        raise InvalidInputError(f"{where}: missing {', '.join(sorted(missing))}")
    return cls(**{k: table[k] for k in names})


def _parse(doc: dict[str, Any], where: str) -> Calibration:
    return Calibration(
        kernels=_pick(KernelCosts, doc["kernels"], f"{where} [kernels]"),
        interconnect=_pick(InterconnectCosts, doc["interconnect"], f"{where} [interconnect]"),
        frameworks={
            name: _pick(FrameworkCosts, table, f"{where} [framework.{name}]")
            for name, table in doc["framework"].items()
        },
        source=where,
        devices={
            name: _pick(KernelCosts, table, f"{where} [device.{name}]")
            for name, table in doc.get("device", {}).items()
        },
    )


@cache
def _builtin() -> Calibration:
    with data_path("calibration.toml").open("rb") as fh:
        return _parse(tomllib.load(fh), "calibration.toml")


def load_calibration(path: str | Path | None = None) -> Calibration:
    """The built-in calibration, with any tables of the TOML file at ``path`` laid over it."""
    base = _builtin()
    if path is None:
        return base
    try:
        with Path(path).open("rb") as fh:
            doc = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise InvalidInputError(f"cannot read calibration file {path}: {exc}") from None
    kernels = replace(base.kernels, **_known(KernelCosts, doc.get("kernels", {})))
    links = replace(base.interconnect, **_known(InterconnectCosts, doc.get("interconnect", {})))
    frameworks = dict(base.frameworks)
    for name, table in doc.get("framework", {}).items():
        if name not in frameworks:
            raise InvalidInputError(f"{path}: unknown framework {name!r}")
        frameworks[name] = replace(frameworks[name], **_known(FrameworkCosts, table))
    devices = dict(base.devices)
    for name, table in doc.get("device", {}).items():
        devices[name] = replace(devices.get(name, kernels), **_known(KernelCosts, table))
    return Calibration(kernels, links, frameworks, str(path), devices)


def _known(cls: type, table: dict[str, Any]) -> dict[str, Any]:
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in table.items() if k in names}
