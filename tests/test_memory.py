"""The memory equation against measurements and its own invariants."""

import csv
from pathlib import Path

import pytest

from canserve import InvalidInputError, get_gpu, get_model
from tests.helpers import memory

CALIBRATION = Path(__file__).resolve().parents[1] / "calibration" / "h100-2026-11-26"
LLAMA_8B = get_model("llama-3.1-8b")
LLAMA_70B = get_model("llama-3.1-70b")
GIB = 2**30


# frameworks.toml [[observation]] rows from vLLM 0.11 startup logs on one H100 (util 0.9, default
# max_num_seqs 1024 and max_num_batched_tokens 8192): (model, quant, tp, GiB per GPU of weights,
# activation peak, KV cache). docs/memory.md shows the table.
VLLM_LOGS = [
    ("llama-3.1-8b", "bf16", 1, 14.99, 4.76, 51.38),
    ("qwen3-0.6b", "bf16", 1, 1.12, 5.56, 64.45),
    ("gpt-oss-20b", "mxfp4", 1, 13.47, 7.38, 50.28),
    ("llama-3.3-70b", "fp8", 2, 33.88, 4.84, 32.0),
]


@pytest.mark.parametrize(("model", "quant", "tp", "weights", "activation", "kv"), VLLM_LOGS)
def test_fit_reproduces_the_vllm_startup_logs_it_was_fitted_to(
    model, quant, tp, weights, activation, kv
):
    """Not a validation: the activation coefficients were fitted to these four rows, so this only
    says the fit reproduces its data within 25% (and the KV budget, which follows from it, within
    5%). The weights are counted tensor by tensor, independently of the logs."""
    est = memory(
        get_model(model), quant, batch=1, context=16000, gpu="H100", gpus=tp, max_num_seqs=1024
    )
    assert est.max_num_batched_tokens == 8192
    assert est.per_gpu["weights_bytes"] / GIB == pytest.approx(weights, rel=0.05)
    assert est.per_gpu["activation_bytes"] / GIB == pytest.approx(activation, rel=0.25)
    assert est.engine_kv_budget_bytes_per_gpu / GIB == pytest.approx(kv, rel=0.05)


