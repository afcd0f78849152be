"""The typed requests of canserve's use cases: what a command's flags and an HTTP body carry.

Field names are the CLI's flags (``--max-num-seqs`` is ``max_num_seqs``) and the HTTP API's
JSON keys alike; defaults are the same everywhere. Every number is checked when a query is
built (:mod:`canserve.validation`), so the CLI, the Python API and the HTTP API refuse the same
input with the same message. The HTTP API takes these classes as its request bodies (FastAPI
accepts dataclasses); fields that name files on the machine (``trace``, a ``file:`` length spec,
a calibration path) are refused there by :meth:`Query.reject_files`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from canserve.errors import InvalidInputError
from canserve.serving import DEFAULT_HEADROOM, DEFAULT_OUTPUT_TOKENS, DEFAULT_PROMPT_TOKENS
from canserve.sim.api import DEFAULT_MAX_SIM_REQUESTS, MAX_SIM_REQUESTS
from canserve.sim.metrics import parse_slos
from canserve.sim.workload import (
    MAX_CV,
    MAX_DURATION_S,
    MAX_RATE_PER_S,
    MAX_REQUESTS,
    MAX_THINK_S,
    MAX_USERS,
    parse_length,
)
from canserve.validation import (
    MAX_BATCH,
    MAX_GPUS,
    MAX_TOKENS,
    check_float,
    check_int,
    check_optional_float,
    check_optional_int,
    split_names,
)

__all__ = [
    "CompareQuery",
    "CostQuery",
    "MemoryQuery",
    "PerfQuery",
    "PlanQuery",
    "Query",
    "ServingOptions",
    "SimulateQuery",
    "TrafficOptions",
]

MAX_SWEEP_POINTS = 64
MAX_TOKENS_PER_DAY = 1e15
MAX_USD_PER_HOUR = 1e6


@dataclass(frozen=True, kw_only=True)
class Query:
    """The model: a catalog name (or Hugging Face id), or a config.json object (``model`` then
    only labels it)."""

    __pydantic_config__: ClassVar[dict[str, Any]] = {"extra": "forbid"}

    model: str | None = None
    config: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        self.check()

    def check(self) -> None:
        """Cross-field checks (overridden)."""

    def file_fields(self) -> list[str]:
        """Fields that name a file on this machine (refused over HTTP)."""
        return []

    def reject_files(self) -> None:
        named = self.file_fields()
        if named:
            raise InvalidInputError(
                f"{', '.join(named)}: the HTTP API reads no files; send the data itself"
            )


@dataclass(frozen=True, kw_only=True)
class ServingOptions(Query):
    """The deployment (see :func:`canserve.serving.serving_config`)."""

    gpu: str | None = None
    gpus: int | None = None
    tp: int | None = None
    pp: int = 1
    replicas: int | None = None
    quant: str | None = None
    kv_dtype: str = "auto"
    framework: str = "vllm"
    context: int | None = None
    max_num_seqs: int | None = None
    max_num_batched_tokens: int | None = None
    headroom: float = DEFAULT_HEADROOM
    calibration: dict[str, Any] | str | None = None  # TOML tables, or (CLI) a TOML file

    def check(self) -> None:
        check_optional_int("gpus", self.gpus, 1, MAX_GPUS)
        check_optional_int("tp", self.tp, 1, 1024)
        check_int("pp", self.pp, 1, 1024)
        check_optional_int("replicas", self.replicas, 1, 10_000)
        check_optional_int("context", self.context, 1, MAX_TOKENS)
        check_optional_int("max_num_seqs", self.max_num_seqs, 1, MAX_BATCH)
        check_optional_int("max_num_batched_tokens", self.max_num_batched_tokens, 1, MAX_TOKENS)
        check_float("headroom", self.headroom, 0.0, 0.9)

    def file_fields(self) -> list[str]:
        return ["calibration"] if isinstance(self.calibration, str) else []


@dataclass(frozen=True, kw_only=True)
class TrafficOptions:
    """The traffic: a rate (open loop) or users (closed loop), request lengths, SLOs."""

    prompt: str = str(DEFAULT_PROMPT_TOKENS)  # 512, uniform:a-b, lognormal:mean,cv, file:PATH
    output: str = str(DEFAULT_OUTPUT_TOKENS)
    rate: float | None = None
    users: int | None = None
    think_s: float = 0.0
    cv: float = 1.0
    trace: str | None = None  # CLI: a CSV/JSONL file to replay
    requests: int | None = None
    duration_s: float | None = None
    seed: int = 0
    slo: str | None = None  # ttft_p95=1s,tpot_p99=50ms,e2e_p95=5s

    def check_traffic(self) -> None:
        """The numbers and length specs (a ``file:`` spec is read later, by the simulator)."""
        check_optional_float("rate", self.rate, 0.0, MAX_RATE_PER_S, open_low=True)
        check_optional_int("users", self.users, 1, MAX_USERS)
        check_float("think_s", self.think_s, 0.0, MAX_THINK_S)
        check_float("cv", self.cv, 0.0, MAX_CV, open_low=True)
        check_optional_int("requests", self.requests, 1, MAX_REQUESTS)
        check_optional_float("duration_s", self.duration_s, 0.0, MAX_DURATION_S, open_low=True)
        check_int("seed", self.seed, 0, 2**63 - 1)
        for spec in (self.prompt, self.output):
            if not str(spec).strip().startswith("file:"):
                parse_length(str(spec))
        parse_slos(self.slo)

    def traffic_files(self) -> list[str]:
        named = ["trace"] if self.trace is not None else []
        return named + [
            name
            for name in ("prompt", "output")
            if str(getattr(self, name)).strip().startswith("file:")
        ]


@dataclass(frozen=True, kw_only=True)
class MemoryQuery(ServingOptions):
    batch: int = 1
    avg_context: int | None = None

    def check(self) -> None:
        super().check()
        check_int("batch", self.batch, 1, MAX_BATCH)
        check_optional_int("avg_context", self.avg_context, 1, MAX_TOKENS)


@dataclass(frozen=True, kw_only=True)
class PerfQuery(ServingOptions):
    batch: int = 1
    prompt: int = DEFAULT_PROMPT_TOKENS
    output: int = DEFAULT_OUTPUT_TOKENS
    sweep: list[int] | None = None  # batch sizes: one estimate per batch

    def check(self) -> None:
        super().check()
        check_int("batch", self.batch, 1, MAX_BATCH)
        check_int("prompt", self.prompt, 1, MAX_TOKENS)
        check_int("output", self.output, 1, MAX_TOKENS)
        if self.sweep is not None:
            if not 1 <= len(self.sweep) <= MAX_SWEEP_POINTS:
                raise InvalidInputError(f"sweep takes 1 to {MAX_SWEEP_POINTS} batch sizes")
            for b in self.sweep:
                check_int("sweep batch", b, 1, MAX_BATCH)


@dataclass(frozen=True, kw_only=True)
class SimulateQuery(ServingOptions, TrafficOptions):
    static: bool = False  # static batching instead of continuous
    lb: str = "least-loaded"  # or round-robin
    find_max_rate: bool = False  # the steady-state capacity (rate, or users with users=N)
    warmup_s: float = 0.0  # statistics leave out requests arriving before this
    max_sim_requests: int = DEFAULT_MAX_SIM_REQUESTS  # a bound on work

    def check(self) -> None:
        super().check()
        self.check_traffic()
        check_float("warmup_s", self.warmup_s, 0.0, MAX_DURATION_S)
        check_int("max_sim_requests", self.max_sim_requests, 1, MAX_SIM_REQUESTS)
        if self.find_max_rate and self.trace is not None:
            raise InvalidInputError(
                "find_max_rate draws its own arrivals: give rate or users, not a trace"
            )
        if self.lb not in ("least-loaded", "round-robin"):
            raise InvalidInputError(f"lb must be least-loaded or round-robin, got {self.lb!r}")
        if self.find_max_rate and not self.slo:
            raise InvalidInputError("find_max_rate needs slo targets (--slo ttft_p95=1s,...)")

    def file_fields(self) -> list[str]:
        return super().file_fields() + self.traffic_files()


@dataclass(frozen=True, kw_only=True)
class CompareQuery(ServingOptions):
    """The server's setup, and (when comparing against a URL) the run to send it."""

    served_model: str | None = None  # the name the server serves (default: MODEL)
    concurrency: int = 1
    prompt: str = str(DEFAULT_PROMPT_TOKENS)
    output: str = str(DEFAULT_OUTPUT_TOKENS)
    requests: int = 20

    def check(self) -> None:
        super().check()
        check_int("concurrency", self.concurrency, 1, 10_000)
        check_int("requests", self.requests, 1, 1_000_000)
        parse_length(self.prompt)
        parse_length(self.output)


