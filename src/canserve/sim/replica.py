"""One serving replica: a vLLM-like continuous-batching scheduler, or static batching.

Continuous batching (vLLM V1's policy, simplified):

* every step runs all running sequences' next decode token plus as many prompt tokens as the
  ``max_num_batched_tokens`` budget leaves (chunked prefill), admitting waiting requests in
  arrival order while fewer than ``max_num_seqs`` run and their prompt fits in free KV blocks;
* decode-only stretches are jumped over in one event: between two events the batch is fixed, so
  ``k`` steps take ``k (base + slope S) + slope B k (k - 1) / 2`` seconds while the KV tokens
  ``S`` grow by ``B`` a step (each sliding-window group adds its own term over the contexts its
  window keeps, and an event ends when a sequence reaches a window);
* when the next step's tokens do not fit in the KV blocks, the newest running request is
  preempted and recomputed later (its prompt and generated tokens are prefilled again).

KV capacity is counted in tokens of every layer: a sliding-window layer keeps at most its window
of each sequence (vLLM's hybrid allocator frees the blocks that leave the window), so a sequence
of ``c`` tokens holds ``c x full + sum over windows of share x min(c, w)`` of them, the shares
those layers' part of a token's KV (``StepCost.kv_window_shares``).

Static batching: when idle, take up to ``max_num_seqs`` waiting requests, prefill them padded to
the longest prompt, and decode them together until the longest output is done; every response
returns when the batch ends (no streaming, no admission mid-batch).

Pure: no I/O, no randomness, no global state.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from dataclasses import dataclass, field

from canserve.errors import InvalidInputError
from canserve.sim.cost import StepCost
from canserve.sim.workload import Request

__all__ = ["ITL_BUCKETS_PER_S", "Replica", "ReplicaConfig"]

ITL_BUCKETS_PER_S = 100_000  # inter-token latency histogram: 10-microsecond buckets
_ITL_RUNS = 16  # a long decode jump's token gaps are recorded in this many runs of steps


@dataclass(frozen=True)
class ReplicaConfig:
    max_num_seqs: int
    max_num_batched_tokens: int
    kv_capacity_tokens: int
    block_size: int = 16
    static_batching: bool = False


@dataclass(slots=True)
class _Running:
    req: Request
    start: int  # decode counter when it started decoding
    kv0: int  # its KV tokens at that point
    generated0: int  # tokens generated before that point


@dataclass(slots=True)
class _Prefill:
    req: Request
    done: int  # prompt tokens already prefilled
    target: int  # prompt tokens to prefill (prompt + generated tokens after a preemption)


@dataclass(slots=True)
class _Window:
    """The running sequences' contexts as a sliding-window layer group sees them:
    ``tokens = sum(min(c_i, window))``, ``below`` sequences still short of the window (each
    step adds one token for each), and when each of them reaches it."""

    window: int
    tokens: int = 0
    below: int = 0
    reach: list[tuple[int, int, int]] = field(default_factory=list)  # (decode count, id, start)


@dataclass
class Replica:
    config: ReplicaConfig
    cost: StepCost
    clock: float = 0.0
    waiting: deque[Request] = field(default_factory=deque)
    running: dict[int, _Running] = field(default_factory=dict)
    finish_heap: list[tuple[int, int, int]] = field(default_factory=list)  # (end, id, start)
    decodes: int = 0  # decode steps run so far
    kv_tokens: int = 0  # KV tokens of running sequences
    reserved: int = 0  # KV (tokens of every layer) reserved for prompts being prefilled
    prefill: list[_Prefill] = field(default_factory=list)
    preemptions: int = 0
    busy_s: float = 0.0
    batch_area: float = 0.0  # integral of the running batch over busy time
    kv_area: float = 0.0  # integral of KV tokens in use over busy time
    samples: list[tuple[float, int, int]] = field(default_factory=list)  # (t, batch, kv tokens)
    itl: dict[int, int] = field(default_factory=dict)  # bucketed token gap -> tokens emitted
    itl_from_s: float = 0.0  # token gaps are recorded from this time on (after a warm-up)
    peak_kv_tokens: int = 0  # most KV in use (running + reserved) at any step
    windows: list[_Window] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.windows = [_Window(w) for w in self.cost.windows]
        self._shares = self.cost.kv_window_shares
        self._full_share = 1.0 - sum(self._shares)

    def _kv_used(self) -> int:
        """KV of the running sequences in tokens of every layer (windows keep what they
        hold)."""
        if not self.windows:
            return self.kv_tokens
        kept = self._full_share * self.kv_tokens
        for win, share in zip(self.windows, self._shares, strict=True):
            kept += share * win.tokens
        return math.ceil(kept - 1e-6)

    def _kv_step(self, batch: int) -> float:
        """KV a decode step of the ``batch`` running sequences adds (windows already full add
        nothing)."""
        if not self.windows:
            return batch
        added = self._full_share * batch
        for win, share in zip(self.windows, self._shares, strict=True):
            added += share * win.below
        return added

    def _kv_of(self, tokens: int) -> int:
        """KV one sequence of ``tokens`` holds, in tokens of every layer."""
        if not self.windows:
            return tokens
        kept = self._full_share * tokens
        for win, share in zip(self.windows, self._shares, strict=True):
            kept += share * min(tokens, win.window)
        return math.ceil(kept - 1e-6)

    # ------------------------------------------------------------------ state
    @property
    def outstanding(self) -> int:
        return len(self.waiting) + len(self.running) + len(self.prefill)

    @property
    def idle(self) -> bool:
        return not (self.waiting or self.running or self.prefill)

    def submit(self, req: Request) -> None:
        if self.idle:
            self.clock = max(self.clock, req.arrival_s)
        self.waiting.append(req)

    # ------------------------------------------------------------------ events
    def advance(self, horizon: float, through_completions: bool = False) -> list[Request]:
        """Run one event (a step, or a jump of decode steps ending by ``horizon``); return the
        requests that finished. ``through_completions``: let a decode jump run on past
        completions (when nothing outside the replica reacts to them)."""
        if self.config.static_batching:
            return self._static_batch()
        if self.prefill or (self.waiting and self._admit_possible()):
            return self._mixed_step()
        if self.running:
            return self._decode_jump(horizon, through_completions)
        if self.waiting:  # idle, yet the first request cannot start: it never will
            req = self.waiting[0]
            raise InvalidInputError(
                f"a request of {req.prompt + req.resumed:,} tokens cannot fit in the KV cache "
                f"of {self.config.kv_capacity_tokens:,} tokens"
            )
        return []

    def _admit_possible(self) -> bool:
        """Whether the first waiting request can start: a free sequence slot, and KV blocks for
        its whole prompt besides the running sequences' next tokens."""
        if not self.waiting:
            return False
        c = self.config
        seqs = len(self.running) + len(self.prefill)
        if seqs >= c.max_num_seqs:
            return False
        req = self.waiting[0]
        free = c.kv_capacity_tokens - self._kv_used() - self.reserved - (seqs + 1) * c.block_size
        return self._kv_of(req.prompt + req.resumed) <= free - len(self.running)

    def _make_room(self) -> None:
        """Preempt until the next step's decode tokens fit in the KV blocks: the newest
        prefilling request first (its reservation returns), then the newest running one."""
        c = self.config
        while self.running:
            batch = len(self.running)
            seqs = batch + len(self.prefill)
            room = c.kv_capacity_tokens - self._kv_used() - self.reserved - seqs * c.block_size
            if room >= self._kv_step(batch):
                return
            if self.prefill:
                p = self.prefill.pop()
                self.reserved -= self._kv_of(p.target)
                p.req.preemptions += 1
                self.preemptions += 1
                self.waiting.appendleft(p.req)
            elif batch > 1:
                self._preempt()
            else:
                return

    def _mixed_step(self) -> list[Request]:
        c = self.config
        batch = len(self.running)
        if batch and (
            c.kv_capacity_tokens - self._kv_used() - self.reserved
            < (batch + len(self.prefill)) * c.block_size + self._kv_step(batch)
        ):
            self._make_room()
            batch = len(self.running)
        budget = c.max_num_batched_tokens - batch
        prefill = self.prefill
        waiting = self.waiting
        pending = 0
        for p in prefill:
            pending += p.target - p.done
        # admit waiting requests while the step has token budget, a sequence slot and KV blocks
        # (besides one for each running sequence's next token)
        seqs = batch + len(prefill)
        free = c.kv_capacity_tokens - self._kv_used() - self.reserved - batch
        block, max_seqs, clock = c.block_size, c.max_num_seqs, self.clock
        while pending < budget and waiting and seqs < max_seqs:
            req = waiting[0]
            target = req.prompt + req.resumed
            need = self._kv_of(target)
            if need > free - (seqs + 1) * block:
                break
            waiting.popleft()
            self.reserved += need
            free -= need
            seqs += 1
            prefill.append(_Prefill(req, 0, target))
            pending += target
            if req.scheduled_s < 0:
                req.scheduled_s = clock
        chunks: list[tuple[int, int]] = []
        done_now: list[_Prefill] = []
        for p in prefill:
            if budget <= 0:
                break
            take = p.target - p.done
            if take > budget:
                take = budget
            chunks.append((p.done, take))
            p.done += take
            budget -= take
            if p.done == p.target:
                done_now.append(p)
        base_s: float | None = None
        if not batch:
            kv_s = 0.0
        elif self.windows:
            base_s, kv_s, _ = self._decode_terms(batch)
        else:
            base_s, slope, _ = self.cost.decode(batch, self.kv_tokens // batch)
            kv_s = slope * self.kv_tokens
        step_s = self.cost.mixed(batch, kv_s, chunks, base_s, len(done_now))
        self._tick(step_s, batch)
        finished: list[Request] = []
        if batch:
            self.decodes += 1
            self.kv_tokens += batch
            if self.windows:
                self._windows_step(1)
            self._itl(step_s, batch)
            if self.finish_heap[0][0] <= self.decodes:
                finished = self._pop_finished()
        if done_now:
            if len(done_now) == len(prefill):
                prefill.clear()
            else:
                self.prefill = [p for p in prefill if p.done < p.target]
            for p in done_now:
                self._start_decoding(p, finished)
        self._note_kv()
        return finished

    def _start_decoding(self, p: _Prefill, finished: list[Request]) -> None:
        req, target = p.req, p.target
        self.reserved -= self._kv_of(target)
        generated = req.resumed + 1
        if req.resumed:  # the stall since its preemption is one token's gap
            self._itl(self.clock - req.preempted_s, 1)
        req.resumed = 0
        if req.first_token_s < 0:
            req.first_token_s = self.clock
        if generated >= req.output:
            req.finish_s = self.clock
            finished.append(req)
            return
        decodes = self.decodes
        self.running[req.id] = _Running(req, decodes, target + 1, generated)
        self.kv_tokens += target + 1
        heapq.heappush(self.finish_heap, (decodes + req.output - generated, req.id, decodes))
        if self.windows:
            self._windows_start(req.id, decodes, target + 1)

    def _pop_finished(self) -> list[Request]:
        finished = []
        heap = self.finish_heap
        while heap and heap[0][0] <= self.decodes:
            _, rid, start = heapq.heappop(heap)
            run = self.running.get(rid)
            if run is None or run.start != start:
                continue  # preempted since: a stale entry
            del self.running[rid]
            self.kv_tokens -= run.kv0 + (self.decodes - run.start)
            if self.windows:
                self._windows_stop(run)
            run.req.finish_s = self.clock
            finished.append(run.req)
        return finished

    def _itl(self, seconds: float, tokens: int) -> None:
        """Count ``tokens`` output tokens that came ``seconds`` after their predecessor, in
        10-microsecond buckets (ITL percentiles without keeping every step)."""
        if self.clock < self.itl_from_s:
            return
        key = int(seconds * ITL_BUCKETS_PER_S)
        itl = self.itl
        itl[key] = itl.get(key, 0) + tokens

    def _decode_terms(self, batch: int) -> tuple[float, float, float]:
        """(base, first-step KV seconds, growth per step) of decode steps of the running
        batch: the whole-context slope over all KV tokens, each window's over what it keeps."""
        base, slope, windowed = self.cost.decode(batch, self.kv_tokens // batch)
        kv = slope * self.kv_tokens
        growth = slope * batch
        if not windowed:
            return base, kv, growth
        for win, s_w in zip(self.windows, windowed, strict=True):
            kv += s_w * win.tokens
            growth += s_w * win.below
        return base, kv, growth

    def _windows_start(self, rid: int, start: int, context: int) -> None:
        for win in self.windows:
            if context < win.window:
                win.tokens += context
                win.below += 1
                heapq.heappush(win.reach, (start + win.window - context, rid, start))
            else:
                win.tokens += win.window

    def _windows_stop(self, run: _Running) -> None:
        context = run.kv0 + self.decodes - run.start
        for win in self.windows:
            if context < win.window:
                win.tokens -= context
                win.below -= 1
            else:
                win.tokens -= win.window

    def _windows_step(self, steps: int) -> None:
        """``steps`` decode steps: the sequences short of each window grow; those that reach
        it stop growing there."""
        decodes = self.decodes
        running = self.running
        for win in self.windows:
            win.tokens += win.below * steps
            reach = win.reach
            while reach and reach[0][0] <= decodes:
                _, rid, start = heapq.heappop(reach)
                run = running.get(rid)
                if run is not None and run.start == start:
                    win.below -= 1

    def _steps_to_window(self) -> int:
        """Decode steps until the next running sequence reaches a window (large: none)."""
        nearest = 1 << 62
        running = self.running
        for win in self.windows:
            reach = win.reach
            while reach:
                at, rid, start = reach[0]
                run = running.get(rid)
                if run is not None and run.start == start:
                    nearest = min(nearest, at - self.decodes)
                    break
                heapq.heappop(reach)  # finished or preempted since
        return nearest

    def _note_kv(self) -> None:
        kv = self._kv_used() + self.reserved
        if kv > self.peak_kv_tokens:
            self.peak_kv_tokens = kv

    def _itl_steps(self, first: float, growth: float, k: int, batch: int) -> None:
        """Token gaps of ``k`` decode steps of ``batch`` sequences, step ``i`` lasting
        ``first + i * growth``: in runs of consecutive steps, each at its own mean step time,
        as many runs (up to 16, or one per step) as the steps' spread ``growth x k`` spans
        histogram buckets (every step within ``growth x k / 32`` of its run's mean, or within
        one bucket)."""
        runs = min(k, _ITL_RUNS, 1 + int(growth * k * ITL_BUCKETS_PER_S))
        start = 0
        for j in range(1, runs + 1):
            end = j * k // runs
            if end > start:
                self._itl(first + growth * (start + end - 1) / 2, batch * (end - start))
            start = end

    def _tick(self, seconds: float, batch: int) -> None:
        kv = self._kv_used() + self.reserved
        self.clock += seconds
        self.busy_s += seconds
        self.batch_area += batch * seconds
        self.kv_area += kv * seconds
        if len(self.samples) < 100_000:  # the timeline keeps the first 100,000 events
            self.samples.append((self.clock, batch, kv))

    def _preempt(self) -> None:
        """Recompute preemption of the newest running request (vLLM's default policy)."""
        _, run = self.running.popitem()
        if self.windows:
            self._windows_stop(run)
        steps = self.decodes - run.start
        self.kv_tokens -= run.kv0 + steps
        run.req.resumed = run.generated0 + steps
        run.req.preempted_s = self.clock
        run.req.preemptions += 1
        self.preemptions += 1
        self.waiting.appendleft(run.req)

    def _decode_jump(self, horizon: float, through_completions: bool) -> list[Request]:
        """Decode-only steps, segment by segment (a segment ends at a completion), until the
        step during which ``horizon`` passes, or until a completion lets a waiting request in
        (or at the first completion unless ``through_completions``)."""
        c = self.config
        running = self.running
        heap = self.finish_heap
        finished: list[Request] = []
        while running:
            while True:
                batch = len(running)
                room = c.kv_capacity_tokens - self._kv_used() - self.reserved - batch * c.block_size
                step = self._kv_step(batch)
                if room >= step or batch == 1:
                    break
                self._preempt()
            base, kv_s, growth = self._decode_terms(batch)
            decodes = self.decodes
            k = heap[0][0] - decodes if heap else 1
            if step > 0 and room // step < k:
                k = int(room // step)
            if self.windows:  # the step costs change slope when a sequence reaches a window
                k = min(k, self._steps_to_window())
            if k < 1:
                k = 1
            first = base + kv_s
            if horizon < math.inf:  # stop at the step during which the next arrival comes
                until = self._steps_until(horizon - self.clock, first, growth)
                if until < k:
                    k = until
            elapsed = k * first + growth * k * (k - 1) / 2
            self._tick(elapsed, batch)
            self._itl_steps(first, growth, k, batch)
            self.decodes = decodes + k
            self.kv_tokens += batch * k
            if self.windows:
                self._windows_step(k)
            self._note_kv()
            if heap and heap[0][0] <= self.decodes:
                finished += self._pop_finished()
                if not through_completions:
                    break
            if self.clock >= horizon or (self.waiting and self._admit_possible()):
                break
        return finished

    @staticmethod
    def _steps_until(gap: float, first: float, growth: float) -> int:
        """Fewest steps whose total time reaches ``gap`` (step i lasts ``first + i * growth``)."""
        if gap <= first:
            return 1
        if growth <= 0:
            return max(1, math.ceil(gap / first))
        a, b = growth / 2, first - growth / 2
        return max(1, math.ceil((-b + math.sqrt(b * b + 4 * a * gap)) / (2 * a)))

    # ------------------------------------------------------------------ static batching
    def _static_batch(self) -> list[Request]:
        batch = self._take_static_batch()
        if not batch:
            return []
        n = len(batch)
        longest_prompt = max(r.prompt for r in batch)
        longest_output = max(r.output for r in batch)
        for r in batch:
            r.scheduled_s = self.clock
        prefill_s = self.cost.static_prefill(n, longest_prompt)
        self.reserved = n * self._kv_of(longest_prompt + longest_output)  # padded, reserved whole
        self._note_kv()
        self._tick(prefill_s, 0)
        for r in batch:
            r.first_token_s = self.clock
        steps = longest_output - 1
        if steps:
            base, slope, windowed = self.cost.decode(n)
            # every sequence of the batch is padded to the longest prompt; over the decode the
            # window groups are priced at that context (capped by their window)
            first = base + slope * n * longest_prompt
            growth = slope * n
            for w, s_w in zip(self.cost.windows, windowed, strict=True):
                first += s_w * n * min(longest_prompt, w)
                growth += s_w * n if longest_prompt + steps // 2 < w else 0.0
            elapsed = steps * first + growth * steps * (steps - 1) / 2
            self._tick(elapsed, n)
            self._static_itl(batch, first, growth)
        self.reserved = 0
        for r in batch:
            r.finish_s = self.clock
        return batch

    def _static_itl(self, batch: list[Request], first: float, growth: float) -> None:
        """Token gaps of a static batch: step ``i`` emits a token for each request whose output
        is not done yet (the rest of the batch decodes padding)."""
        done = 0
        generating = len(batch)
        for output in sorted(r.output for r in batch):
            if output - 1 > done:
                k = output - 1 - done
                self._itl_steps(first + growth * done, growth, k, generating)
                done += k
            generating -= 1

    def _take_static_batch(self) -> list[Request]:
        """Up to ``max_num_seqs`` waiting requests, in arrival order, while the batch padded to
        its longest prompt and output fits in the KV cache (at least one request)."""
        c = self.config
        batch: list[Request] = []
        longest_prompt = longest_output = 0
        while self.waiting and len(batch) < c.max_num_seqs:
            req = self.waiting[0]
            p, o = max(longest_prompt, req.prompt), max(longest_output, req.output)
            if batch and (len(batch) + 1) * self._kv_of(p + o) > c.kv_capacity_tokens:
                break
            batch.append(self.waiting.popleft())
            longest_prompt, longest_output = p, o
        return batch
