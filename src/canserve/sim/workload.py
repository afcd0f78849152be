"""Workloads: who sends what, and when.

Arrivals: open loop (Poisson at ``rate``; bursty gamma inter-arrivals with a coefficient of
variation ``cv``), closed loop (``users`` each sending a request, waiting for its answer, thinking
``think_s``, sending the next), or a trace (CSV or JSONL with arrival time, prompt and output
tokens; the Azure LLM inference trace's ``TIMESTAMP,ContextTokens,GeneratedTokens`` loads as is).
Lengths: ``512`` (fixed), ``uniform:128-1024``, ``lognormal:512,0.6`` (mean, coefficient of
variation), or ``file:PATH`` (one integer per line, sampled with replacement).

Everything random comes from one ``random.Random(seed)``: equal seeds give equal workloads.
"""

from __future__ import annotations

import csv
import json
import math
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from canserve.errors import InvalidInputError
from canserve.serving import DEFAULT_OUTPUT_TOKENS, DEFAULT_PROMPT_TOKENS
from canserve.validation import (
    check_float,
    check_int,
    check_optional_float,
    check_optional_int,
)

__all__ = [
    "LengthDist",
    "Request",
    "TraceRow",
    "Workload",
    "open_loop_requests",
    "parse_length",
    "read_trace",
]

_MAX_TOKENS = 10_000_000
MAX_RATE_PER_S = 1e6  # requests per second
MAX_USERS = 10_000_000
MAX_THINK_S = 86_400.0  # a day
MAX_CV = 100.0
MAX_REQUESTS = 100_000_000
MAX_DURATION_S = 1e7  # about four months of arrivals


@dataclass(slots=True)
class Request:
    """One request as the simulator tracks it (times in seconds from the start)."""

    id: int
    arrival_s: float
    prompt: int
    output: int
    user: int = -1
    resumed: int = 0  # tokens generated before a preemption (prefilled again on resume)
    scheduled_s: float = -1.0  # first time any of its tokens ran
    first_token_s: float = -1.0
    finish_s: float = -1.0
    preemptions: int = 0
    clipped: bool = False  # prompt or output cut to fit max_model_len
    preempted_s: float = -1.0  # when it was last preempted (its last token came then)


@dataclass(frozen=True)
class TraceRow:
    arrival_s: float
    prompt: int
    output: int


@dataclass(frozen=True)
class Workload:
    """The traffic: exactly one of ``rate`` (open loop), ``users`` (closed loop, each thinking
    ``think_s`` between an answer and its next request) or ``trace``; request lengths as length
    specs; the run stops after ``requests`` requests or ``duration_s`` seconds of arrivals."""

    prompt: str = str(DEFAULT_PROMPT_TOKENS)
    output: str = str(DEFAULT_OUTPUT_TOKENS)
    rate: float | None = None
    users: int | None = None
    think_s: float = 0.0
    cv: float = 1.0
    trace: str | Path | None = None
    requests: int | None = None
    duration_s: float | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        if sum(x is not None for x in (self.rate, self.users, self.trace)) != 1:
            raise InvalidInputError("give exactly one of --rate, --users or --trace")
        check_optional_float("rate", self.rate, 0.0, MAX_RATE_PER_S, open_low=True)
        check_optional_int("users", self.users, 1, MAX_USERS)
        check_float("think_s", self.think_s, 0.0, MAX_THINK_S)
        check_float("cv", self.cv, 0.0, MAX_CV, open_low=True)
        check_optional_int("requests", self.requests, 1, MAX_REQUESTS)
        check_optional_float("duration_s", self.duration_s, 0.0, MAX_DURATION_S, open_low=True)
        check_int("seed", self.seed, 0, 2**63 - 1)
        parse_length(self.prompt)
        parse_length(self.output)

    @property
    def closed_loop(self) -> bool:
        return self.users is not None


LengthDist = Callable[[random.Random], int]