@dataclass(frozen=True, kw_only=True)
class PlanQuery(Query):
    users: int | None = None
    rate: float | None = None
    prompt: int = DEFAULT_PROMPT_TOKENS
    output: int = DEFAULT_OUTPUT_TOKENS
    think_s: float = 0.0
    slo: str | None = None
    peak_factor: float = 1.0
    context: int | None = None
    gpu: str | None = None  # candidate GPU types, comma-separated (default: all)
    gpus: int | None = None  # at most this many GPUs in all
    quant: str | None = None  # candidate formats, comma-separated
    framework: str = "vllm"
    kv_dtype: str = "auto"
    cloud: str | None = None
    spot: bool = False
    top: int = 3
    headroom: float = DEFAULT_HEADROOM
    budget_usd_per_hour: float | None = None
    rank: str = "cost"
    calibration: dict[str, Any] | str | None = None

    def check(self) -> None:
        if (self.users is None) == (self.rate is None):
            raise InvalidInputError("give exactly one of users or rate")
        check_optional_int("users", self.users, 1, 1_000_000)
        check_optional_float("rate", self.rate, 0.0, 1e6, open_low=True)
        check_int("prompt", self.prompt, 1, MAX_TOKENS)
        check_int("output", self.output, 1, MAX_TOKENS)
        check_float("think_s", self.think_s, 0.0, 86_400.0)
        parse_slos(self.slo)
        check_float("peak_factor", self.peak_factor, 1.0, 100.0)
        check_optional_int("context", self.context, 2, MAX_TOKENS)
        if self.context is not None and self.context < self.prompt + self.output:
            raise InvalidInputError(
                f"context {self.context:,} is shorter than a request "
                f"({self.prompt:,} + {self.output:,} tokens)"
            )
        check_optional_int("gpus", self.gpus, 1, MAX_GPUS)
        split_names("gpu", self.gpu)
        split_names("quant", self.quant)
        split_names("model", self.model)
        check_int("top", self.top, 1, 20)
        check_float("headroom", self.headroom, 0.0, 0.9)
        check_optional_float(
            "budget_usd_per_hour", self.budget_usd_per_hour, 0.0, MAX_USD_PER_HOUR, open_low=True
        )
        if self.rank not in ("cost", "latency"):
            raise InvalidInputError(f"rank must be 'cost' or 'latency', got {self.rank!r}")

    def file_fields(self) -> list[str]:
        return ["calibration"] if isinstance(self.calibration, str) else []


