"""Step times for the simulator, from the performance model, cached for speed.

A decode step of ``B`` sequences holding ``S`` KV tokens in total takes
``base(B) + per_token(B) * S`` (linear in ``S``: the KV streaming term), with ``base`` and
``per_token`` taken from :func:`canserve.perf.step.step_time` once per batch size.

A step that also prefills chunks (sequence ``i``: ``t_i`` tokens after ``o_i`` already
prefilled) is priced per sequence: the performance model's time for the GEMMs and small kernels
of all ``B + sum t_i`` tokens (cached on the token count, in buckets of 16), plus each chunk's
own causal attention at its own offset (:func:`~canserve.perf.step.prefill_pair_seconds` x
:func:`~canserve.perf.step.causal_pairs`, exact, not cached), plus the decodes' KV term. A
framework without CUDA graphs keeps its floor of CPU launches per layer. Static batching's
prefill of ``n`` prompts padded to ``L`` tokens is ``n`` sequences of ``L``, not one of
``n x L``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from canserve.arch.spec import ModelSpec
from canserve.catalog.quant import QuantFormat
from canserve.perf.calibration import Calibration
from canserve.perf.step import (
    Hardware,
    Step,
    StepTime,
    causal_pairs,
    prefill_pair_seconds,
    step_time,
)

__all__ = ["StepCost"]

_CHUNK_BUCKET = 16  # tokens; a step's prefill tokens are costed at the next multiple


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
    _gemms: dict[int, float] = field(default_factory=dict)
    _static: dict[tuple[int, int], float] = field(default_factory=dict)
    _pair_s: tuple[tuple[int | None, float], ...] = ()

    def __post_init__(self) -> None:
        self._pair_s = prefill_pair_seconds(self.spec, self.hw, self.cal, self.framework)
        # every layer global: one coefficient, pairs t * o + t (t + 1) / 2 (the fast path)
        self._global_s = self._pair_s[0][1] if [w for w, _ in self._pair_s] == [None] else None
        fw = self.cal.framework(self.framework)
        self._graphs = fw.cuda_graphs
        self._floor_s = self.spec.num_hidden_layers * fw.per_layer_overhead_s
        self._cpu_s = fw.step_overhead_s
        self._cpu_decode_s = fw.step_overhead_s + fw.decode_overhead_s

    def _step(self, step: Step) -> StepTime:
        return step_time(
            self.spec,
            self.fmt,
            self.hw,
            step,
            kv_bits=self.kv_bits,
            framework=self.framework,
            cal=self.cal,
        )

    def _time(self, step: Step) -> float:
        return self._step(step).total_s

    def decode(self, batch: int) -> tuple[float, float]:
        """(base_s, per_kv_token_s) of a decode step of ``batch`` sequences."""
        known = self._decode.get(batch)
        if known is None:
            ctx = self.reference_context
            base = self._time(Step(decode_seqs=batch, context=1))
            full = self._time(Step(decode_seqs=batch, context=ctx))
            known = self._decode[batch] = (base, max(0.0, (full - base) / (batch * ctx)))
        return known

    def attention_s(self, offset: int, tokens: int) -> float:
        """Prefill attention of one chunk of ``tokens`` after ``offset`` tokens of its prompt."""
        return sum(s * causal_pairs(offset, tokens, w) for w, s in self._pair_s)

    def _gemms_gpu_s(self, tokens: int) -> float:
        """GPU time of a step of ``tokens`` tokens without its prefill attention (cached)."""
        seconds = self._gemms.get(tokens)
        if seconds is None:
            st = self._step(Step(prefill_tokens=tokens))
            gpu = st.total_s - st.overhead_s
            seconds = self._gemms[tokens] = gpu - self.attention_s(0, tokens)
        return seconds

    def mixed(self, batch: int, kv_tokens: int, chunks: Sequence[tuple[int, int]]) -> float:
        """A step with ``batch`` decodes over ``kv_tokens`` cached tokens and prefill
        ``chunks`` of (offset, tokens), one per sequence."""
        prefill = 0
        attention = 0.0
        per_pair = self._global_s
        if per_pair is not None:
            pairs = 0.0
            for offset, tokens in chunks:
                prefill += tokens
                pairs += tokens * offset + tokens * (tokens + 1) / 2
            attention = per_pair * pairs
        else:
            for offset, tokens in chunks:
                prefill += tokens
                attention += self.attention_s(offset, tokens)
        key = batch - (-prefill // _CHUNK_BUCKET) * _CHUNK_BUCKET
        gpu = self._gemms_gpu_s(key) + attention
        if batch:
            gpu += self.decode(batch)[1] * kv_tokens
        if not self._graphs and gpu < self._floor_s:
            gpu = self._floor_s
        return gpu + (self._cpu_decode_s if batch else self._cpu_s)

    def static_prefill(self, seqs: int, longest_prompt: int) -> float:
        """Static batching's prefill: ``seqs`` prompts padded to ``longest_prompt`` tokens."""
        key = (seqs, -(-longest_prompt // _CHUNK_BUCKET) * _CHUNK_BUCKET)
        seconds = self._static.get(key)
        if seconds is None:
            step = Step(prefill_tokens=key[1], prefill_seqs=seqs)
            seconds = self._static[key] = self._time(step)
        return seconds
