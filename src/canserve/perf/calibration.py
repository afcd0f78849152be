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
from canserve.validation import check_float

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


def _read_toml(path: str | Path) -> dict[str, Any]:
    try:
        with Path(path).open("rb") as fh:
            return tomllib.load(fh)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise InvalidInputError(f"cannot read calibration file {path}: {exc}") from None


def load_calibration(source: str | Path | dict[str, Any] | None = None) -> Calibration:
    """The built-in calibration, with the tables of ``source`` (a TOML file, or its parsed
    tables) laid over it. Unknown tables or keys, a device that names no GPU, and values out of
    range are errors, never silently ignored."""
    base = _builtin()
    if source is None:
        return base
    where = "calibration" if isinstance(source, dict) else str(source)
    doc = source if isinstance(source, dict) else _read_toml(source)
    _only(doc, {"kernels", "interconnect", "framework", "device"}, where, "table")
    kernels = replace(base.kernels, **_values(KernelCosts, doc.get("kernels", {}), where))
    links = replace(
        base.interconnect, **_values(InterconnectCosts, doc.get("interconnect", {}), where)
    )
    frameworks = dict(base.frameworks)
    for name, table in _tables(doc, "framework", where).items():
        if name not in frameworks:
            known = ", ".join(sorted(frameworks))
            raise InvalidInputError(f"{where}: unknown framework {name!r} (known: {known})")
        frameworks[name] = replace(frameworks[name], **_values(FrameworkCosts, table, where))
    devices = dict(base.devices)
    for name, table in _tables(doc, "device", where).items():
        gpu_id = _device_id(name, where)
        devices[gpu_id] = replace(
            devices.get(gpu_id, kernels), **_values(KernelCosts, table, where)
        )
    return Calibration(kernels, links, frameworks, where, devices)


_DOC_KEYS = {"source", "source_date"}  # documentation inside a table


def _only(table: dict[str, Any], known: set[str], where: str, what: str) -> None:
    unknown = sorted(set(table) - known - _DOC_KEYS)
    if unknown:
        raise InvalidInputError(
            f"{where}: unknown {what} {', '.join(map(repr, unknown))} "
            f"(known: {', '.join(sorted(known))})"
        )


def _tables(doc: dict[str, Any], key: str, where: str) -> dict[str, dict[str, Any]]:
    tables = doc.get(key, {})
    if not isinstance(tables, dict) or not all(isinstance(t, dict) for t in tables.values()):
        raise InvalidInputError(f"{where}: [{key}.NAME] must be tables")
    return tables


def _device_id(name: str, where: str) -> str:
    """The catalog id of the GPU ``name`` (``H100`` -> ``H100-SXM-80GB``; ``cpu`` -> ``CPU``)."""
    from canserve.catalog.gpus import get_gpu
    from canserve.errors import UnknownGPUError

    if name.strip().lower() in ("cpu", "host"):
        return "CPU"
    try:
        return get_gpu(name).id
    except UnknownGPUError as exc:
        raise InvalidInputError(f"{where}: [device.{name}]: {exc}") from None


def _values(cls: type, table: object, where: str) -> dict[str, Any]:
    """The known, range-checked values of ``table`` for ``cls``."""
    if not isinstance(table, dict):
        raise InvalidInputError(f"{where}: expected a table of values, got {table!r}")
    kinds = {f.name: f.type for f in fields(cls)}
    _only(table, set(kinds), where, "key")
    out: dict[str, Any] = {}
    for key, value in table.items():
        if key in _DOC_KEYS:
            continue
        if kinds[key] in ("bool", bool):
            if not isinstance(value, bool):
                raise InvalidInputError(f"{where}: {key} must be true or false, got {value!r}")
            out[key] = value
            continue
        high = _FRACTION_MAX if key.endswith("_fraction") or key == "compute_efficiency" else 1e6
        low_open = key.endswith("_fraction") or key == "compute_efficiency"
        try:
            out[key] = check_float(key, value, 0.0, high, open_low=low_open)
        except InvalidInputError as exc:
            raise InvalidInputError(f"{where}: {exc}") from None
    return out


_FRACTION_MAX = 1.0  # an efficiency is a fraction of a measured or datasheet rate
