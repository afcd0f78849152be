"""What the planner answers, as typed records: each plan with its price, load check, weights,
simulated prediction, checklist and commands; the layouts that dropped out and why; the targets
held to. ``PlanResult.to_dict()`` is the ``--json`` output and the HTTP answer: its keys are the
field names below."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from canserve.catalog.prices import InstancePrice
from canserve.deploy import Weights
from canserve.plan.checklist import CheckItem, Load
from canserve.plan.requirements import Requirements, Target
from canserve.sim.metrics import SloRow

__all__ = ["BatchPoint", "Plan", "PlanResult", "Prediction", "Rejection"]


@dataclass(frozen=True)
class Rejection:
    """A layout that dropped out and why (sizes 0: the GPU type or format dropped out whole)."""

    gpu: str
    quantization: str
    tensor_parallel_size: int
    pipeline_parallel_size: int
    reason: str


@dataclass(frozen=True)
class Prediction:
    """A plan's simulation at peak: latency percentiles in seconds (``p50`` ... ``mean``),
    throughput, SLO verdicts, and whether a slice of a larger fleet was simulated."""

    ttft_s: dict[str, float]
    tpot_s: dict[str, float]
    e2e_s: dict[str, float]
    queue_s: dict[str, float]
    throughput_output_tokens_per_s: float
    goodput: float | None
    gpu_utilization: float
    preemptions: int
    slo: list[SloRow]
    simulated_replicas: int
    sliced: bool


@dataclass(frozen=True)
class BatchPoint:
    """One replica's decode speed at one batch size."""

    batch: int
    decode_tokens_per_s: float
    tpot_s: float


@dataclass
class Plan:
    model: str
    gpu: str
    gpu_count: int
    tensor_parallel_size: int
    pipeline_parallel_size: int
    replicas: int
    quantization: str
    instance_type: str
    instances: int
    memory_per_gpu_bytes: int
    gpu_memory_bytes: int
    max_num_seqs: int
    max_model_len: int
    max_model_len_source: str
    kv_capacity_tokens: int
    capacity_output_tokens_per_s: float
    utilization: float
    headroom_to_saturation: float
    cost_usd_per_hour: float
    cost_usd_per_million_output_tokens: float
    price: InstancePrice
    load: Load
    weights: Weights
    predicted: Prediction
    checklist: list[CheckItem] = field(default_factory=list)
    prepare_command: str = ""
    vllm_command: str = ""
    commands: dict[str, str] = field(default_factory=dict)
    kubernetes: str = ""
    batch_curve: list[BatchPoint] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The fields in order; the price, load and weights as their own ``to_dict()``."""
        return {
            **asdict(self),
            "price": self.price.to_dict(),
            "load": self.load.to_dict(),
            "weights": self.weights.to_dict(),
        }


@dataclass
class PlanResult:
    model: str
    required_output_tokens_per_s: float | None
    requirements: Requirements
    targets: list[Target]
    plans: list[Plan]
    rejected: list[Rejection]
    searched: int
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "plans": [p.to_dict() for p in self.plans]}