def _positive(text: str, value: float) -> None:
    if not 0 < value <= _MAX_TOKENS:
        raise InvalidInputError(f"length distribution {text!r}: values must be 1..{_MAX_TOKENS:,}")


def parse_length(text: str) -> LengthDist:
    """A sampler for a length spec (see the module docstring)."""
    spec = text.strip()
    kind, _, args = spec.partition(":")
    try:
        if not args:
            value = int(spec)
            _positive(spec, value)
            return lambda rng: value
        if kind == "uniform":
            low, high = (int(v) for v in args.split("-"))
            _positive(spec, low)
            _positive(spec, high)
            if low > high:
                raise InvalidInputError(f"length distribution {spec!r}: low > high")
            span = high - low + 1
            return lambda rng: low + int(rng.random() * span)  # uniform on low..high
        if kind == "lognormal":
            mean, cv = (float(v) for v in args.split(","))
            _positive(spec, mean)
            if not 0 < cv <= MAX_CV:
                raise InvalidInputError(
                    f"length distribution {spec!r}: cv must be in (0, {MAX_CV:g}]"
                )
            sigma = math.sqrt(math.log(1 + cv * cv))
            mu = math.log(mean) - sigma * sigma / 2
            return lambda rng: max(1, min(_MAX_TOKENS, round(rng.lognormvariate(mu, sigma))))
        if kind == "file":
            values = _read_lengths(Path(args))
            return lambda rng: values[rng.randrange(len(values))]
    except InvalidInputError:
        raise
    except ValueError:
        pass
    raise InvalidInputError(
        f"bad length distribution {spec!r} (use 512, uniform:128-1024, lognormal:512,0.6 "
        "or file:PATH)"
    )


def _numpy_sampler(text: str) -> Callable[[Any, int], Any]:
    """The same distribution as :func:`parse_length`, drawing ``n`` lengths at once (numpy)."""
    import numpy as np

    parse_length(text)  # the same validation and messages
    spec = text.strip()
    kind, _, args = spec.partition(":")
    if not args:
        value = int(spec)
        return lambda g, n: np.full(n, value, dtype=np.int64)
    if kind == "uniform":
        low, high = (int(v) for v in args.split("-"))
        return lambda g, n: g.integers(low, high + 1, n)
    if kind == "lognormal":
        mean, cv = (float(v) for v in args.split(","))
        sigma = math.sqrt(math.log(1 + cv * cv))
        mu = math.log(mean) - sigma * sigma / 2
        return lambda g, n: np.clip(np.rint(g.lognormal(mu, sigma, n)), 1, _MAX_TOKENS).astype(
            np.int64
        )
    values = np.array(_read_lengths(Path(args)), dtype=np.int64)
    return lambda g, n: values[g.integers(0, len(values), n)]


def open_loop_requests(
    seed: int,
    rate: float,
    cv: float,
    prompt: str,
    output: str,
    max_model_len: int,
    limit: int | None,
    until_s: float | None,
) -> Iterator[Request]:
    """Open-loop requests drawn in vectorized chunks (numpy, seeded): arrivals of a renewal
    process at ``rate`` (Poisson when ``cv == 1``, gamma gaps otherwise), prompt and output
    lengths from their specs, prompts cut to ``max_model_len - 1`` and outputs to the room left.
    """
    import numpy as np

    if not 0 < rate <= 1e6:
        raise InvalidInputError(f"rate must be between 0 and 1e6 requests/s, got {rate:g}")
    if not 0 < cv <= 100:
        raise InvalidInputError(f"burstiness cv must be between 0 and 100, got {cv:g}")
    g = np.random.default_rng(seed)
    prompt_of, output_of = _numpy_sampler(prompt), _numpy_sampler(output)
    shape = 1 / (cv * cv)
    last = limit if limit is not None else 10**12
    until = until_s if until_s is not None else math.inf
    t, i, chunk = 0.0, 0, 65_536
    while i < last:
        n = min(chunk, last - i)
        gaps = g.exponential(1 / rate, n) if cv == 1 else g.gamma(shape, 1 / (rate * shape), n)
        times = (t + np.cumsum(gaps)).tolist()
        drawn_prompts, drawn_outputs = prompt_of(g, n), output_of(g, n)
        prompts = np.minimum(drawn_prompts, max_model_len - 1)
        outputs = np.maximum(1, np.minimum(drawn_outputs, max_model_len - prompts))
        cut = ((prompts != drawn_prompts) | (outputs != drawn_outputs)).tolist()
        for at, p, o, c in zip(times, prompts.tolist(), outputs.tolist(), cut, strict=True):
            if at > until:
                return
            yield Request(i, at, p, o, clipped=c)
            i += 1
        t = times[-1]