@dataclass(frozen=True, kw_only=True)
class CostQuery(Query):
    gpu: str | None = None
    gpus: int | None = None
    tp: int | None = None
    quant: str | None = None
    kv_dtype: str = "auto"
    framework: str = "vllm"
    usd_per_hour: float | None = None
    tokens_per_day: float = 1e6
    utilization: float = 0.6
    input_share: float = 0.4
    prompt: int = DEFAULT_PROMPT_TOKENS
    output: int = DEFAULT_OUTPUT_TOKENS
    cloud: str | None = None
    spot: bool = False
    on_prem: bool = False
    api: str | None = None  # the APIs to compare with, comma-separated (default: --tier's)
    tier: str | None = None  # quality tier of the APIs compared (economics.toml; default: all)
    engineering_fte: float | None = None  # hidden costs: None keeps economics.toml's default
    engineer_usd_per_year: float | None = None
    monitoring_usd_per_month: float | None = None
    storage_usd_per_month: float | None = None
    usd_per_kwh: float | None = None
    pue: float | None = None

    def check(self) -> None:
        split_names("api", self.api)
        check_optional_float("engineering_fte", self.engineering_fte, 0.0, 100.0)
        check_optional_float("engineer_usd_per_year", self.engineer_usd_per_year, 0.0, 1e7)
        check_optional_float("monitoring_usd_per_month", self.monitoring_usd_per_month, 0.0, 1e7)
        check_optional_float("storage_usd_per_month", self.storage_usd_per_month, 0.0, 1e7)
        check_optional_float("usd_per_kwh", self.usd_per_kwh, 0.0, 10.0)
        check_optional_float("pue", self.pue, 1.0, 5.0)
        check_optional_int("gpus", self.gpus, 1, 4096)
        check_optional_int("tp", self.tp, 1, 1024)
        check_optional_float("usd_per_hour", self.usd_per_hour, 0.0, MAX_USD_PER_HOUR)
        check_float("tokens_per_day", self.tokens_per_day, 0.0, MAX_TOKENS_PER_DAY)
        check_float("utilization", self.utilization, 0.01, 1.0)
        check_float("input_share", self.input_share, 0.0, 1.0)
        check_int("prompt", self.prompt, 1, MAX_TOKENS)
        check_int("output", self.output, 1, MAX_TOKENS)
