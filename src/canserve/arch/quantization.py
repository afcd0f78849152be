"""The quantization a checkpoint ships in, read from its ``quantization_config`` (config.json) or
``hf_quant_config.json`` (NVIDIA ModelOpt), as canserve format ids, tensor by tensor.

* ``fp8`` (``weight_block_size`` -> ``fp8-block``; DeepSeek-V4's ``expert_dtype: fp4`` keeps its
  routed experts in MXFP4), ``awq``/``gptq``, ``bitsandbytes``, ``mxfp4``;
* ModelOpt (``quant_method: modelopt``, ``producer.name: modelopt`` or an
  ``hf_quant_config.json``): ``FP8`` (per-tensor scales) and ``NVFP4`` quantize every linear
  layer except the modules ``exclude_modules`` / ``ignore`` name (kept in 16-bit);
  ``MIXED_PRECISION`` gives each quantized module its algorithm in ``quantized_layers`` (modules
  not listed stay 16-bit);
* compressed-tensors (``quant_method: compressed-tensors``, llm-compressor): a config group
  targeting ``Linear`` with 8-bit float weights (``fp8``, ``fp8-tensor`` or ``fp8-block`` by its
  strategy), 4-bit float weights in groups of 16 (``nvfp4``) or symmetric 4-bit integers in groups
  of 32 (``int4-g32``, Kimi K2.5), except the modules ``ignore`` names (``re:`` prefixes a regex).

Module names are matched as the checkpoint spells them (``model.layers.3.self_attn.o_proj``,
globs allowed), against each tensor's ``name`` (see :class:`~canserve.arch.spec.Tensor`), with
the wrapper prefix (``model.``, ``model.language_model.``, ``backbone.`` ...) removed.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from canserve.arch.spec import Tensor

__all__ = ["CheckpointQuant", "checkpoint_quantization"]

# ModelOpt quant_algo -> canserve format id (W4A16_NVFP4 stores weights exactly as NVFP4)
_MODELOPT = {
    "FP8": "fp8-tensor",
    "NVFP4": "nvfp4",
    "W4A16_NVFP4": "nvfp4",
    "MXFP8": "mxfp8",
}
_PREFIXES = (
    "model.language_model.",
    "language_model.model.",
    "language_model.",
    "model.",
    "backbone.",
    "transformer.",
)
_LAYER = re.compile(r"layers\.(\d+)(\.|$)")
_QUANTIZABLE = {"linear", "expert", "lm_head"}  # nn.Linear modules; embeddings are not
_UNQUANTIZED = "bf16"


@dataclass(frozen=True)
class CheckpointQuant:
    """The checkpoint's format (None: 16-bit), the tensors stored otherwise, and notes."""

    format: str | None
    overrides: tuple[tuple[Tensor, str], ...] = ()
    notes: tuple[str, ...] = ()


def _not_sized(what: str) -> str:
    return (
        f"{what} is not a format canserve sizes: weights are counted as 16-bit unless a "
        "quantization format is chosen"
    )


def _strip(name: str) -> str:
    return next((name[len(p) :] for p in _PREFIXES if name.startswith(p)), name)


def _full_name(t: Tensor) -> str:
    name = t.name.replace("*", "0")  # routed experts: the checkpoint's expert 0 stands for all
    return name if t.layer is None else f"layers.{t.layer}.{name}"


class _Patterns:
    """Module-name globs (``re:`` regexes), bucketed by the layer they name so each tensor
    checks only a few."""

    def __init__(self, patterns: Iterable[str]) -> None:
        self.by_layer: dict[int | None, list[str]] = defaultdict(list)
        self.regexes: list[re.Pattern[str]] = []
        for raw in patterns:
            if raw.startswith("re:"):
                self.regexes.append(_regex(raw[3:]))
                continue
            pattern = _strip(raw)
            m = _LAYER.match(pattern)
            self.by_layer[int(m.group(1)) if m else None].append(pattern)

    def match(self, t: Tensor) -> bool:
        full = _full_name(t)
        candidates = self.by_layer.get(t.layer, []) + self.by_layer.get(None, [])
        if any(fnmatchcase(full, p) or full.startswith(p + ".") for p in candidates):
            return True
        return any(r.match(full) for r in self.regexes)


def _regex(pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern[:500])
    except re.error:
        return re.compile(re.escape(pattern[:500]))


def _enclosing(full: str) -> list[str]:
    """``a.b.c`` -> ``a.b.c``, ``a.b``, ``a``: the module and every module holding it."""
    parts = full.split(".")
    return [".".join(parts[:n]) for n in range(len(parts), 0, -1)]


def _string_list(value: Any) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _modelopt(q: Mapping[str, Any], tensors: tuple[Tensor, ...]) -> CheckpointQuant:
    algo = str(q.get("quant_algo", "")).upper()
    excluded = _Patterns(_string_list(q.get("exclude_modules")) + _string_list(q.get("ignore")))
    layers = q.get("quantized_layers")
    per_module: dict[str, str] = {}
    if algo == "MIXED_PRECISION" and isinstance(layers, dict):
        per_module = {
            _strip(k): str(v.get("quant_algo", "")).upper()
            for k, v in layers.items()
            if isinstance(v, dict)
        }
    elif algo not in _MODELOPT:
        return CheckpointQuant(None, notes=(_not_sized(f"ModelOpt quant_algo {algo!r}"),))
    chosen: dict[Tensor, str] = {}
    unknown: set[str] = set()
    for t in tensors:
        if t.role not in _QUANTIZABLE or len(t.shape) != 2:
            continue
        fmt = _UNQUANTIZED if excluded.match(t) else None
        if fmt is None and per_module:
            found = next((per_module[m] for m in _enclosing(_full_name(t)) if m in per_module), "")
            fmt = _MODELOPT.get(found, _UNQUANTIZED)
            if found and found not in _MODELOPT:
                unknown.add(found)
        chosen[t] = fmt or _MODELOPT[algo]
    notes = tuple(
        f"ModelOpt {a} layers are counted as 16-bit (not a format canserve sizes)"
        for a in sorted(unknown)
    )
    return _with_base(chosen, notes)


