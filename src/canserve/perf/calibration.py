"""Calibration of the performance model: kernel costs per device, format kernels, interconnect and
framework costs.

The built-in values live in ``catalog/data/calibration.toml`` (fitted to H100 measurements by
``scripts/fit_perf.py``; constants with their sources). A user calibration file with the same
tables overrides any subset of them (``load_calibration(path)``); ``canserve calibrate`` writes
one from benchmarks of a live server.

Every efficiency is a fraction (0, 1] of a measured or datasheet rate; every fixed cost is in
seconds; rates are in bytes or FLOP per second. ``[kernels]`` holds the values measured on
``measured_on`` (an H100 SXM); other GPUs use the same fractions of their own datasheet figures
and the same fixed costs in seconds, until a ``[device.GPU]`` table replaces them.
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

__all__ = [
    "Calibration",
    "FrameworkCosts",
    "InterconnectCosts",
    "KernelCosts",
    "QuantKernelCosts",
    "load_calibration",
]


@dataclass(frozen=True)
class KernelCosts:
    """How fast one device runs the kernels of a step (see ``docs/perf.md``)."""

    stream_bw_fraction: float  # achievable streaming read / datasheet hbm_bytes_per_s
    gemm_bw_fraction: float  # weight streaming of the GEMMs in a step / streaming read
    gemm_flops_fraction: float  # GEMM tensor-core rate with every SM busy / datasheet peak
    gemm_fixed_s: float  # ramp-up and tail of one GEMM kernel
    kernel_fixed_s: float  # one small kernel (norm, residual add, activation, KV write, ...)
    kv_bw_fraction: float  # attention KV streaming with the GPU full / streaming read
    kv_cta_bytes_per_s: float  # KV streaming rate of one attention work item (one CTA)
    attn_flops_fraction: float  # prefill (causal) attention FLOP rate / datasheet bf16 peak
    compute_efficiency: float  # compute-bound steps / the GEMM model's rate (sustained clocks)
    expert_fixed_s: float  # per routed expert a grouped GEMM runs (its tiles' ramp and tail)


@dataclass(frozen=True)
class QuantKernelCosts:
    """What a weight format's kernels cost beyond their bytes."""

    weight_only_compute_fraction: float  # W4A16/W8A16 GEMMs (dequantize in registers) / bf16
    block_scale_compute_fraction: float  # FP8 with 128x128 block scales / per-tensor FP8


@dataclass(frozen=True)
class InterconnectCosts:
    allreduce_latency_nvlink_s: float
    allreduce_latency_pcie_s: float
    link_bw_fraction: float
    p2p_latency_s: float


@dataclass(frozen=True)
class FrameworkCosts:
    step_overhead_s: float  # CPU time per step not hidden behind the GPU (scheduler)
    decode_overhead_s: float  # more of it on steps that decode
    per_layer_overhead_s: float  # CPU launch time per layer (eager frameworks)
    cuda_graphs: bool  # false: a step is bounded below by CPU launches
    continuous_batching: bool
    split_kv: bool  # decode attention splits each sequence's KV over the context (FlashDecoding)
    layer_kernels: float  # small kernels per decoder layer (norms, adds, rotary, KV write, act)
    moe_kernels: float  # more small kernels per MoE layer (top-k, permute, combine)
    compute_fraction: float  # of the device's compute rate its kernels reach (eager: < 1)
    sequence_overhead_s: float = 0.0  # per sequence a step decodes (sampling, detokenize, stream)
    # a step that decodes and prefills runs its decodes as a micro-batch of their own, then the
    # prompt tokens (llama.cpp with a KV stream per slot: llama_batch_allocr::split_equal)
    split_mixed_steps: bool = False


@dataclass(frozen=True)
class Calibration:
    kernels: KernelCosts
    quant: QuantKernelCosts
    interconnect: InterconnectCosts
    frameworks: dict[str, FrameworkCosts]
    source: str
    measured_on: str = ""  # the GPU id ``kernels`` was measured on
    devices: dict[str, KernelCosts] = field(default_factory=dict)  # per GPU id, overriding
    device_sources: dict[str, str] = field(default_factory=dict)  # where each device table is from

    def framework(self, framework_id: str) -> FrameworkCosts:
        return self.frameworks[framework_id]

    def kernels_for(self, gpu_id: str) -> KernelCosts:
        """The kernel costs measured on ``gpu_id`` if any, else the default (H100) ones."""
        return self.devices.get(gpu_id, self.kernels)

    def basis(self, gpu_id: str) -> str:
        """Where ``gpu_id``'s kernel costs come from, in words."""
        if gpu_id in self.devices:
            return f"measured: {self.device_sources.get(gpu_id, self.source)}"
        if gpu_id == self.measured_on:
            return f"measured on this GPU ({self.source})"
        return (
            f"assumed: the fractions measured on {self.measured_on or 'another GPU'} applied to "
            "this GPU's datasheet bandwidth and FLOP/s, and the same fixed costs in seconds; "
            "`canserve calibrate` (or calibration/*/measure_gpu.py) replaces them"
        )


