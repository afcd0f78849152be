"""Model architecture: config.json -> exact tensor and cache inventories."""

from canserve.arch.config import read_config_file, spec_from_config
from canserve.arch.exact import exact_param_count
from canserve.arch.spec import CacheLayer, ModelSpec, Tensor

__all__ = [
    "CacheLayer",
    "ModelSpec",
    "Tensor",
    "exact_param_count",
    "read_config_file",
    "spec_from_config",
]