def _with_base(chosen: Mapping[Tensor, str], notes: tuple[str, ...]) -> CheckpointQuant:
    """The format holding the most parameters becomes the checkpoint's; the rest are overrides."""
    weight: dict[str, int] = defaultdict(int)
    for t, fmt in chosen.items():
        if fmt != _UNQUANTIZED:
            weight[fmt] += t.numel
    if not weight:
        return CheckpointQuant(None, notes=notes)
    base = max(weight, key=lambda k: weight[k])
    overrides = tuple((t, fmt) for t, fmt in chosen.items() if _listed(t, fmt, base))
    return CheckpointQuant(base, overrides, notes)


def _listed(t: Tensor, fmt: str, base: str) -> bool:
    """Whether ``t`` needs an override: stored otherwise than the base format stores its role
    (an embedding or LM head is 16-bit in every base format, so listed only when quantized)."""
    if t.role in {"embed", "lm_head"}:
        return fmt != _UNQUANTIZED
    return fmt != base


def _fp8(q: Mapping[str, Any], tensors: tuple[Tensor, ...], expert_dtype: Any) -> CheckpointQuant:
    base = "fp8-block" if q.get("weight_block_size") else "fp8"
    if str(q.get("expert_dtype", expert_dtype)).lower() != "fp4":
        return CheckpointQuant(base)
    overrides = tuple((t, "mxfp4") for t in tensors if t.role == "expert" and len(t.shape) == 2)
    note = "routed experts stored as FP4 (expert_dtype: fp4, E8M0 scales per 32: MXFP4)"
    return CheckpointQuant(base, overrides, (note,))


def _compressed_format(weights: Mapping[str, Any]) -> str | None:
    """The canserve format of a compressed-tensors weight scheme, None if canserve lacks it."""
    bits, kind = weights.get("num_bits"), weights.get("type")
    if bits == 8 and kind == "float":
        if weights.get("block_structure"):
            return "fp8-block"
        return "fp8-tensor" if weights.get("strategy") == "tensor" else "fp8"
    if bits == 4 and kind == "float" and weights.get("group_size") == 16:
        return "nvfp4"
    symmetric = weights.get("symmetric", True)
    if bits == 4 and kind == "int" and weights.get("group_size") == 32 and symmetric:
        return "int4-g32"
    return None


def _compressed_tensors(q: Mapping[str, Any], tensors: tuple[Tensor, ...]) -> CheckpointQuant:
    groups = q.get("config_groups")
    groups = groups if isinstance(groups, dict) else {}
    linear = [
        g
        for g in groups.values()
        if isinstance(g, dict) and "Linear" in _string_list(g.get("targets"))
    ]
    weights = linear[0].get("weights") if len(linear) == 1 else None
    fmt = _compressed_format(weights) if isinstance(weights, dict) else None
    if fmt is None:
        return CheckpointQuant(None, notes=(_not_sized("this compressed-tensors scheme"),))
    ignored = _Patterns(_string_list(q.get("ignore")))
    chosen = {
        t: _UNQUANTIZED if ignored.match(t) else fmt
        for t in tensors
        if t.role in {"linear", "expert"} and len(t.shape) == 2
    }
    return _with_base(chosen, ())


def _is_modelopt(q: Mapping[str, Any]) -> bool:
    producer = q.get("producer")
    name = producer.get("name") if isinstance(producer, dict) else None
    return q.get("quant_method") == "modelopt" or name == "modelopt"


def _simple(q: Mapping[str, Any]) -> CheckpointQuant:
    method = str(q.get("quant_method", "")).lower()
    bits = q.get("bits", 4)
    if method in {"awq", "gptq"}:
        return CheckpointQuant(method if bits == 4 else f"{method}-int{bits}")
    if method == "bitsandbytes":
        return CheckpointQuant("nf4" if q.get("load_in_4bit") else "int8")
    if method == "mxfp4":
        return CheckpointQuant("mxfp4")
    return CheckpointQuant(None, notes=(_not_sized(f"checkpoint quantization {method!r}"),))


def checkpoint_quantization(
    configs: Iterable[Mapping[str, Any]],
    hf_quant_config: Mapping[str, Any] | None,
    tensors: tuple[Tensor, ...],
) -> CheckpointQuant:
    """The checkpoint's quantization: from ``hf_quant_config`` when given, else the first
    ``quantization_config`` among ``configs`` (the config.json, then its text_config)."""
    if isinstance(hf_quant_config, Mapping):
        inner = hf_quant_config.get("quantization")
        return _modelopt(inner if isinstance(inner, Mapping) else hf_quant_config, tensors)
    configs = tuple(configs)
    q = next(
        (
            c["quantization_config"]
            for c in configs
            if isinstance(c.get("quantization_config"), dict)
        ),
        None,
    )
    if q is None:
        return CheckpointQuant(None)
    if _is_modelopt(q):
        return _modelopt(q, tensors)
    if q.get("quant_method") == "compressed-tensors":
        return _compressed_tensors(q, tensors)
    if str(q.get("quant_method", "")).lower() == "fp8":
        expert_dtype = next((c["expert_dtype"] for c in configs if "expert_dtype" in c), None)
        return _fp8(q, tensors, expert_dtype)
    return _simple(q)
