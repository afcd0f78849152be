"""Deploy output: commands use only flags of the targeted engine versions; the manifest is sane."""

import shlex

import yaml

from canserve.deploy import Deployment, engine_commands, engine_versions, kubernetes_manifest


def _deployment(**kw) -> Deployment:
    base = dict(
        model_id="meta-llama/Llama-3.1-70B",
        tensor_parallel_size=4,
        pipeline_parallel_size=1,
        replicas=2,
        max_model_len=8192,
        max_num_seqs=64,
        max_num_batched_tokens=8192,
        gpu_memory_utilization=0.9,
        kv_cache_dtype="fp8",
        quantization="awq",
        vllm_quantization="awq",
        checkpoint_quantization=None,
        max_input_tokens=4096,
    )
    return Deployment(**{**base, **kw})


def _flags(command: str) -> set[str]:
    args = shlex.split(command.splitlines()[-1])
    if args[:2] == ["python", "-m"]:
        args = args[3:]  # the interpreter's flag, not the engine's
    return {a for a in args if a.startswith("-")}


def test_every_flag_exists_in_the_targeted_version():
    versions = engine_versions()
    for dep in (
        _deployment(),
        _deployment(
            quantization="fp8",
            vllm_quantization="fp8",
            pipeline_parallel_size=2,
            kv_cache_dtype="auto",
        ),
        _deployment(quantization="q4_k_m", vllm_quantization=None, kv_cache_dtype="q8_0"),
    ):
        for engine, command in engine_commands(dep).items():
            allowed = set(versions[engine]["flags"])
            assert _flags(command) <= allowed, (engine, _flags(command) - allowed)


def test_vllm_command_carries_the_plan():
    cmd = engine_commands(_deployment())["vllm"]
    args = shlex.split(cmd.splitlines()[-1])
    assert args[:3] == ["vllm", "serve", "meta-llama/Llama-3.1-70B"]
    assert args[args.index("--tensor-parallel-size") + 1] == "4"
    assert args[args.index("--max-num-seqs") + 1] == "64"
    assert args[args.index("--kv-cache-dtype") + 1] == "fp8"
    assert cmd.startswith("# use a awq checkpoint")  # vLLM does not quantize to AWQ on load


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
