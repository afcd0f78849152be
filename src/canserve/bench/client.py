"""A load generator for OpenAI-compatible servers (vLLM, SGLang, TGI, llama.cpp, ...).

Sends streaming ``/v1/completions`` (or ``/v1/chat/completions``) requests, open loop at a
Poisson ``rate`` or closed loop with ``concurrency`` requests in flight, and times every chunk.
Metric definitions are those of :mod:`canserve.sim.metrics` (and of vLLM's benchmark client):
TTFT from sending to the first token, ITL between consecutive tokens, TPOT = (last - first
token) / (tokens - 1), end-to-end from sending to the last token. Output tokens are counted from
the stream (one per non-empty chunk) unless the server reports usage. Prompts of N tokens are a
random first word and N - 1 repetitions of a common word (most tokenizers give one token each),
so no two requests share a prefix a server could cache.

Bounds: ``timeout_s`` is a deadline per request (sending to the last token), ``duration_s`` a
wall-clock bound on the whole run (requests still in flight then are cut off and counted as
incomplete), ``requests`` a count. A malformed stream (a chunk that is not JSON, NaN, wrong
types, nonsense usage numbers) fails that request with the reason; it never stops the run.
``warmup`` requests are sent first, one at a time, and not recorded. Ctrl-C (or any stop)
keeps what was measured.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from canserve.errors import InvalidInputError
from canserve.sim.metrics import parse_slos
from canserve.sim.workload import parse_length
from canserve.validation import MAX_TOKENS, check_float, check_int

__all__ = ["BenchConfig", "RequestRecord", "run_bench", "validate_config"]

_WORD = " hello"
MAX_TIMEOUT_S = 86_400.0  # a day: the longest per-request deadline accepted
MAX_WARMUP = 1_000  # warm-up requests (sent one at a time)
CUT_OFF = "cut off at the --duration-s limit"  # the error of a request the run's end stopped


@dataclass(frozen=True)
class BenchConfig:
    url: str
    model: str
    rate: float | None = None
    concurrency: int | None = None
    prompt: str = "128"
    output: str = "64"
    requests: int | None = 100
    duration_s: float | None = None
    endpoint: str = "completions"  # or "chat"
    seed: int = 0
    timeout_s: float = 120.0
    slo: str | None = None
    warmup: int = 0  # requests sent (one at a time) before the measured ones, not recorded


@dataclass
class RequestRecord:
    prompt_tokens: int
    max_tokens: int
    start_s: float
    first_token_s: float | None = None
    end_s: float | None = None
    output_tokens: int = 0
    token_times_s: list[float] = field(default_factory=list)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.first_token_s is not None and self.end_s is not None

    @property
    def incomplete(self) -> bool:
        """Stopped by the run's end (``--duration-s`` or Ctrl-C), not by the server."""
        return self.error == CUT_OFF or (self.error is None and self.end_s is None)


class _BadStream(Exception):
    """A chunk that no OpenAI-compatible server sends; the message says what is wrong."""


def _payload(
    cfg: BenchConfig, prompt_tokens: int, max_tokens: int, salt: int
) -> tuple[str, dict[str, Any]]:
    # a distinct first word per request, so servers' prefix caches cannot skip the prefill
    text = f"r{salt}" + _WORD * max(0, prompt_tokens - 1)
    common = dict(
        model=cfg.model,
        max_tokens=max_tokens,
        stream=True,
        temperature=0.0,
        ignore_eos=True,
        stream_options={"include_usage": True},
    )
    if cfg.endpoint == "chat":
        return "/v1/chat/completions", {**common, "messages": [{"role": "user", "content": text}]}
    return "/v1/completions", {**common, "prompt": text}


def _no_constant(name: str) -> float:
    raise _BadStream(f"a chunk holds {name}, which is not JSON")


def _text_of(choice: object) -> str:
    """The text a choice of a chunk carries (completions: ``text``, chat: ``delta.content``)."""
    if not isinstance(choice, dict):
        raise _BadStream(f"a choice is {type(choice).__name__}, not an object")
    if "text" in choice:
        text = choice["text"]
    else:
        delta = choice.get("delta") or {}
        if not isinstance(delta, dict):
            raise _BadStream(f"a delta is {type(delta).__name__}, not an object")
        text = delta.get("content")
    if text is not None and not isinstance(text, str):
        raise _BadStream(f"a chunk's text is {type(text).__name__}, not a string")
    return text or ""


def _count(usage: dict[str, Any], key: str, high: int) -> int | None:
    tokens = usage.get(key)
    if tokens is None:
        return None
    if isinstance(tokens, bool) or not isinstance(tokens, int):
        raise _BadStream(f"usage.{key} is {tokens!r}, not an integer")
    if not 0 <= tokens <= high:
        raise _BadStream(f"usage.{key} is {tokens:,}, outside 0..{high:,}")
    return tokens


