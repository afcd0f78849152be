"""Step times for the simulator, from the performance model, cached for speed.

A decode step of ``B`` sequences holding ``S`` KV tokens in total takes
``base(B) + per_token(B) * S`` (linear in ``S``: the KV streaming term), with ``base`` and
``per_token`` taken from :func:`canserve.perf.step.step_time` once per batch size. A step that
also prefills a chunk of ``c`` tokens at prompt offset ``o`` takes the performance model's time
for ``B + c`` tokens of GEMMs with the chunk's causal attention, plus the decodes' KV term. Both
are cached on (batch, chunk bucket), so a million requests cost a few thousand model calls.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from canserve.arch.spec import ModelSpec
from canserve.catalog.quant import QuantFormat
from canserve.perf.calibration import Calibration
from canserve.perf.step import Hardware, Step, step_time

__all__ = ["StepCost"]

_CHUNK_BUCKET = 16  # tokens; prefill chunks are costed at the next multiple
_OFFSET_BUCKET = 1024  # tokens; prompt offsets of later chunks likewise


@dataclass
class StepCost:
    """Callable step-time model for one replica (see the module docstring)."""

    spec: ModelSpec
    fmt: QuantFormat
    hw: Hardware
    kv_bits: float
    framework: str
    cal: Calibration
    reference_context: int  # context at which the per-token KV slope is measured
    _decode: dict[int, tuple[float, float]] = field(default_factory=dict)
    _prefill: dict[tuple[int, int], float] = field(default_factory=dict)

    def _time(self, step: Step) -> float:
        return step_time(
            self.spec,
            self.fmt,
            self.hw,
            step,
            kv_bits=self.kv_bits,
            framework=self.framework,
            cal=self.cal,
        ).total_s

    def decode(self, batch: int) -> tuple[float, float]:
        """(base_s, per_kv_token_s) of a decode step of ``batch`` sequences."""
        known = self._decode.get(batch)
        if known is None:
            ctx = self.reference_context
            base = self._time(Step(decode_seqs=batch, context=1))
            full = self._time(Step(decode_seqs=batch, context=ctx))
            known = self._decode[batch] = (base, max(0.0, (full - base) / (batch * ctx)))
        return known

    def mixed(self, batch: int, kv_tokens: int, chunk: int, offset: int) -> float:
        """A step with ``batch`` decodes over ``kv_tokens`` cached tokens and one prefill chunk."""
        key = (batch - (-chunk // _CHUNK_BUCKET) * _CHUNK_BUCKET, offset // _OFFSET_BUCKET)
        seconds = self._prefill.get(key)
        if seconds is None:
            seconds = self._prefill[key] = self._time(
                Step(prefill_tokens=key[0], prefill_offset=key[1] * _OFFSET_BUCKET)
            )
        if batch == 0:
            return seconds
        return seconds + self.decode(batch)[1] * kv_tokens