def test_fit_reproduces_the_transformers_measurement_it_was_derived_from():
    """The transformers activation coefficients come from this CSV: the fit reproduces it."""
    with (CALIBRATION / "h100_hf_transformers_generate_llama-3.1-8b.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    for row in rows:
        batch = int(row["batch"])
        context = int(row["prompt_tokens"]) + int(row["new_tokens"])
        est = memory(LLAMA_8B, "bf16", batch=batch, context=context, framework="transformers")
        predicted = est.per_gpu["kv_cache_bytes"] + est.per_gpu["activation_bytes"]
        measured = int(row["peak_bytes_above_weights"])
        assert predicted / measured == pytest.approx(1.0, abs=0.08), batch


def test_components_add_up():
    est = memory(LLAMA_70B, "awq", batch=50, context=8192, gpu="A100-80GB")
    parts = est.weights_bytes + est.kv_cache_bytes + est.activation_bytes + est.overhead_bytes
    assert est.total_bytes == parts
    assert est.kv_cache_bytes == 50 * 8192 * 327_680  # 8192 is a whole number of 16-token blocks


def test_headline_case_loads_but_does_not_serve_on_one_a100():
    est = memory(LLAMA_70B, "awq", batch=50, context=8192, gpu="A100-80GB")
    assert est.per_gpu["weights_bytes"] < 0.8 * est.gpu_memory_bytes  # it loads
    assert not est.fits  # it does not serve 50 x 8K
    assert 0 < est.max_concurrent_sequences < 50


def test_max_concurrent_sequences_is_the_boundary():
    kw = dict(context=8192, gpu="A100-80GB")
    est = memory(LLAMA_70B, "awq", batch=1, **kw)
    n = est.max_concurrent_sequences
    assert memory(LLAMA_70B, "awq", batch=n, **kw).fits
    assert not memory(LLAMA_70B, "awq", batch=n + 1, **kw).fits


def test_max_context_is_the_boundary():
    kw = dict(batch=8, gpu="H100")
    n = memory(LLAMA_8B, "bf16", context=1024, **kw).max_context_tokens
    assert memory(LLAMA_8B, "bf16", context=n, **kw).fits
    if n < LLAMA_8B.max_position_embeddings:
        assert not memory(LLAMA_8B, "bf16", context=n + 1, **kw).fits


def test_headroom_changes_the_verdict():
    kw = dict(batch=40, context=8192, gpu="H100")
    loose = memory(LLAMA_8B, "bf16", headroom=0.0, **kw)
    strict = memory(LLAMA_8B, "bf16", headroom=0.2, **kw)
    assert loose.max_concurrent_sequences > strict.max_concurrent_sequences


def test_fp8_kv_halves_the_cache():
    bf16 = memory(LLAMA_8B, "bf16", batch=8, context=8192)
    fp8 = memory(LLAMA_8B, "bf16", kv_dtype="fp8", batch=8, context=8192)
    assert fp8.kv_cache_bytes * 2 == bf16.kv_cache_bytes


def test_tensor_parallel_splits_per_gpu_memory():
    one = memory(LLAMA_70B, "bf16", batch=8, context=8192, gpu="H100", gpus=8)
    assert one.tensor_parallel_size == 8 and one.replicas == 1
    assert one.per_gpu["weights_bytes"] < one.weights_bytes / 7
    assert one.fits


def test_data_parallel_replicas():
    est = memory(LLAMA_8B, "bf16", gpu="H100", gpus=4, tp=1)
    assert est.replicas == 4 and est.tensor_parallel_size == 1


def test_paged_allocation_wastes_less_than_static():
    est = memory(LLAMA_8B, "bf16", batch=8, context=8192, avg_context=1000, gpu="H100")
    paged, static = est.allocation
    assert paged.scheme == "paged" and static.scheme == "static"
    assert paged.waste_fraction < 0.02 < 0.8 < static.waste_fraction
    assert paged.max_concurrent_sequences > 7 * static.max_concurrent_sequences


def test_sliding_window_caps_kv_per_sequence():
    spec = get_model("gpt-oss-20b")
    short = memory(spec, batch=1, context=1024).kv_bytes_per_sequence
    long = memory(spec, batch=1, context=2048).kv_bytes_per_sequence
    assert long < 2 * short


def test_defaults_to_checkpoint_format():
    assert memory(get_model("gpt-oss-120b")).quantization == "mxfp4"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(batch=0), "batch must be"),
        (dict(context=200_000), "model's maximum"),
        (dict(tp=3), "does not divide"),
        (dict(gpu="H100", gpus=3, tp=2), "not a multiple"),
        (dict(headroom=1.5), "headroom"),
        (dict(gpus=2), "gpus needs a GPU type"),
        (dict(avg_context=10_000, context=8192), "avg_context"),
        (dict(max_num_batched_tokens=-5), "max_num_batched_tokens"),
        (dict(max_num_seqs=0), "max_num_seqs"),
        (dict(pp=0), "pipeline_parallel_size"),
    ],
)
def test_bad_input(kwargs, message):
    with pytest.raises(InvalidInputError, match=message):
        memory(LLAMA_8B, **kwargs)


def test_every_gpu_row_can_be_sized():
    from canserve import list_gpus

    for gpu in list_gpus():
        est = memory(LLAMA_8B, "awq", batch=4, context=4096, gpu=gpu)
        assert est.gpu_memory_bytes == get_gpu(gpu.id).memory_bytes
        assert est.max_concurrent_sequences >= 0


def test_activation_detail_is_consistent():
    est = memory(LLAMA_8B, "bf16", batch=64, context=8192, gpu="H100")
    detail = est.activation_detail
    assert detail["prefill_chunk_tokens"] == 8192  # vLLM serve default on >= 70 GiB GPUs
    assert est.activation_bytes == detail["prefill_forward_bytes"] + detail["sampler_logits_bytes"]
    assert detail["decode_step_bytes"] < est.activation_bytes
    # the logits buffer is rows x vocab x fp32 x copies
    assert detail["sampler_logits_bytes"] == 64 * 128_256 * 4 * 7