def _usage_tokens(usage: object, max_tokens: int) -> tuple[int | None, int | None]:
    """(prompt, completion) tokens if the chunk reports usage; nonsense numbers are errors
    (more completion tokens than ``max_tokens``, or a prompt above ``MAX_TOKENS``)."""
    if usage is None:
        return None, None
    if not isinstance(usage, dict):
        raise _BadStream(f"usage is {type(usage).__name__}, not an object")
    completion = _count(usage, "completion_tokens", max_tokens)
    return _count(usage, "prompt_tokens", MAX_TOKENS), completion


def parse_chunk(data_text: str, max_tokens: int) -> tuple[str, tuple[int | None, int | None]]:
    """(text, (prompt, completion) tokens of its usage or None) of one SSE ``data:`` payload;
    :class:`_BadStream` if it is not a well-formed OpenAI chunk."""
    try:
        data = json.loads(data_text, parse_constant=_no_constant)
    except (json.JSONDecodeError, RecursionError):
        raise _BadStream("a data line is not JSON") from None
    if not isinstance(data, dict):
        raise _BadStream(f"a chunk is {type(data).__name__}, not an object")
    choices = data.get("choices") or []
    if not isinstance(choices, list):
        raise _BadStream(f"choices is {type(choices).__name__}, not a list")
    text = _text_of(choices[0]) if choices else ""
    return text, _usage_tokens(data.get("usage"), max_tokens)


async def _stream(client: Any, cfg: BenchConfig, rec: RequestRecord, t0: float, salt: int) -> None:
    path, body = _payload(cfg, rec.prompt_tokens, rec.max_tokens, salt)
    async with client.stream("POST", path, json=body, timeout=cfg.timeout_s) as resp:
        if resp.status_code != 200:
            text = (await resp.aread())[:200].decode(errors="replace")
            rec.error = f"HTTP {resp.status_code}: {text}"
            return
        kind = resp.headers.get("content-type", "")
        if "event-stream" not in kind:
            rec.error = f"not an OpenAI stream: the server answered {kind or 'no content-type'}"
            return
        usage_tokens = usage_prompt = None
        async for line in resp.aiter_lines():
            if not line.startswith("data:"):
                continue
            data_text = line[5:].strip()
            if data_text == "[DONE]":
                break
            try:
                text, usage = parse_chunk(data_text, rec.max_tokens)
            except _BadStream as exc:
                rec.error = f"not an OpenAI stream: {exc}"
                return
            usage_prompt = usage[0] if usage[0] is not None else usage_prompt
            usage_tokens = usage[1] if usage[1] is not None else usage_tokens
            if text:
                now = time.perf_counter() - t0
                if rec.first_token_s is None:
                    rec.first_token_s = now
                rec.token_times_s.append(now)
                rec.output_tokens += 1
        rec.end_s = time.perf_counter() - t0
        if usage_tokens:
            rec.output_tokens = usage_tokens
        if usage_prompt:  # the server's tokenizer's count wins over the requested length
            rec.prompt_tokens = usage_prompt
        if rec.first_token_s is None:
            rec.error = "the server streamed no tokens (is this an OpenAI-compatible API?)"


async def _one(client: Any, cfg: BenchConfig, rec: RequestRecord, t0: float, salt: int) -> None:
    """One request under its deadline; every failure becomes ``rec.error``."""
    import httpx2

    try:
        async with asyncio.timeout(cfg.timeout_s):
            await _stream(client, cfg, rec, t0, salt)
    except TimeoutError:
        rec.error = f"no complete answer within the {cfg.timeout_s:g} s deadline (--timeout-s)"
    except httpx2.ConnectError as exc:
        rec.error = f"cannot connect to {cfg.url}: {exc}"
    except httpx2.TimeoutException:
        rec.error = f"timed out after {cfg.timeout_s:g} s"
    except (httpx2.HTTPError, httpx2.StreamError, UnicodeDecodeError) as exc:
        rec.error = f"{type(exc).__name__}: {exc}"
    if rec.error is not None:
        rec.end_s = rec.end_s if rec.end_s is not None else time.perf_counter() - t0


def validate_url(url: str) -> str:
    """``url`` if it is an http(s) URL with a host and a valid port, else a one-line error."""
    import httpx2

    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise InvalidInputError(f"URL must start with http:// or https://, got {url!r}")
    try:
        parsed = httpx2.URL(url)
    except (httpx2.InvalidURL, ValueError) as exc:
        raise InvalidInputError(f"not a valid URL {url!r}: {exc}") from None
    if not parsed.host:
        raise InvalidInputError(f"URL {url!r} names no host")
    if parsed.port is not None and not 1 <= parsed.port <= 65535:
        raise InvalidInputError(f"URL {url!r}: port must be between 1 and 65535")
    return url