def _read_lengths(path: Path) -> list[int]:
    try:
        lines = path.read_text().split()
    except OSError as exc:
        raise InvalidInputError(f"cannot read lengths file {path}: {exc.strerror}") from None
    try:
        values = [int(v) for v in lines]
    except ValueError:
        raise InvalidInputError(f"{path}: every line must be a whole number of tokens") from None
    if not values or any(not 0 < v <= _MAX_TOKENS for v in values):
        raise InvalidInputError(f"{path}: needs at least one length, each 1..{_MAX_TOKENS:,}")
    return values


# Column names accepted for each field (the Azure LLM inference traces use the second set).
_TIME = ("arrival_s", "timestamp", "TIMESTAMP", "arrival_time", "time")
_PROMPT = ("prompt", "prompt_tokens", "ContextTokens", "input_tokens")
_OUTPUT = ("output", "output_tokens", "GeneratedTokens", "completion_tokens")


def _field(row: dict[str, object], names: tuple[str, ...], where: str) -> object:
    for name in names:
        if name in row and row[name] not in (None, ""):
            return row[name]
    raise InvalidInputError(f"{where}: missing column (one of {', '.join(names)})")


def _seconds(value: object, where: str) -> float:
    if isinstance(value, int | float):
        return float(value)
    text = str(value).strip()
    try:
        return float(text)
    except ValueError:
        pass
    try:  # Azure traces: "2023-11-16 18:15:46.6805900" (7 fractional digits)
        head, _, frac = text.partition(".")
        stamp = datetime.fromisoformat(head)
        return stamp.timestamp() + (float("0." + frac) if frac else 0.0)
    except ValueError:
        raise InvalidInputError(f"{where}: cannot read time {text!r}") from None


def read_trace(path: str | Path) -> list[TraceRow]:
    """Rows of a CSV or JSONL trace, times shifted to start at 0 and sorted."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"cannot read trace {p}: {exc}") from None
    if p.suffix.lower() in {".jsonl", ".ndjson"}:
        records = []
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                raise InvalidInputError(f"{p}:{n}: not a JSON object") from None
            if not isinstance(record, dict):
                raise InvalidInputError(f"{p}:{n}: not a JSON object")
            records.append((n, record))
    else:
        records = list(enumerate(csv.DictReader(text.splitlines()), 2))
    rows = []
    for n, record in records:
        where = f"{p}:{n}"
        t = _seconds(_field(record, _TIME, where), where)
        if not math.isfinite(t):
            raise InvalidInputError(f"{where}: the arrival time must be a finite number")
        raw_prompt, raw_output = _field(record, _PROMPT, where), _field(record, _OUTPUT, where)
        try:
            prompt, output = int(float(str(raw_prompt))), int(float(str(raw_output)))
        except ValueError:
            raise InvalidInputError(f"{where}: token counts must be numbers") from None
        if prompt < 1 or output < 1 or max(prompt, output) > _MAX_TOKENS:
            raise InvalidInputError(f"{where}: token counts must be 1..{_MAX_TOKENS:,}")
        rows.append(TraceRow(t, prompt, output))
    if not rows:
        raise InvalidInputError(f"trace {p} has no requests")
    rows.sort(key=lambda r: r.arrival_s)
    start = rows[0].arrival_s
    return [TraceRow(r.arrival_s - start, r.prompt, r.output) for r in rows]
