"""Summarize, save and load benchmark runs (the same metric names as ``canserve simulate``)."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from canserve.bench.client import BenchConfig, RequestRecord
from canserve.errors import InvalidInputError
from canserve.sim.metrics import parse_slos, percentiles

__all__ = ["load_bench", "save_bench", "summarize"]

FORMAT = "canserve-bench/1"


def summarize(cfg: BenchConfig, records: list[RequestRecord], complete: bool) -> dict[str, Any]:
    ok = [r for r in records if r.ok]
    errors = [r.error for r in records if r.error]
    first = [r.first_token_s or 0.0 for r in ok]
    end = [r.end_s or 0.0 for r in ok]
    ttft = [f - r.start_s for f, r in zip(first, ok, strict=True)]
    e2e = [e - r.start_s for e, r in zip(end, ok, strict=True)]
    tpot = [
        (e - f) / (r.output_tokens - 1)
        for f, e, r in zip(first, end, ok, strict=True)
        if r.output_tokens > 1
    ]
    itl = [b - a for r in ok for a, b in zip(r.token_times_s, r.token_times_s[1:], strict=False)]
    span = (max(end) - min(r.start_s for r in ok)) if ok else 0.0
    out_tokens = sum(r.output_tokens for r in ok)
    result: dict[str, Any] = dict(
        url=cfg.url,
        model=cfg.model,
        complete=complete,
        requests=len(records),
        succeeded=len(ok),
        errors=len(errors),
        error_samples=sorted(set(errors))[:5],
        duration_s=span,
        ttft_s=percentiles(ttft),
        tpot_s=percentiles(tpot),
        itl_s=percentiles(itl),
        e2e_s=percentiles(e2e),
        throughput_requests_per_s=len(ok) / span if span else 0.0,
        throughput_output_tokens_per_s=out_tokens / span if span else 0.0,
        mean_prompt_tokens=sum(r.prompt_tokens for r in ok) / len(ok) if ok else 0.0,
        mean_output_tokens=out_tokens / len(ok) if ok else 0.0,
        goodput=None,
        slo=[],
    )
    slos = parse_slos(cfg.slo)
    if slos and ok:
        good = 0
        for i, r in enumerate(ok):
            values = {
                "ttft_s": ttft[i],
                "e2e_s": e2e[i],
                "tpot_s": (end[i] - first[i]) / (r.output_tokens - 1)
                if r.output_tokens > 1
                else 0.0,
            }
            good += all(values.get(s.metric, 0.0) <= s.target_s for s in slos)
        result["goodput"] = good / len(ok)
        result["slo"] = [
            dict(
                name=s.name,
                target_s=s.target_s,
                value_s=result[s.metric][s.stat],
                met=result[s.metric][s.stat] <= s.target_s,
            )
            for s in slos
        ]
    return result


def save_bench(
    path: str | Path, cfg: BenchConfig, summary: dict[str, Any], records: list[RequestRecord]
) -> None:
    doc = dict(
        format=FORMAT, config=asdict(cfg), summary=summary, records=[asdict(r) for r in records]
    )
    Path(path).write_text(json.dumps(doc, indent=1))


def load_bench(path: str | Path) -> tuple[BenchConfig, dict[str, Any], list[RequestRecord]]:
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as exc:  # ValueError: not UTF-8, not JSON
        raise InvalidInputError(f"cannot read bench file {path}: {exc}") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise InvalidInputError(f"{path} is not a canserve bench file ({FORMAT})")
    try:
        cfg = BenchConfig(**doc["config"])
        records = [RequestRecord(**r) for r in doc["records"]]
    except (KeyError, TypeError) as exc:
        raise InvalidInputError(f"{path}: malformed bench file ({exc})") from None
    return cfg, doc["summary"], records
