"""canserve: will this LLM deployment serve my traffic?

The public API (everything else is private and may change)::

    from canserve import estimate_memory, get_model, get_gpu
    spec = get_model("llama-3.1-70b")
    est = estimate_memory(spec, "awq", batch=50, context=8192, gpu="A100-80GB")
    est.total_bytes, est.fits, est.max_concurrent_sequences
"""

from canserve.arch import ModelSpec, read_config_file, spec_from_config
from canserve.catalog.frameworks import Framework, get_framework, list_frameworks
from canserve.catalog.gpus import GPU, get_gpu, list_gpus
from canserve.catalog.models import get_model, list_models, load_model
from canserve.catalog.quant import QuantFormat, get_quant, list_quants
from canserve.errors import (
    CanserveError,
    ConfigError,
    InvalidInputError,
    UnknownGPUError,
    UnknownModelError,
    UnknownNameError,
)
from canserve.kv import kv_layout
from canserve.memory import MemoryEstimate, estimate_memory
from canserve.perf import PerfEstimate, estimate_perf, load_calibration, sweep_batch
from canserve.weights import weights_breakdown

__version__ = "0.1.0"

__all__ = [
    "GPU",
    "CanserveError",
    "ConfigError",
    "Framework",
    "InvalidInputError",
    "MemoryEstimate",
    "ModelSpec",
    "PerfEstimate",
    "QuantFormat",
    "UnknownGPUError",
    "UnknownModelError",
    "UnknownNameError",
    "__version__",
    "estimate_memory",
    "estimate_perf",
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
    "read_config_file",
    "spec_from_config",
    "sweep_batch",
    "weights_breakdown",
]
