"""The performance model against the H100 measurements (the fit, and what it never saw), and its
invariants: parallelism, formats, frameworks. Each cost term's hand-worked example is in
tests/test_perf_terms.py."""

import math

import pytest

from canserve import InvalidInputError, get_gpu, get_model, list_gpus, list_models, serving_config
from canserve.perf import load_calibration, sweep_batch
from tests.conftest import ROOT, load_script
from tests.helpers import perf

fit_perf = load_script("fit_perf")
LLAMA_8B = get_model("llama-3.1-8b")
STEP_ROWS = fit_perf.step_rows(fit_perf.load_rows())
HF_ROWS = [r for r in fit_perf.load_rows() if not r.group]


@pytest.fixture(scope="module")
def folds():
    """Leave one group out: each group predicted by a fit that never saw it."""
    return fit_perf.leave_one_group_out(load_calibration())


def test_accuracy_page_is_current(folds):
    page = (ROOT / "docs/perf-accuracy.md").read_text()
    assert page == fit_perf.render(load_calibration(), folds)


@pytest.mark.parametrize("row", STEP_ROWS, ids=lambda r: f"{r.group}-{r.batch}-{r.tokens}")
def test_fit_reproduces_its_data_within_7_percent(row):
    """The built-in calibration was fitted on every one of these rows: this checks the fit, not
    how the model transfers (that is the held-out test below)."""
    error = fit_perf.predict(row, load_calibration()) / row.measured_s - 1
    assert abs(error) <= 0.07


def test_held_out_groups_are_predicted_within_the_targets(folds):
    """Each group (70B shape, FP8, MoE, long context, prefill, short-context 8B) predicted by a
    fit that left it out: dense bf16 and FP8 within 15% worst and 5% median, MoE within 30% and
    12% (benchmarks/bench_perf_accuracy.py reports the same numbers)."""
    for name, (median, worst, med_target, worst_target) in fit_perf.category_errors(folds).items():
        assert median <= med_target and worst <= worst_target, name


@pytest.mark.parametrize(
    "row", HF_ROWS, ids=lambda r: f"{r.kind}-{r.batch}-{'fit' if r.fit else 'held'}"
)
def test_eager_transformers_rows(row):
    """transformers generate(): the fit rows (batch-1 launch floor and bookkeeping, batch-8
    prefill rate) are reproduced within 1%; held-out prefill (batch 32, 64) within 5%; held-out
    decode steps within 15% (they are CPU-bound, and scatter by 11% between batches)."""
    error = fit_perf.predict(row, load_calibration()) / row.measured_s - 1
    tolerance = 0.01 if row.fit else (0.05 if row.kind == "hf-prefill" else 0.15)
    assert abs(error) <= tolerance


def test_fitted_constants_are_physical_and_not_parked_at_a_bound():
    kernels = load_calibration().kernels
    for p in fit_perf.PARAMS:
        value = getattr(kernels, p.name)
        assert p.low < value < p.high, p.name
    for name in (
        "stream_bw_fraction",
        "gemm_bw_fraction",
        "gemm_flops_fraction",
        "kv_bw_fraction",
        "attn_flops_fraction",
        "compute_efficiency",
    ):
        assert 0 < getattr(kernels, name) < 1, name


def test_streaming_bandwidth_is_the_microbenchmark_read():
    bench = fit_perf.microbench()
    kernels = load_calibration().kernels
    assert kernels.stream_bw_fraction == pytest.approx(
        bench["hbm_read_bytes_per_s"] / 3.35e12, abs=1e-4
    )


def test_fixed_costs_explain_why_big_models_stream_closer_to_bandwidth():
    """The issue's structure error: at 8B the fixed per-kernel costs are ~25% of a batch-1 step,
    at 70B a smaller share, so one fitted bandwidth fraction cannot serve both."""
    small = perf(LLAMA_8B, "H100", batch=1, context=1024).breakdown_s
    big = perf(get_model("llama-3.1-70b"), "H100", "fp8", batch=1, context=1024).breakdown_s
    assert small["kernels_s"] / small["weights_s"] > 1.5 * big["kernels_s"] / big["weights_s"]


def test_article_formula_is_too_optimistic():
    """The issue's observation: BW / model size is 1.4x too optimistic at batch 1 and >4x at 256."""
    one = perf(LLAMA_8B, "H100", "bf16", batch=1, context=1024)
    assert one.bandwidth_bound_tokens_per_s / one.decode_tokens_per_s > 1.3
    big = perf(LLAMA_8B, "H100", "bf16", batch=256, context=1024)
    assert big.decode_step_s / one.decode_step_s > 2.5  # KV reads and compute, not free batching


def test_json_contract():
    est = perf(LLAMA_8B, "H100", batch=16, context=2048, prompt=1000, output=200)
    d = est.to_dict()
    for key in (
        "decode_step_s",
        "decode_tokens_per_s",
        "tpot_s",
        "prefill_tokens_per_s",
        "ttft_s",
        "e2e_s",
        "bound",
    ):
        assert key in d
    assert d["decode_tokens_per_s"] == pytest.approx(16 / d["decode_step_s"])
    assert d["e2e_s"] == pytest.approx(d["ttft_s"] + 199 * d["tpot_s"])
    assert d["bound"] in {"memory", "compute"}


