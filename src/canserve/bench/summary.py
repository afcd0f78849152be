"""Summarize, save and load benchmark runs (the same metric names as ``canserve simulate``).

Percentiles are :func:`canserve.stats.percentiles`, the simulator's: linear interpolation
between the two nearest order statistics (numpy's default, Hyndman and Fan's type 7), so a
small run's p50 is the median, not one sample's value.
A loaded run is checked field by field (a one-line error names the first bad one) and its
summary is recomputed from its records: a saved summary is never trusted.
"""

from __future__ import annotations

import json
import math
from dataclasses import MISSING, asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from canserve import jsonable
from canserve.bench.client import BenchConfig, RequestRecord, validate_config
from canserve.errors import InvalidInputError
from canserve.sim.metrics import SloRow, parse_slos
from canserve.stats import Percentiles

__all__ = ["BenchSummary", "SloRow", "load_bench", "save_bench", "summarize"]

FORMAT = "canserve-bench/1"
MAX_FILE_BYTES = 1 << 30  # a run file larger than 1 GiB is refused before it is read
MAX_TIME_S = 1e7  # timestamps in a run file (seconds from its start): about 115 days


def _tpot(r: RequestRecord) -> float | None:
    assert r.first_token_s is not None and r.end_s is not None
    return (r.end_s - r.first_token_s) / (r.output_tokens - 1) if r.output_tokens > 1 else None