def validate_config(cfg: BenchConfig) -> None:
    if (cfg.rate is None) == (cfg.concurrency is None):
        raise InvalidInputError("give exactly one of --rate or --concurrency")
    if cfg.rate is not None:
        check_float("rate (requests/s)", cfg.rate, 0.0, 10_000.0, open_low=True)
    if cfg.concurrency is not None:
        check_int("concurrency", cfg.concurrency, 1, 10_000)
    if cfg.requests is None and cfg.duration_s is None:
        raise InvalidInputError("give --requests or --duration-s")
    if cfg.requests is not None:
        check_int("requests", cfg.requests, 1, 1_000_000)
    if cfg.duration_s is not None:
        check_float("duration_s", cfg.duration_s, 0.0, 86_400.0, open_low=True)
    check_float("timeout_s", cfg.timeout_s, 0.0, MAX_TIMEOUT_S, open_low=True)
    check_int("warmup", cfg.warmup, 0, MAX_WARMUP)
    check_int("seed", cfg.seed, 0, 2**63 - 1)
    validate_url(cfg.url)
    if cfg.endpoint not in ("completions", "chat"):
        raise InvalidInputError("endpoint must be 'completions' or 'chat'")
    parse_length(cfg.prompt), parse_length(cfg.output)
    if any(s.metric == "queue_s" for s in parse_slos(cfg.slo)):
        raise InvalidInputError(
            "bench cannot measure queueing time (a client does not see the server's queue): "
            "use ttft, tpot, itl or e2e SLOs"
        )


async def _warm_up(client: Any, cfg: BenchConfig, rng: random.Random) -> None:
    """``cfg.warmup`` requests one at a time, not recorded (first-request costs: page faults,
    allocations, caches). Their failures show in the measured requests."""
    prompt_of, output_of = parse_length(cfg.prompt), parse_length(cfg.output)
    t0 = time.perf_counter()
    for _ in range(cfg.warmup):
        rec = RequestRecord(prompt_of(rng), output_of(rng), 0.0)
        await _one(client, cfg, rec, t0, rng.randrange(10**6))


async def _drive(
    cfg: BenchConfig, records: list[RequestRecord], progress: Callable[[int], None]
) -> None:
    import httpx2

    rng = random.Random(cfg.seed)
    prompt_of, output_of = parse_length(cfg.prompt), parse_length(cfg.output)
    limit = cfg.requests if cfg.requests is not None else 10**9
    limits = httpx2.Limits(max_connections=max(cfg.concurrency or 256, 16))
    async with httpx2.AsyncClient(base_url=cfg.url.rstrip("/"), limits=limits) as client:
        await _warm_up(client, cfg, random.Random(cfg.seed + 1))
        t0 = time.perf_counter()
        stop_at = t0 + (cfg.duration_s or math.inf)

        async def send() -> None:
            rec = RequestRecord(prompt_of(rng), output_of(rng), time.perf_counter() - t0)
            records.append(rec)
            await _one(client, cfg, rec, t0, rng.randrange(10**6))
            progress(1)

        async def closed_loop() -> None:
            while len(records) < limit and time.perf_counter() < stop_at:
                await send()

        inflight: set[asyncio.Task[None]] = set()

        async def open_loop() -> None:
            assert cfg.rate is not None
            next_t = time.perf_counter()
            while len(records) < limit and time.perf_counter() < stop_at:
                task = asyncio.create_task(send())
                inflight.add(task)
                task.add_done_callback(inflight.discard)
                next_t += rng.expovariate(cfg.rate)
                await asyncio.sleep(max(0.0, min(next_t, stop_at) - time.perf_counter()))
            if inflight:
                await asyncio.wait(set(inflight))

        if cfg.concurrency is not None:
            work: asyncio.Future[Any] = asyncio.gather(
                *(closed_loop() for _ in range(cfg.concurrency))
            )
        else:
            work = asyncio.ensure_future(open_loop())
        remaining = stop_at - time.perf_counter()
        try:
            await asyncio.wait_for(work, None if math.isinf(remaining) else max(0.0, remaining))
        except TimeoutError:
            pass  # the wall-clock bound: what is still in flight is cut off
        finally:
            for task in list(inflight):
                task.cancel()
            await asyncio.gather(*inflight, return_exceptions=True)


def run_bench(
    cfg: BenchConfig, progress: Callable[[int], None] = lambda n: None
) -> tuple[list[RequestRecord], bool]:
    """Run the benchmark; return the records and whether it ran to the end (False: stopped by
    Ctrl-C). Requests the end of the run stopped are marked :data:`CUT_OFF`."""
    validate_config(cfg)
    records: list[RequestRecord] = []
    complete = True
    try:
        asyncio.run(_drive(cfg, records, progress))
    except KeyboardInterrupt:
        complete = False
    for rec in records:
        if rec.error is None and rec.end_s is None:
            rec.error = CUT_OFF
    return records, complete
