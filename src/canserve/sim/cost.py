"""Step times for the simulator, from the performance model, cached for speed.

A decode step of ``B`` sequences at contexts ``c_i`` takes
``base(B) + s(B) * sum(c_i) + sum over windows w of s_w(B) * sum(min(c_i, w))``: the KV
streaming term of the whole-context layers over the actual total context, and that of each
sliding-window group over the contexts its window keeps. The slopes come from
:func:`canserve.perf.step.step_time` (which iterates the KV layout groups) once per batch size:
its time at equal contexts is piecewise linear with kinks at the windows, and the slope between
two kinks is ``s`` plus the ``s_w`` of the windows not yet full.

A step that also prefills chunks (sequence ``i``: ``t_i`` tokens after ``o_i`` already
prefilled) is priced per sequence: the performance model's time for the GEMMs and small kernels
of all ``B + sum t_i`` tokens (cached near multiples of 16 tokens: see ``_CHUNK_BUCKET``), its
LM head over the rows that need logits, plus each chunk's own causal attention at its own offset
(:func:`~canserve.perf.step.prefill_pair_seconds` x :func:`~canserve.perf.step.causal_pairs`,
exact, not cached), plus the decodes' KV term. A
framework without CUDA graphs keeps its floor of CPU launches per layer. Static batching's
prefill of ``n`` prompts padded to ``L`` tokens is ``n`` sequences of ``L``, not one of
``n x L``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from canserve.arch.spec import ModelSpec
from canserve.catalog.quant import QuantFormat
from canserve.kv import kv_layout
from canserve.perf.calibration import Calibration
from canserve.perf.step import (
    Hardware,
    Step,
    StepTime,
    causal_pairs,
    lm_head_seconds,
    prefill_pair_seconds,
    step_time,
)

__all__ = ["StepCost"]

# A step's GEMM and kernel time is cached at multiples of these many tokens and at the first and
# last token count strictly between two multiples, and priced in between by the line through
# those two. That is exact wherever the performance model is affine inside the interval: on a GPU
# it pads a GEMM's rows to whole tiles (powers of two from 16, then multiples of 128:
# perf/step.py, _padded_rows), so the padding is constant up to the multiple and only the
# activations' traffic grows; on the host CPU (no tiles) it is linear throughout. Rounding up to
# the multiple priced a 133-token prompt as 144 tokens on the CPU, +8%, found by the llama-server
# check (issue 12), where at 85% load queueing multiplies it about 7x; on a GPU up to +2% at 17
# tokens. The line never runs past the points it is drawn through: where the model steps at a
# multiple (gpt-oss-20b in MXFP4 on an A10G: 59 ms at 255 tokens, 93 ms at 256), the line through
# 255 and 256 put a 241-token step at -0.42 s.
_CHUNK_BUCKET = 16
_FINE_TOKENS = 1024  # above this many tokens in a step, multiples of 64
_COARSE_BUCKET = 64
# Batches up to this size price decode at their own mean context: with few sequences a split-KV
# kernel (FlashDecoding) has fewer work items than SMs and its time is not linear in the
# context (perf/step.py, _kv_splits: no splits once the work items fill 80% of the SMs, e.g.
# 16 sequences x 8 KV heads on 132 SMs).
SMALL_BATCH = 16


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
    # the engine runs a step's tokens as micro-batches of at most this many (llama.cpp's n_ubatch
    # inside its n_batch pass, sampling after the last); 0: one batch
    ubatch_tokens: int = 0
    _decode: dict[int, tuple[float, float, tuple[float, ...]]] = field(default_factory=dict)
    _gemms: dict[int, float] = field(default_factory=dict)
    _static: dict[tuple[int, int], float] = field(default_factory=dict)
    _head: dict[int, float] = field(default_factory=dict)
    _pair_s: tuple[tuple[int | None, float], ...] = ()

    def __post_init__(self) -> None:
        self._pair_s = prefill_pair_seconds(self.spec, self.hw, self.cal, self.framework)
        layout = kv_layout(self.spec, self.hw.tp)
        self.windows: tuple[int, ...] = tuple(sorted({w for w, _, _ in layout.groups if w}))
        # the share of a token's KV entries (in every layer) kept by each window's layers: a
        # sequence of c tokens holds c x (1 - sum) + sum over windows of share x min(c, w)
        per_token = layout.elements_per_token_at(0)
        self.kv_window_shares: tuple[float, ...] = tuple(
            sum(e for w, _, e in layout.groups if w == window) / per_token
            for window in self.windows
        )
        # every layer global: one coefficient, pairs t * o + t (t + 1) / 2 (the fast path)
        self._global_s = self._pair_s[0][1] if [w for w, _ in self._pair_s] == [None] else None
        fw = self.cal.framework(self.framework)
        self._graphs = fw.cuda_graphs
        self._floor_s = self.spec.num_hidden_layers * fw.per_layer_overhead_s
        self._cpu_s = fw.step_overhead_s
        self._cpu_decode_s = fw.step_overhead_s + fw.decode_overhead_s
        self._cpu_sequence_s = fw.sequence_overhead_s  # per sequence a step decodes
        self._split_mixed = fw.split_mixed_steps  # decodes and prompt tokens in separate ubatches

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

    def decode(self, batch: int, mean_context: int = 0) -> tuple[float, float, tuple[float, ...]]:
        """(base_s, s, (s_w per window of :attr:`windows`)) of a decode step of ``batch``
        sequences: seconds per KV token of the whole-context layers and of each window group.
        Up to :data:`SMALL_BATCH` sequences the slopes are taken at the batch's own
        ``mean_context`` (in quarter-octave buckets): there a split-KV decode kernel's time is
        not linear in the context (it splits a short context less finely)."""
        if batch > SMALL_BATCH or mean_context <= 0:
            known = self._decode.get(batch)
            if known is None:
                known = self._decode[batch] = self._decode_terms(batch, self.reference_context)
            return known
        else:
            bucket = round(4 * math.log2(max(mean_context, 2)))
            key, top = -(batch * 1024 + bucket), round(2 ** (bucket / 4))
        known = self._decode.get(key)
        if known is None:
            known = self._decode[key] = self._decode_terms(batch, top)
        return known

    def _decode_terms(self, batch: int, top: int) -> tuple[float, float, tuple[float, ...]]:
        def at(context: int) -> float:
            return self._time(Step(decode_seqs=batch, context=context))

        base = at(1)
        last = self.windows[-1] if self.windows else 1
        top = max(top, 2 * last, 2)
        points = [1, *self.windows, top]
        times = [base, *(at(w) for w in self.windows), at(top)]
        segments = [
            max(0.0, (t1 - t0) / (batch * (c1 - c0)))
            for c0, c1, t0, t1 in zip(points, points[1:], times, times[1:], strict=False)
        ]
        windowed = tuple(max(0.0, segments[j] - segments[j + 1]) for j in range(len(self.windows)))
        return base, segments[-1], windowed

    def attention_s(self, offset: int, tokens: int) -> float:
        """Prefill attention of one chunk of ``tokens`` after ``offset`` tokens of its prompt."""
        return sum(s * causal_pairs(offset, tokens, w) for w, s in self._pair_s)

    def _gemms_s(self, tokens: int) -> float:
        """Device time of a step of ``tokens`` tokens without its prefill attention and LM
        head, from the cached token counts around it (see ``_CHUNK_BUCKET``)."""
        bucket = _CHUNK_BUCKET if tokens <= _FINE_TOKENS else _COARSE_BUCKET
        return _affine(self._gemms_gpu_s, tokens, bucket)

    def _gemms_gpu_s(self, tokens: int) -> float:
        """GPU time of a step of exactly ``tokens`` tokens without its prefill attention and
        its LM head (cached)."""
        seconds = self._gemms.get(tokens)
        if seconds is None:
            st = self._step(Step(prefill_tokens=tokens, prefill_last_chunk=False))
            gpu = st.total_s - st.overhead_s
            seconds = self._gemms[tokens] = gpu - self.attention_s(0, tokens)
        return seconds

    def head_s(self, rows: int) -> float:
        """The LM head's time for ``rows`` rows of logits (cached)."""
        seconds = self._head.get(rows)
        if seconds is None:
            seconds = self._head[rows] = lm_head_seconds(
                self.spec, self.fmt, self.hw, rows, framework=self.framework, cal=self.cal
            )
        return seconds

    def mixed(
        self,
        batch: int,
        kv_s: float,
        chunks: Sequence[tuple[int, int]],
        decode_base_s: float | None = None,
        finishing: int | None = None,
    ) -> float:
        """A step with ``batch`` decodes whose KV term is ``kv_s`` seconds (the slopes of
        :meth:`decode` times the contexts) and prefill ``chunks`` of (offset, tokens), one per
        sequence, of which ``finishing`` (default: all) complete their prompts (they and the decodes
        need logits; a prompt's earlier chunks do not). A framework with ``split_mixed_steps``
        runs the decodes as a decode step of their own (``decode_base_s``: its base time from
        :meth:`decode`, at the batch's mean context) and then the prompt tokens, on the device
        one after the other."""
        finishing = len(chunks) if finishing is None else min(finishing, len(chunks))
        if self._split_mixed and batch and chunks:
            if decode_base_s is None:
                decode_base_s = self.decode(batch)[0]
            return decode_base_s + kv_s + self._prefill_gpu_s(chunks, finishing)
        u = self.ubatch_tokens
        if u and chunks and batch + sum(t for _, t in chunks) > u:
            # the first micro-batch carries the decodes, each further one is a step of its own
            pieces = _micro_batches(chunks, finishing, u, first=u - batch)
            first, rest = pieces[0], pieces[1:]
            seconds = self.mixed(batch, kv_s, first[0], decode_base_s, first[1])
            return seconds + sum(self.mixed(0, 0.0, c, None, f) for c, f in rest)
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
        gpu = self._gemms_s(batch + prefill) + self.head_s(batch + finishing) + attention + kv_s
        if not self._graphs and gpu < self._floor_s:
            gpu = self._floor_s
        if not batch:
            return gpu + self._cpu_s
        return gpu + self._cpu_decode_s + batch * self._cpu_sequence_s

    def _prefill_gpu_s(self, chunks: Sequence[tuple[int, int]], finishing: int) -> float:
        """Device time of prefill ``chunks`` of (offset, tokens) run on their own, ``finishing``
        of them the last chunk of their prompt (in micro-batches of ``ubatch_tokens``, each
        further one with its step overhead)."""
        u = self.ubatch_tokens
        if u and sum(t for _, t in chunks) > u:
            pieces = _micro_batches(chunks, finishing, u, first=u)
            head, rest = pieces[0], pieces[1:]
            return self._prefill_gpu_s(*head) + sum(self.mixed(0, 0.0, c, None, f) for c, f in rest)
        gpu = self._gemms_s(sum(t for _, t in chunks)) + self.head_s(finishing)
        gpu += sum(self.attention_s(offset, t) for offset, t in chunks)
        if not self._graphs and gpu < self._floor_s:
            gpu = self._floor_s
        return gpu

    def static_prefill(self, seqs: int, longest_prompt: int) -> float:
        """Static batching's prefill: ``seqs`` prompts padded to ``longest_prompt`` tokens
        (cached; exact, as its rows, ``seqs x longest_prompt``, are padded to tiles as one)."""
        key = (seqs, longest_prompt)
        seconds = self._static.get(key)
        if seconds is None:
            step = Step(prefill_tokens=longest_prompt, prefill_seqs=seqs)
            seconds = self._static[key] = self._time(step)
        return seconds


