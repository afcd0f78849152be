"""Request bodies of the HTTP API, validated with pydantic. Field names are the CLI's flags
(``model`` or ``config``, ``gpu``, ``batch``, ``context``, ...)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["CostRequest", "MemoryRequest", "PerfRequest", "PlanRequest", "SimulateRequest"]


class _ModelInput(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    model: str | None = Field(None, description="catalog name or Hugging Face id")
    config: dict[str, Any] | None = Field(
        None, description="a config.json object, instead of model"
    )


class MemoryRequest(_ModelInput):
    quant: str | None = None
    kv_dtype: str = "auto"
    batch: int = Field(1, ge=1, le=1_000_000)
    context: int | None = Field(None, ge=1, le=100_000_000)
    avg_context: int | None = Field(None, ge=1)
    gpu: str | None = None
    gpus: int | None = Field(None, ge=1, le=100_000)
    tp: int | None = Field(None, ge=1, le=1024)
    pp: int = Field(1, ge=1, le=1024)
    framework: str = "vllm"
    headroom: float = Field(0.2, ge=0.0, le=0.9)
    max_num_seqs: int | None = Field(None, ge=1, le=1_000_000)
    max_num_batched_tokens: int | None = Field(None, ge=1, le=10_000_000)


class PerfRequest(_ModelInput):
    gpu: str
    quant: str | None = None
    kv_dtype: str = "auto"
    batch: int = Field(1, ge=1, le=100_000)
    context: int | None = Field(None, ge=1, le=100_000_000)
    prompt: int | None = Field(None, ge=1, le=100_000_000)
    output: int | None = Field(None, ge=1, le=100_000_000)
    tp: int = Field(1, ge=1, le=1024)
    pp: int = Field(1, ge=1, le=1024)
    framework: str = "vllm"
    max_num_batched_tokens: int | None = Field(None, ge=1, le=10_000_000)
    sweep: list[int] | None = Field(
        None, min_length=1, max_length=32, description="batch sizes: returns a list, one per batch"
    )


class SimulateRequest(_ModelInput):
    gpu: str
    quant: str | None = None
    kv_dtype: str = "auto"
    tp: int = Field(1, ge=1, le=1024)
    replicas: int = Field(1, ge=1, le=1000)
    framework: str = "vllm"
    rate: float | None = Field(None, gt=0, le=1e6)
    cv: float = Field(1.0, gt=0, le=100)
    users: int | None = Field(None, ge=1, le=1_000_000)
    think_s: float = Field(5.0, ge=0, le=86_400)
    prompt: str = "512"
    output: str = "256"
    duration_s: float | None = Field(None, gt=0, le=1e7)
    requests: int | None = Field(None, ge=1, le=50_000, description="capped for the web")
    seed: int = 0
    slo: str | None = None
    max_num_seqs: int | None = Field(None, ge=1, le=1_000_000)
    max_num_batched_tokens: int | None = Field(None, ge=1, le=10_000_000)
    max_model_len: int | None = Field(None, ge=2)
    static: bool = False
    lb: str = "least-loaded"


class PlanRequest(_ModelInput):
    users: int | None = Field(None, ge=1, le=1_000_000)
    rate: float | None = Field(None, gt=0, le=1e6)
    prompt: int = Field(200, ge=1, le=10_000_000)
    output: int = Field(300, ge=1, le=10_000_000)
    latency_s: float | None = Field(None, gt=0, le=3600)
    ttft_p95_s: float | None = Field(None, gt=0, le=3600)
    tpot_p99_s: float | None = Field(None, gt=0, le=3600)
    think_s: float = Field(0.0, ge=0, le=86_400)
    peak_factor: float = Field(1.0, ge=1, le=100)
    max_context: int | None = Field(None, ge=2)
    gpus: list[str] | None = None
    quant: list[str] | None = None
    cloud: str | None = None
    spot: bool = False
    top: int = Field(3, ge=1, le=20)
    headroom: float = Field(0.2, ge=0, le=0.9)
    budget_usd_per_hour: float | None = Field(None, gt=0)
    rank: str = Field("cost", pattern="^(cost|latency)$")


class CostRequest(_ModelInput):
    gpu: str | None = None
    gpus: int | None = Field(None, ge=1, le=4096)
    quant: str | None = None
    usd_per_hour: float | None = Field(None, ge=0, le=1e6)
    tokens_per_day: float = Field(1e6, ge=0, le=1e15)
    utilization: float = Field(0.6, ge=0.01, le=1)
    input_share: float = Field(0.4, ge=0, le=1)
    prompt: int = Field(200, ge=1, le=10_000_000)
    output: int = Field(300, ge=1, le=10_000_000)
    cloud: str | None = None
    spot: bool = False
    on_prem: bool = False
