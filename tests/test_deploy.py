"""Deploy output a team can paste: flags of the targeted engine versions only, the checkpoint to
serve (or the quantization step first), lengths real prompts fit in, ROCm for AMD, a sane
Kubernetes manifest."""

import re
import shlex

import pytest
import yaml

from canserve.catalog.checkpoints import find_checkpoint, find_recipe, list_checkpoints
from canserve.catalog.models import get_model, list_models
from canserve.catalog.quant import get_quant, list_quants
from canserve.deploy import (
    Deployment,
    engine_commands,
    engine_image,
    engine_versions,
    kubernetes_manifest,
    resolve_weights,
)

LLAMA_70B = "meta-llama/Meta-Llama-3.1-70B"


def _deployment(quantization="awq", model_id=LLAMA_70B, **kw) -> Deployment:
    base = dict(
        model_id=model_id,
        weights=resolve_weights(model_id, get_quant(quantization), None),
        tensor_parallel_size=4,
        pipeline_parallel_size=1,
        replicas=2,
        max_model_len=8192,
        max_num_seqs=64,
        max_num_batched_tokens=8192,
        gpu_memory_utilization=0.9,
        kv_cache_dtype="fp8",
        quantization=quantization,
    )
    return Deployment(**{**base, **kw})


def _args(command: str) -> list[str]:
    return shlex.split(command.splitlines()[-1])


def _flags(command: str) -> set[str]:
    args = _args(command)
    if args[:2] == ["python", "-m"]:
        args = args[3:]  # the interpreter's flag, not the engine's
    return {a for a in args if a.startswith("-")}


def _value(args: list[str], flag: str) -> str:
    return args[args.index(flag) + 1]


@pytest.mark.parametrize(
    "dep",
    [
        _deployment(),
        _deployment("fp8", pipeline_parallel_size=2, kv_cache_dtype="auto"),
        _deployment("gptq", model_id="Qwen/Qwen2.5-72B"),  # no checkpoint: quantize first
        _deployment("nf4"),
        _deployment("q4_k_m", model_id="Qwen/Qwen3-8B", kv_cache_dtype="q8_0"),
        _deployment("q5_k_s", kv_cache_dtype="q8_0", kv_capacity_tokens=100_000),
        _deployment("awq", vendor="amd"),
    ],
    ids=["awq", "fp8-pp", "gptq-step", "nf4", "gguf-hub", "gguf-step", "amd"],
)
def test_every_flag_exists_in_the_targeted_version(dep):
    versions = engine_versions()
    for engine, command in engine_commands(dep).items():
        allowed = set(versions[engine]["flags"])
        assert _flags(command) <= allowed, (engine, _flags(command) - allowed)


def test_awq_plans_serve_a_named_checkpoint():
    """The old command served the 16-bit id with --quantization awq and 'use a awq
    checkpoint': it failed as written."""
    dep = _deployment()
    args = _args(engine_commands(dep)["vllm"])
    assert args[:3] == ["vllm", "serve", "hugging-quants/Meta-Llama-3.1-70B-Instruct-AWQ-INT4"]
    assert "--quantization" not in args  # read from the checkpoint's config.json
    assert _value(args, "--served-model-name") == LLAMA_70B
    assert _value(args, "--tensor-parallel-size") == "4"
    assert _value(args, "--max-num-seqs") == "64" and _value(args, "--kv-cache-dtype") == "fp8"
    assert "Instruct" in engine_commands(dep)["vllm"].splitlines()[0]  # says it is the sibling
    sglang = _args(engine_commands(dep)["sglang"])
    assert _value(sglang, "--model-path") == dep.weights.serve


def test_without_a_known_checkpoint_the_quantization_step_comes_first():
    dep = _deployment("gptq", model_id="Qwen/Qwen2.5-72B")
    w = dep.weights
    assert w.kind == "quantize-first" and w.serve.startswith("/models/")
    assert "from llmcompressor import oneshot" in w.prepare
    assert "GPTQModifier" in w.prepare and 'scheme="W4A16"' in w.prepare
    assert f'output_dir="{w.serve}"' in w.prepare  # the commands serve exactly its output
    assert _args(engine_commands(dep)["vllm"])[2] == w.serve
    manifest = next(iter(yaml.safe_load_all(kubernetes_manifest(dep))))
    pod = manifest["spec"]["template"]["spec"]
    mounts = pod["containers"][0]["volumeMounts"]
    assert {"name": "model-weights", "mountPath": "/models"} in mounts
    assert any(v["name"] == "model-weights" for v in pod["volumes"])