def _micro_batches(
    chunks: Sequence[tuple[int, int]], finishing: int, size: int, first: int
) -> list[tuple[list[tuple[int, int]], int]]:
    """``chunks`` of (offset, tokens), the first ``finishing`` of them completing their
    prompts, cut in order into micro-batches of ``size`` tokens (the first ``first``, at least
    one): (chunks, how many of them complete their prompts) per micro-batch."""
    out: list[tuple[list[tuple[int, int]], int]] = []
    room, current, done = max(first, 1), [], 0
    for i, (offset, tokens) in enumerate(chunks):
        while tokens:
            take = min(tokens, room)
            current.append((offset, take))
            offset, tokens, room = offset + take, tokens - take, room - take
            done += not tokens and i < finishing
            if not room:
                out.append((current, done))
                room, current, done = size, [], 0
    if current:
        out.append((current, done))
    return out


def _affine(cached: Callable[[int], float], tokens: int, bucket: int) -> float:
    """``cached(tokens)`` from ``cached`` at the first and last token counts strictly inside the
    ``bucket`` interval around ``tokens``: the line through them, which never leaves the range
    between them (``_CHUNK_BUCKET``); a multiple of ``bucket`` is priced exactly."""
    low = tokens // bucket * bucket
    first, last = low + 1, low + bucket - 1
    if tokens == low or tokens < bucket or first >= last:
        return cached(tokens)
    a, b = cached(first), cached(last)
    return a + (tokens - first) * (b - a) / (last - first)