_TABLES: dict[str, type] = {
    "kernels": KernelCosts,
    "quant_kernels": QuantKernelCosts,
    "interconnect": InterconnectCosts,
}


def _pick(cls: type, table: dict[str, Any], where: str, fraction_high: float = 1.0) -> Any:
    names = {f.name for f in fields(cls)}
    missing = names - table.keys()
    if missing:
        raise InvalidInputError(f"{where}: missing {', '.join(sorted(missing))}")
    return cls(**_values(cls, table, where, fraction_high))


def _parse(doc: dict[str, Any], where: str) -> Calibration:
    devices = {
        _device_id(name, where): _pick(
            KernelCosts, table, f"{where} [device.{name}]", _fraction_high(_device_id(name, where))
        )
        for name, table in doc.get("device", {}).items()
    }
    sources = {
        _device_id(name, where): str(table.get("source", where))
        for name, table in doc.get("device", {}).items()
    }
    return Calibration(
        kernels=_pick(KernelCosts, doc["kernels"], f"{where} [kernels]"),
        quant=_pick(QuantKernelCosts, doc["quant_kernels"], f"{where} [quant_kernels]"),
        interconnect=_pick(InterconnectCosts, doc["interconnect"], f"{where} [interconnect]"),
        frameworks={
            name: _pick(FrameworkCosts, table, f"{where} [framework.{name}]")
            for name, table in doc["framework"].items()
        },
        source=where,
        measured_on=str(doc["kernels"].get("measured_on", "")),
        devices=devices,
        device_sources=sources,
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
    _only(doc, {*_TABLES, "framework", "device"}, where, "table")
    layered = {
        name: replace(getattr(base, attr), **_values(cls, doc.get(name, {}), where))
        for name, cls, attr in (
            ("kernels", KernelCosts, "kernels"),
            ("quant_kernels", QuantKernelCosts, "quant"),
            ("interconnect", InterconnectCosts, "interconnect"),
        )
    }
    frameworks = dict(base.frameworks)
    for name, table in _tables(doc, "framework", where).items():
        if name not in frameworks:
            known = ", ".join(sorted(frameworks))
            raise InvalidInputError(f"{where}: unknown framework {name!r} (known: {known})")
        frameworks[name] = replace(frameworks[name], **_values(FrameworkCosts, table, where))
    devices = dict(base.devices)
    sources = dict(base.device_sources)
    for name, table in _tables(doc, "device", where).items():
        gpu_id = _device_id(name, where)
        devices[gpu_id] = replace(
            devices.get(gpu_id, layered["kernels"]),
            **_values(KernelCosts, table, where, _fraction_high(gpu_id)),
        )
        sources[gpu_id] = str(table.get("source", where))
    return Calibration(
        kernels=layered["kernels"],
        quant=layered["quant_kernels"],
        interconnect=layered["interconnect"],
        frameworks=frameworks,
        source=where,
        measured_on=base.measured_on,
        devices=devices,
        device_sources=sources,
    )


_DOC_KEYS = {"source", "source_date", "measured_on"}  # documentation inside a table


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


# (low, high, low end open) per kind of key, recognised by its name.
_FRACTION = (0.0, 1.0, True)  # an efficiency is a fraction of a measured or datasheet rate
# The host CPU's rates are a probe's measurement, which errs low when other processes ran
# (canserve.catalog.cpu): its fitted fractions may exceed 1 (see canserve.bench.compare).
CPU_FRACTION_MAX = 4.0


def _fraction_high(gpu_id: str) -> float:
    """The largest fraction a device table may hold: 1, or the CPU's bound."""
    return CPU_FRACTION_MAX if gpu_id == "CPU" else 1.0


_SECONDS = (0.0, 3600.0, False)
_RATE = (0.0, 1e18, True)  # bytes or FLOP per second
_COUNT = (0.0, 1000.0, False)  # kernels, waves


def _range(key: str) -> tuple[float, float, bool]:
    if key.endswith("_fraction") or key == "compute_efficiency":
        return _FRACTION
    if key.endswith("_per_s"):
        return _RATE
    if key.endswith("_s"):
        return _SECONDS
    return _COUNT


def _values(cls: type, table: object, where: str, fraction_high: float = 1.0) -> dict[str, Any]:
    """The known, range-checked values of ``table`` for ``cls`` (fractions up to
    ``fraction_high``)."""
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
        low, high, open_low = _range(key)
        if (low, high, open_low) == _FRACTION:
            high = fraction_high
        try:
            out[key] = check_float(key, value, low, high, open_low=open_low)
        except InvalidInputError as exc:
            raise InvalidInputError(f"{where}: {exc}") from None
    return out
