"""Call the estimators the way a script does: a ServingConfig from keyword arguments, then the
estimate. Keeps the tests' call sites short; every argument goes through serving_config's and the
Workload's validation as a user's would."""

from typing import Any

from canserve import Workload, estimate_memory, estimate_perf, serving_config, simulate

SERVING = {
    "gpu",
    "gpus",
    "tp",
    "pp",
    "replicas",
    "quant",
    "kv_dtype",
    "framework",
    "max_num_seqs",
    "max_num_batched_tokens",
    "headroom",
    "calibration",
}
WORKLOAD = {
    "prompt",
    "output",
    "rate",
    "users",
    "think_s",
    "cv",
    "trace",
    "requests",
    "duration_s",
    "seed",
}


def _split(kwargs: dict[str, Any], keys: set[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    inside = {k: v for k, v in kwargs.items() if k in keys}
    return inside, {k: v for k, v in kwargs.items() if k not in keys}


def memory(spec: Any, quant: Any = None, **kwargs: Any) -> Any:
    serving, rest = _split(kwargs, SERVING)
    return estimate_memory(serving_config(spec, quant=quant, **serving), **rest)


def perf(spec: Any, gpu: Any, quant: Any = None, **kwargs: Any) -> Any:
    serving, rest = _split(kwargs, SERVING)
    return estimate_perf(serving_config(spec, gpu=gpu, quant=quant, **serving), **rest)


def sim(spec: Any, gpu: Any, quant: Any = None, **kwargs: Any) -> Any:
    if "max_model_len" in kwargs:
        kwargs["context"] = kwargs.pop("max_model_len")
    serving, rest = _split(kwargs, SERVING | {"context"})
    traffic, rest = _split(rest, WORKLOAD)
    for key in ("prompt", "output"):
        if key in traffic:
            traffic[key] = str(traffic[key])
    cfg = serving_config(spec, gpu=gpu, quant=quant, **serving)
    return simulate(cfg, Workload(**traffic), **rest)
