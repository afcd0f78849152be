"""canserve: will this LLM deployment serve my traffic?

The public API (everything else is private and may change)::

    from canserve import estimate_memory, get_model, serving_config
    cfg = serving_config(get_model("llama-3.1-70b"), quant="awq", gpu="A100-80GB")
    est = estimate_memory(cfg, batch=50, context=8192)
    est.total_bytes, est.fits, est.max_concurrent_sequences

One :class:`ServingConfig` (the model on a GPU layout, in a format, on an engine) is what every
estimator takes: :func:`estimate_memory`, :func:`estimate_perf`, :func:`simulate` (with a
:class:`Workload`), :func:`replica_capacity`; :func:`plan_deployment` searches over them and
:func:`estimate_cost` prices one.
"""

from canserve.arch import ModelSpec, read_config_file, spec_from_config
from canserve.capacity import ReplicaCapacity, replica_capacity
from canserve.catalog.frameworks import Framework, get_framework, list_frameworks
from canserve.catalog.gpus import GPU, get_gpu, list_gpus
from canserve.catalog.models import get_model, list_models, load_model
from canserve.catalog.quant import QuantFormat, get_quant, list_quants
from canserve.economics import CostEstimate, estimate_cost
from canserve.errors import (
    CanserveError,
    CatalogError,
    ConfigError,
    InvalidInputError,
    UnknownFrameworkError,
    UnknownGPUError,
    UnknownModelError,
    UnknownNameError,
    UnknownQuantError,
)
from canserve.kv import kv_layout
from canserve.memory import MemoryEstimate, estimate_memory
from canserve.perf import PerfEstimate, estimate_perf, load_calibration, sweep_batch
from canserve.plan import Plan, PlanResult, Requirements, plan_deployment
from canserve.serving import ServingConfig, serving_config
from canserve.sim import Capacity, SimResult, find_max_rate, simulate, slo_capacity
from canserve.sim.workload import Workload
from canserve.weights import weights_breakdown

__version__ = "0.2.0"

__all__ = [
    "GPU",
    "CanserveError",
    "Capacity",
    "CatalogError",
    "ConfigError",
    "CostEstimate",
    "Framework",
    "InvalidInputError",
    "MemoryEstimate",
    "ModelSpec",
    "PerfEstimate",
    "Plan",
    "PlanResult",
    "QuantFormat",
    "ReplicaCapacity",
    "Requirements",
    "ServingConfig",
    "SimResult",
    "UnknownFrameworkError",
    "UnknownGPUError",
    "UnknownModelError",
    "UnknownNameError",
    "UnknownQuantError",
    "Workload",
    "__version__",
    "estimate_cost",
    "estimate_memory",
    "estimate_perf",
    "find_max_rate",
    "get_framework",
    "get_gpu",
    "get_model",
    "get_quant",
    "kv_layout",
    "list_frameworks",
    "list_gpus",
    "list_models",
    "list_quants",
    "load_calibration",
    "load_model",
    "plan_deployment",
    "read_config_file",
    "replica_capacity",
    "serving_config",
    "simulate",
    "slo_capacity",
    "spec_from_config",
    "sweep_batch",
    "weights_breakdown",
]