def test_turns_compute_bound_at_large_batch_and_short_context():
    assert perf(LLAMA_8B, "H100", batch=1, context=128).bound == "memory"
    assert perf(LLAMA_8B, "H100", batch=2048, context=128).bound == "compute"


def test_throughput_grows_and_tpot_grows_with_batch():
    curve = sweep_batch(serving_config(LLAMA_8B, gpu="H100"), [1, 8, 64, 256], context=2048)
    tps = [e.decode_tokens_per_s for e in curve]
    tpot = [e.tpot_s for e in curve]
    assert tps == sorted(tps) and tpot == sorted(tpot)


def test_tensor_parallel_is_sublinear():
    spec = get_model("llama-3.1-70b")
    one = perf(spec, "H100", "fp8", batch=8, context=2048, tp=1).decode_step_s
    four = perf(spec, "H100", "fp8", batch=8, context=2048, tp=4)
    assert one / 4 < four.decode_step_s < one
    assert four.breakdown_s["comm_s"] > 0


def test_pcie_all_reduce_costs_more_than_nvlink():
    spec = get_model("llama-3.1-8b")
    nv = perf(spec, "H100", batch=8, context=2048, tp=2).breakdown_s["comm_s"]
    pcie = perf(spec, "L40S", batch=8, context=2048, tp=2).breakdown_s["comm_s"]
    assert pcie > 2 * nv


def test_pipeline_parallel_adds_hops_not_speed():
    one = perf(LLAMA_8B, "H100", batch=8, context=2048)
    two = perf(LLAMA_8B, "H100", batch=8, context=2048, pp=2)
    assert two.decode_tokens_per_s < one.decode_tokens_per_s * 1.05


def test_moe_reads_more_experts_as_batch_grows():
    spec = get_model("qwen3-30b-a3b")
    one = perf(spec, "H100", batch=1, context=1024).breakdown_s["weights_s"]
    many = perf(spec, "H100", batch=64, context=1024).breakdown_s["weights_s"]
    assert many > 5 * one


def test_weight_only_int4_speeds_up_batch_1_less_than_its_bytes():
    """AWQ reads 3.6x fewer bytes, but the per-kernel fixed costs and the 16-bit LM head do not
    shrink: batch-1 decode gains less than the byte ratio."""
    bf16 = perf(LLAMA_8B, "H100", "bf16", batch=1, context=1024).decode_step_s
    awq = perf(LLAMA_8B, "H100", "awq", batch=1, context=1024).decode_step_s
    assert 1.5 < bf16 / awq < 3.0


def test_fp8_on_ampere_is_weight_only():
    est = perf(LLAMA_8B, "A100-80GB", "fp8", batch=1, context=1024)
    assert any("no fp8 tensor cores" in n for n in est.notes)


def test_eager_transformers_is_about_ten_times_slower_at_batch_1():
    vllm = perf(LLAMA_8B, "H100", batch=1, context=544).decode_step_s
    hf = perf(LLAMA_8B, "H100", batch=1, context=544, framework="transformers")
    assert 7 < hf.decode_step_s / vllm < 13


def test_chunked_prefill_beside_decodes_is_slower():
    est = perf(LLAMA_8B, "H100", batch=64, context=2048, prompt=2000, output=100)
    assert est.ttft_with_decodes_s > est.ttft_s


def test_long_prompt_is_chunked():
    short = perf(LLAMA_8B, "H100", prompt=8192, output=1)
    chunked = perf(LLAMA_8B, "H100", prompt=8192, output=1, max_num_batched_tokens=512)
    assert chunked.ttft_s > short.ttft_s


@pytest.mark.parametrize("entry", list_models(), ids=lambda m: m.id)
def test_every_catalog_model_runs(entry):
    est = perf(entry.spec, "H200", batch=4, context=1024, prompt=512, output=64)
    assert math.isfinite(est.decode_step_s) and est.decode_step_s > 0
    assert est.ttft_s > 0


@pytest.mark.parametrize("gpu", list_gpus(), ids=lambda g: g.id)
def test_every_gpu_runs(gpu):
    est = perf(LLAMA_8B, gpu, "awq", batch=4, context=1024)
    faster_memory = est.decode_tokens_per_s / get_gpu(gpu.id).hbm_bytes_per_s
    assert faster_memory > 0


def test_calibration_override(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text("[framework.vllm]\nstep_overhead_s = 0.01\n")
    base = perf(LLAMA_8B, "H100", batch=1, context=1024).decode_step_s
    slow = perf(LLAMA_8B, "H100", batch=1, context=1024, calibration=path).decode_step_s
    assert slow - base == pytest.approx(0.0095, rel=0.01)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(batch=0), "batch"),
        (dict(tp=3), "does not divide"),
        (dict(context=10**7), "context"),
        (dict(prompt=-1), "prompt"),
    ],
)
def test_bad_input(kwargs, message):
    with pytest.raises(InvalidInputError, match=message):
        perf(LLAMA_8B, "H100", **kwargs)