def test_fp8_without_a_checkpoint_is_quantized_on_load():
    dep = _deployment("fp8", model_id="Qwen/Qwen2.5-72B")
    assert dep.weights.kind == "quantize-on-load" and dep.weights.serve == "Qwen/Qwen2.5-72B"
    assert _value(_args(engine_commands(dep)["vllm"]), "--quantization") == "fp8"
    assert _value(_args(engine_commands(dep)["tgi"]), "--quantize") == "fp8"


def test_tgi_takes_prompts_up_to_the_model_length():
    """The old TGI command had --max-input-tokens 200 (the average prompt)."""
    args = _args(engine_commands(_deployment(max_model_len=32768))["tgi"])
    assert _value(args, "--max-input-tokens") == "32767"
    assert _value(args, "--max-total-tokens") == "32768"
    assert int(_value(args, "--max-batch-prefill-tokens")) >= 32767  # TGI's launcher rule


def test_llama_cpp_serves_a_known_gguf_from_the_hub_within_its_kv_cache():
    dep = _deployment("q4_k_m", model_id="Qwen/Qwen3-8B", kv_capacity_tokens=200_000)
    command = engine_commands(dep)["llama.cpp"]
    args = _args(command)
    assert _value(args, "-hf") == "Qwen/Qwen3-8B-GGUF:Q4_K_M"
    assert int(_value(args, "-c")) <= 200_000 and _value(args, "-np") == "64"
    assert "slots of" in command.splitlines()[0]
    step = _deployment("q5_k_s").weights
    assert "convert_hf_to_gguf.py" in step.prepare and "llama-quantize" in step.prepare


def test_amd_plans_get_rocm_images_and_amd_gpus():
    dep = _deployment(vendor="amd")
    deployment, _ = list(yaml.safe_load_all(kubernetes_manifest(dep)))
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == engine_image("vllm", "amd")
    assert "rocm" in container["image"]
    assert container["resources"]["limits"] == {"amd.com/gpu": 4}
    for engine in ("vllm", "sglang", "tgi", "llama.cpp"):
        assert "rocm" in engine_image(engine, "amd")
        assert "rocm" not in engine_image(engine, "nvidia")


def test_kubernetes_manifest():
    docs = list(yaml.safe_load_all(kubernetes_manifest(_deployment())))
    deployment, service = docs
    assert deployment["kind"] == "Deployment" and service["kind"] == "Service"
    assert deployment["spec"]["replicas"] == 2
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 4
    assert container["readinessProbe"]["httpGet"]["path"] == "/health"
    assert container["image"] == engine_versions()["vllm"]["image"]
    assert container["command"][:2] == ["vllm", "serve"]


@pytest.mark.parametrize("row", list_checkpoints(), ids=lambda c: f"{c.model}:{c.format}")
def test_every_checkpoint_row_is_sourced_and_names_a_real_catalog_pair(row):
    assert re.fullmatch(r"[\w.-]+/[\w.-]+", row.repo)
    assert row.source.startswith("https://") and row.source_date
    assert row.variant in ("same", "instruct")
    assert get_model(row.model).model_id == row.model
    fmt = get_quant(row.format)
    assert (fmt.kind == "gguf") == (row.gguf_quant is not None)
    assert find_checkpoint(row.model, row.format) is not None


def test_every_format_has_a_way_to_be_served_or_says_it_cannot():
    spec = get_model("llama-3.1-8b")
    for fmt in list_quants():
        w = resolve_weights(spec.model_id, fmt, spec.checkpoint_quantization)
        assert w.kind in (
            "original",
            "checkpoint",
            "quantize-on-load",
            "quantize-first",
            "unavailable",
        )
        if w.kind == "quantize-first" and fmt.kind != "gguf":
            assert find_recipe(fmt.id) is not None and w.source
        if w.kind == "unavailable":
            assert "cannot be deployed" in w.note


def test_models_shipping_in_a_format_serve_their_own_weights():
    for entry in list_models():
        spec = entry.spec
        if spec.checkpoint_quantization:
            fmt = get_quant(spec.checkpoint_quantization)
            w = resolve_weights(spec.model_id, fmt, spec.checkpoint_quantization)
            assert w.kind == "original" and w.serve == spec.model_id