@dataclass(frozen=True)
class BenchSummary:
    """A run's summary; :meth:`to_dict` is what ``canserve bench --json`` prints and the
    ``summary`` a run file keeps (its keys are a public interface)."""

    url: str
    model: str
    complete: bool
    requests: int
    succeeded: int
    errors: int
    incomplete: int
    error_samples: list[str]  # up to 5 distinct error messages
    duration_s: float
    ttft_s: Percentiles
    tpot_s: Percentiles
    itl_s: Percentiles
    e2e_s: Percentiles
    throughput_requests_per_s: float
    throughput_output_tokens_per_s: float
    mean_prompt_tokens: float
    mean_output_tokens: float
    goodput: float | None  # None without --slo (or with no successful request)
    slo: list[SloRow]

    def latency(self, metric: str) -> Percentiles:
        """The percentiles of ``metric`` (``"ttft_s"``, ``"tpot_s"``, ``"itl_s"``, ``"e2e_s"``:
        an SLO's ``metric``)."""
        latencies = {
            "ttft_s": self.ttft_s,
            "tpot_s": self.tpot_s,
            "itl_s": self.itl_s,
            "e2e_s": self.e2e_s,
        }
        return latencies[metric]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def summarize(cfg: BenchConfig, records: list[RequestRecord], complete: bool) -> BenchSummary:
    ok = [r for r in records if r.ok]
    incomplete = [r for r in records if r.incomplete]
    errors = [r.error for r in records if r.error and not r.incomplete]
    first = [r.first_token_s or 0.0 for r in ok]
    end = [r.end_s or 0.0 for r in ok]
    ttft = [f - r.start_s for f, r in zip(first, ok, strict=True)]
    e2e = [e - r.start_s for e, r in zip(end, ok, strict=True)]
    tpots = [_tpot(r) for r in ok]
    itl = [b - a for r in ok for a, b in zip(r.token_times_s, r.token_times_s[1:], strict=False)]
    span = (max(end) - min(r.start_s for r in ok)) if ok else 0.0
    out_tokens = sum(r.output_tokens for r in ok)
    result = BenchSummary(
        url=cfg.url,
        model=cfg.model,
        complete=complete,
        requests=len(records),
        succeeded=len(ok),
        errors=len(errors),
        incomplete=len(incomplete),
        error_samples=sorted(set(errors))[:5],
        duration_s=span,
        ttft_s=Percentiles.of(ttft),
        tpot_s=Percentiles.of([t for t in tpots if t is not None]),
        itl_s=Percentiles.of(itl),
        e2e_s=Percentiles.of(e2e),
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
        for i in range(len(ok)):
            values = {"ttft_s": ttft[i], "e2e_s": e2e[i], "tpot_s": tpots[i] or 0.0}
            good += all(values.get(s.metric, 0.0) <= s.target_s for s in slos)
        rows = []
        for s in slos:
            value = result.latency(s.metric).stat(s.stat)
            rows.append(
                SloRow(name=s.name, target_s=s.target_s, value_s=value, met=value <= s.target_s)
            )
        result = replace(result, goodput=good / len(ok), slo=rows)
    return result


def save_bench(
    path: str | Path, cfg: BenchConfig, summary: BenchSummary, records: list[RequestRecord]
) -> None:
    doc = dict(
        format=FORMAT,
        config=asdict(cfg),
        summary=summary.to_dict(),
        records=[asdict(r) for r in records],
    )
    Path(path).write_text(jsonable.dumps(doc, indent=1))


# --- reading a run file: every field checked, one line naming the first bad one ---------------


def _fail(path: str | Path, what: str) -> InvalidInputError:
    return InvalidInputError(f"{path}: not a valid canserve bench file: {what}")


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _read_doc(path: str | Path) -> dict[str, Any]:
    try:
        p = Path(path)
        if p.stat().st_size > MAX_FILE_BYTES:
            raise InvalidInputError(f"{path}: larger than {MAX_FILE_BYTES:,} bytes")
        doc = json.loads(p.read_bytes().decode("utf-8"), parse_constant=_no_constant)
    except UnicodeDecodeError:
        raise _fail(path, "not UTF-8 text") from None
    except (OSError, ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError
        raise InvalidInputError(f"cannot read bench file {path}: {exc}") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise InvalidInputError(f"{path} is not a canserve bench file ({FORMAT})")
    for key, kind in (("config", dict), ("records", list)):
        if not isinstance(doc.get(key), kind):
            shape = "an object" if kind is dict else "a list"
            raise _fail(path, f"{key!r} is missing or not {shape}")
    summary = doc.get("summary", {})
    if not isinstance(summary, dict) or not isinstance(summary.get("complete", True), bool):
        raise _fail(path, "'summary.complete' must be true or false")
    return doc


def _typed(path: str | Path, where: str, key: str, value: object, kind: str) -> None:
    """``value`` is of ``kind`` (the dataclass field's annotation) with finite numbers."""
    optional = kind.endswith("| None")
    if value is None:
        if optional:
            return
        raise _fail(path, f"{where}{key} is null")
    base = kind.removesuffix(" | None")
    if base == "str":
        good = isinstance(value, str)
    elif base == "int":
        good = isinstance(value, int) and not isinstance(value, bool)
    elif base == "float":
        good = isinstance(value, int | float) and not isinstance(value, bool)
        good = good and math.isfinite(float(value))  # type: ignore[arg-type]
    elif base == "list[float]":
        good = isinstance(value, list) and all(
            isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
            for v in value
        )
    else:  # pragma: no cover - a new field type needs a rule here
        raise AssertionError(kind)
    if not good:
        shown = repr(value) if len(repr(value)) < 60 else f"a {type(value).__name__}"
        raise _fail(path, f"{where}{key} must be {base}, got {shown}")


def _build(path: str | Path, cls: type, table: dict[str, Any], where: str) -> Any:
    kinds = {f.name: str(f.type) for f in fields(cls)}
    unknown = sorted(set(table) - set(kinds))
    if unknown:
        raise _fail(path, f"{where}unknown key {unknown[0]!r}")
    for f in fields(cls):
        if f.name not in table:
            if f.default is MISSING and f.default_factory is MISSING:
                raise _fail(path, f"{where}missing key {f.name!r}")
            continue
        _typed(path, where, f.name, table[f.name], kinds[f.name])
    return cls(**table)


def _record(path: str | Path, i: int, raw: object) -> RequestRecord:
    where = f"records[{i}]."
    if not isinstance(raw, dict):
        raise _fail(path, f"records[{i}] is not an object")
    rec: RequestRecord = _build(path, RequestRecord, raw, where)
    if not (0 <= rec.prompt_tokens <= 10**8 and 0 <= rec.max_tokens <= 10**8):
        raise _fail(path, f"{where}token counts must be between 0 and 100,000,000")
    if not 0 <= rec.output_tokens <= max(rec.max_tokens, len(rec.token_times_s)):
        raise _fail(path, f"{where}output_tokens {rec.output_tokens:,} is out of range")
    times = [rec.start_s, rec.first_token_s, *rec.token_times_s, rec.end_s]
    known = [t for t in times if t is not None]
    if any(not 0 <= t <= MAX_TIME_S for t in known):
        raise _fail(path, f"{where}times must be between 0 and {MAX_TIME_S:g} s")
    first, end = rec.first_token_s, rec.end_s
    if first is not None and end is not None and not rec.start_s <= first <= end:
        raise _fail(path, f"{where}times must run start_s <= first_token_s <= end_s")
    return rec


def load_bench(path: str | Path) -> tuple[BenchConfig, BenchSummary, list[RequestRecord]]:
    """The run saved in ``path``: its configuration, its summary (recomputed from the records)
    and its records. A bad file is one :class:`InvalidInputError` line naming what is wrong."""
    doc = _read_doc(path)
    cfg: BenchConfig = _build(path, BenchConfig, doc["config"], "config.")
    try:
        validate_config(cfg)
    except InvalidInputError as exc:
        raise _fail(path, f"config: {exc}") from None
    records = [_record(path, i, r) for i, r in enumerate(doc["records"])]
    complete = doc.get("summary", {}).get("complete", True)
    try:
        summary = summarize(cfg, records, complete)
    except InvalidInputError as exc:  # e.g. a bad SLO string
        raise _fail(path, f"config: {exc}") from None
    return cfg, summary, records
