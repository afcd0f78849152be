"""A load generator for OpenAI-compatible servers (vLLM, SGLang, TGI, llama.cpp, ...).

Sends streaming ``/v1/completions`` (or ``/v1/chat/completions``) requests, open loop at a
Poisson ``rate`` or closed loop with ``concurrency`` requests in flight, and times every chunk.
Metric definitions are those of :mod:`canserve.sim.metrics` (and of vLLM's benchmark client):
TTFT from sending to the first token, ITL between consecutive tokens, TPOT = (last - first
token) / (tokens - 1), end-to-end from sending to the last token. Output tokens are counted from
the stream (one per non-empty chunk) unless the server reports usage. Prompts of N tokens are a
random first word and N - 1 repetitions of a common word (most tokenizers give one token each),
so no two requests share a prefix a server could cache.

Bounded by ``requests`` and ``duration_s``; Ctrl-C (or any stop) keeps what was measured.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from canserve.errors import InvalidInputError
from canserve.sim.workload import parse_length

__all__ = ["BenchConfig", "RequestRecord", "run_bench", "validate_config"]

_WORD = " hello"


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


def _chunk_text(data: dict[str, Any]) -> str:
    choices = data.get("choices") or []
    if not choices:
        return ""
    choice = choices[0]
    if "text" in choice:
        return str(choice.get("text") or "")
    delta = choice.get("delta") or {}
    return str(delta.get("content") or "")


async def _one(client: Any, cfg: BenchConfig, rec: RequestRecord, t0: float, salt: int) -> None:
    path, body = _payload(cfg, rec.prompt_tokens, rec.max_tokens, salt)
    import httpx2

    try:
        async with client.stream("POST", path, json=body, timeout=cfg.timeout_s) as resp:
            if resp.status_code != 200:
                text = (await resp.aread())[:200].decode(errors="replace")
                rec.error = f"HTTP {resp.status_code}: {text}"
                return
            kind = resp.headers.get("content-type", "")
            if "event-stream" not in kind:
                rec.error = f"not an OpenAI stream: the server answered {kind or 'no content-type'}"
                return
            usage_tokens = None
            async for line in resp.aiter_lines():
                if not line.startswith("data:"):
                    continue
                data_text = line[5:].strip()
                if data_text == "[DONE]":
                    break
                try:
                    data = json.loads(data_text)
                except json.JSONDecodeError:
                    rec.error = "not an OpenAI stream: a data line is not JSON"
                    return
                if not isinstance(data, dict):
                    rec.error = "not an OpenAI stream: unexpected chunk"
                    return
                if data.get("usage") and data["usage"].get("completion_tokens"):
                    usage_tokens = int(data["usage"]["completion_tokens"])
                if _chunk_text(data):
                    now = time.perf_counter() - t0
                    if rec.first_token_s is None:
                        rec.first_token_s = now
                    rec.token_times_s.append(now)
                    rec.output_tokens += 1
            rec.end_s = time.perf_counter() - t0
            if usage_tokens:
                rec.output_tokens = usage_tokens
            if rec.first_token_s is None:
                rec.error = "the server streamed no tokens (is this an OpenAI-compatible API?)"
    except httpx2.ConnectError as exc:
        rec.error = f"cannot connect to {cfg.url}: {exc}"
    except httpx2.TimeoutException:
        rec.error = f"timed out after {cfg.timeout_s:g} s"
    except httpx2.HTTPError as exc:
        rec.error = f"{type(exc).__name__}: {exc}"


def validate_config(cfg: BenchConfig) -> None:
    if (cfg.rate is None) == (cfg.concurrency is None):
        raise InvalidInputError("give exactly one of --rate or --concurrency")
    if cfg.rate is not None and not 0 < cfg.rate <= 10_000:
        raise InvalidInputError(f"rate must be between 0 and 10,000 requests/s, got {cfg.rate:g}")
    if cfg.concurrency is not None and not 1 <= cfg.concurrency <= 10_000:
        raise InvalidInputError(f"concurrency must be between 1 and 10,000, got {cfg.concurrency}")
    if cfg.requests is None and cfg.duration_s is None:
        raise InvalidInputError("give --requests or --duration-s")
    if cfg.requests is not None and not 1 <= cfg.requests <= 1_000_000:
        raise InvalidInputError(f"requests must be between 1 and 1,000,000, got {cfg.requests}")
    if cfg.duration_s is not None and not 0 < cfg.duration_s <= 86_400:
        raise InvalidInputError(f"duration must be between 0 and 86,400 s, got {cfg.duration_s:g}")
    if not cfg.url.startswith(("http://", "https://")):
        raise InvalidInputError(f"URL must start with http:// or https://, got {cfg.url!r}")
    if cfg.endpoint not in ("completions", "chat"):
        raise InvalidInputError("endpoint must be 'completions' or 'chat'")


async def _drive(
    cfg: BenchConfig, records: list[RequestRecord], progress: Callable[[int], None]
) -> None:
    import httpx2

    rng = random.Random(cfg.seed)
    prompt_of, output_of = parse_length(cfg.prompt), parse_length(cfg.output)
    limit = cfg.requests if cfg.requests is not None else 10**9
    stop_at = time.perf_counter() + (cfg.duration_s or 10**9)
    t0 = time.perf_counter()
    limits = httpx2.Limits(max_connections=max(cfg.concurrency or 256, 16))
    async with httpx2.AsyncClient(base_url=cfg.url.rstrip("/"), limits=limits) as client:

        async def send() -> None:
            rec = RequestRecord(prompt_of(rng), output_of(rng), time.perf_counter() - t0)
            records.append(rec)
            await _one(client, cfg, rec, t0, rng.randrange(10**6))
            progress(1)

        tasks: set[asyncio.Task[None]] = set()
        if cfg.concurrency is not None:

            async def loop() -> None:
                while len(records) < limit and time.perf_counter() < stop_at:
                    await send()

            await asyncio.gather(*(loop() for _ in range(cfg.concurrency)))
            return
        assert cfg.rate is not None
        next_t = time.perf_counter()
        while len(records) < limit and time.perf_counter() < stop_at:
            task = asyncio.create_task(send())
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            next_t += rng.expovariate(cfg.rate)
            await asyncio.sleep(max(0.0, next_t - time.perf_counter()))
        if tasks:
            await asyncio.wait(tasks, timeout=cfg.timeout_s)


def run_bench(
    cfg: BenchConfig, progress: Callable[[int], None] = lambda n: None
) -> tuple[list[RequestRecord], bool]:
    """Run the benchmark; return the records and whether it ran to the end (False: stopped)."""
    validate_config(cfg)
    records: list[RequestRecord] = []
    try:
        asyncio.run(_drive(cfg, records, progress))
    except KeyboardInterrupt:
        return records, False
    return records, True
