"""Each cost term of the step model against a hand-worked example.

The numbers are derived here from the datasheet (H100 SXM: 3.35 TB/s, 989.5 TFLOP/s bf16,
1,979 TFLOP/s fp8, 132 SMs) and the models' config.json shapes, with round made-up constants
(``K`` below), never from the fit's output: a wrong formula fails, whatever the calibration.
"""

from dataclasses import replace

import pytest

from canserve import get_gpu, get_model, get_quant
from canserve.perf import load_calibration
from canserve.perf.calibration import FrameworkCosts, KernelCosts
from canserve.perf.costs import attention_shape, experts_touched, model_costs
from canserve.perf.step import Hardware, Step, attention_time, experts_time, gemm_time, step_time

H100 = Hardware(get_gpu("H100"), 1, 1)
BW = 3.35e12  # H100 SXM datasheet bytes/s
BF16 = 989.5e12  # H100 SXM dense bf16 FLOP/s
K = KernelCosts(
    stream_bw_fraction=1.0,
    gemm_bw_fraction=1.0,
    gemm_flops_fraction=0.5,
    gemm_fixed_s=10e-6,
    kernel_fixed_s=2e-6,
    kv_bw_fraction=1.0,
    kv_cta_bytes_per_s=50e9,
    attn_flops_fraction=0.5,
    compute_efficiency=1.0,
    expert_fixed_s=10e-6,
)
NO_SPLIT = FrameworkCosts(0.0, 0.0, 0.0, True, False, False, 8, 4, 1.0)
SPLIT = replace(NO_SPLIT, split_kv=True)
LLAMA_8B = get_model("llama-3.1-8b")
BF16_FMT = get_quant("bf16")


def _gate_up(spec=LLAMA_8B, fmt=BF16_FMT, tp=1):
    return next(g for g in model_costs(spec, fmt, tp).dense if g.name == "gate_up")


def test_fused_gemm_shapes_follow_the_config():
    gemms = {g.name: g for g in model_costs(LLAMA_8B, BF16_FMT, 1).dense}
    # Llama 3.1 8B: hidden 4096, 32 heads + 2 x 8 KV heads of 128, intermediate 14336, 32 layers
    assert (gemms["qkv"].n, gemms["qkv"].k) == (6144, 4096)
    assert (gemms["gate_up"].n, gemms["gate_up"].k) == (2 * 14336, 4096)
    assert (gemms["mlp_down"].n, gemms["mlp_down"].k) == (4096, 14336)
    assert all(g.count == 32 for g in gemms.values())
    assert gemms["gate_up"].nbytes == 2 * 14336 * 4096 * 2  # bf16
    # tensor parallel: column-parallel splits n, row-parallel splits k
    tp2 = {g.name: g for g in model_costs(LLAMA_8B, BF16_FMT, 2).dense}
    assert tp2["gate_up"].n == 14336 and tp2["mlp_down"].k == 7168


def test_memory_bound_gemm_is_bytes_over_bandwidth_plus_its_fixed_cost():
    g = _gate_up()
    fixed, memory, compute = gemm_time(1, g, H100, K)
    weights = 2 * 14336 * 4096 * 2  # 234,881,024 bytes
    activations = (4096 + 28672) * 2  # one token in, one out, bf16
    assert fixed == 10e-6
    assert memory == pytest.approx((weights + activations) / BW)  # 70.1 us
    assert compute < memory  # 16 padded rows x 28,672 x 4,096 x 2 = 3.8 GFLOP: 7.6 us


def test_compute_bound_gemm_runs_at_its_fraction_of_peak():
    g = _gate_up()
    _, memory, compute = gemm_time(1024, g, H100, K)
    flops = 2 * 1024 * 28672 * 4096  # 240.5 GFLOP; 8 x 224 tiles fill the 132 SMs
    assert compute == pytest.approx(flops / (0.5 * BF16))  # 486 us
    assert memory < compute


def test_gemm_that_cannot_fill_the_sms_is_slower_and_splits_k():
    # [128, 4096] x [4096, 4096]: 1 x 32 tiles; split-K into min(132 // 32, 4096 // 1024) = 4
    # slices gives 128 work items on 132 SMs
    o_proj = next(g for g in model_costs(LLAMA_8B, BF16_FMT, 1).dense if g.name == "attn_o")
    _, _, compute = gemm_time(128, o_proj, H100, K)
    flops = 2 * 128 * 4096 * 4096
    assert compute == pytest.approx(flops / (0.5 * BF16 * 128 / 132))


def test_few_rows_pad_to_a_16_row_tile():
    g = _gate_up()
    assert gemm_time(3, g, H100, K)[2] == pytest.approx(gemm_time(16, g, H100, K)[2])
    assert gemm_time(17, g, H100, K)[2] == pytest.approx(2 * gemm_time(16, g, H100, K)[2])


def test_fp8_halves_the_bytes_and_doubles_the_rate():
    fp8 = get_quant("fp8")
    g = _gate_up(fmt=fp8)
    # FP8 E4M3 weights + one fp32 scale per output row
    assert g.nbytes == 28672 * 4096 + 28672 * 4 and g.quantized
    _, memory, compute = gemm_time(1024, g, H100, K, dtype="fp8")
    assert compute == pytest.approx(2 * 1024 * 28672 * 4096 / (0.5 * 1979e12))
    assert memory == pytest.approx((g.nbytes + 1024 * (4096 + 28672) * 2) / BW)


def test_weight_only_int4_pays_its_dequantization_once_compute_bound():
    cal = load_calibration()
    awq = get_quant("awq")
    spec = LLAMA_8B
    bf16_step = step_time(spec, BF16_FMT, H100, Step(4096), kv_bits=16, framework="vllm", cal=cal)
    awq_step = step_time(spec, awq, H100, Step(4096), kv_bits=16, framework="vllm", cal=cal)
    # 4096 tokens: compute-bound; W4A16 dequantizes into bf16 GEMMs at the assumed fraction
    fraction = cal.quant.weight_only_compute_fraction
    assert awq_step.compute_s > bf16_step.compute_s
    assert awq_step.compute_s < bf16_step.compute_s / fraction * 1.01


def test_w8a8_quantizes_each_gemm_input_with_a_small_kernel():
    cal = replace(load_calibration(), kernels=K)
    cal = replace(cal, frameworks={**cal.frameworks, "harness": NO_SPLIT})
    step = Step(decode_seqs=1, context=1)
    bf16 = step_time(LLAMA_8B, BF16_FMT, H100, step, kv_bits=16, framework="harness", cal=cal)
    fp8 = step_time(
        LLAMA_8B, get_quant("fp8"), H100, step, kv_bits=16, framework="harness", cal=cal
    )
    # 32 layers x 4 GEMMs (qkv, o, gate_up, down), one quantize kernel each, 2 us apiece
    assert fp8.kernels_s - bf16.kernels_s == pytest.approx(128 * 2e-6)


def test_decode_attention_without_split_kv_is_limited_by_its_work_items():
    # batch 1 at 32,768 tokens, 8 KV heads, 4 query heads each: 8 work items (CTAs) at 50 GB/s
    step = Step(decode_seqs=1, context=32768)
    parts = attention_time(LLAMA_8B, step, H100, 16, K, NO_SPLIT)
    kv_bytes = 32 * 2 * 8 * 128 * 32768 * 2  # 4.29 GB
    assert parts.kv == pytest.approx(kv_bytes / (8 * 50e9))  # 10.7 ms
    assert parts.kernels == pytest.approx(32 * 2e-6)  # one attention kernel per layer


def test_split_kv_fills_the_gpu_and_adds_a_combine_kernel():
    # FlashAttention's heuristic: 8 items < 0.8 x 132 SMs -> min(ceil(132/8), 32768/256, 128) = 17
    # splits -> 136 CTAs x 50 GB/s = 6.8 TB/s > the 3.35 TB/s the GPU streams
    step = Step(decode_seqs=1, context=32768)
    parts = attention_time(LLAMA_8B, step, H100, 16, K, SPLIT)
    assert parts.kv == pytest.approx(32 * 2 * 8 * 128 * 32768 * 2 / BW)  # 1.28 ms
    assert parts.kernels == pytest.approx(64 * 2e-6)


def test_mla_has_one_latent_kv_head_read_by_every_query_head():
    v3 = get_model("deepseek-v3")  # 128 query heads, one 576-wide latent per token
    assert attention_shape(v3, 1) == (1, 128)
    assert attention_shape(v3, 8) == (1, 16)
    assert attention_shape(LLAMA_8B, 1) == (8, 4)
    assert attention_shape(LLAMA_8B, 16) == (1, 2)  # 2 query heads, a replicated KV head


def test_attention_takes_the_slower_of_streaming_and_compute_not_their_sum():
    v3 = get_model("deepseek-v3")
    hw = Hardware(get_gpu("H100"), 8, 1)
    step = Step(decode_seqs=256, context=4096)
    parts = attention_time(v3, step, hw, 16, K, SPLIT)
    kv_bytes = 256 * 61 * 576 * 4096 * 2  # latent replicated on every rank: 73.7 GB
    # 4 x 576 FLOPs per query-key pair per head, 16 heads per GPU; 16 query rows of a 64-row tile
    flops = 256 * 61 * 4 * 576 * 16 * 4096
    rate = 0.5 * BF16 * 16 / 64
    expected = max(kv_bytes / BW, flops / rate)
    assert parts.kv + parts.compute == pytest.approx(expected)
    assert min(parts.kv, parts.compute) == 0


def test_prefill_attention_is_causal_compute():
    step = Step(prefill_tokens=2048)
    parts = attention_time(LLAMA_8B, step, H100, 16, K, SPLIT)
    pairs = 2048 * 2049 / 2
    flops = 32 * 32 * 4 * 128 * pairs  # 32 layers x 32 heads x 4 x head_dim per pair
    assert parts.compute == pytest.approx(flops / (0.5 * BF16))


def test_experts_touched():
    assert experts_touched(1, 256, 8) == pytest.approx(8)
    assert experts_touched(10_000, 256, 8) == pytest.approx(256)
    assert experts_touched(4, 8, 2) == pytest.approx(8 * (1 - 0.75**4))


def test_moe_reads_only_the_experts_it_touches_and_pays_per_expert():
    mixtral = get_model("mixtral-8x7b")  # 8 experts of 3 x 4096 x 14336, top-2, 32 layers
    cal = replace(load_calibration(), kernels=K)
    costs = model_costs(mixtral, BF16_FMT, 1)
    parts = experts_time(mixtral, costs, 1, BF16_FMT, H100, K, cal)
    expert_bytes = 3 * 4096 * 14336 * 2  # 352 MB
    # one token: 2 experts x 32 layers, weights over the bandwidth (plus 1 token's activations)
    assert parts.weights == pytest.approx(32 * 2 * expert_bytes / BW, rel=1e-3)
    # fixed: router + 2 grouped GEMMs per layer at 10 us, and per expert 10 us x its share of
    # the SMs: gate_up spans 224 column tiles (all 132 SMs), down 32 tiles (32/132)
    per_layer = 3 * 10e-6 + 2 * 10e-6 * (1 + 32 / 132)
    assert parts.kernels == pytest.approx(32 * per_layer)


def test_lm_head_runs_only_for_rows_that_need_logits():
    cal = replace(load_calibration(), kernels=K)
    cal = replace(cal, frameworks={**cal.frameworks, "harness": NO_SPLIT})

    def total(last: bool) -> float:
        step = Step(prefill_tokens=64, prefill_last_chunk=last)
        return step_time(LLAMA_8B, BF16_FMT, H100, step, kv_bits=16, framework="harness", cal=cal)

    head = 128256 * 4096 * 2  # untied LM head, bf16
    gap = total(True).total_s - total(False).total_s
    assert gap == pytest.approx(10e-6 + (head + (4096 + 128256) * 2) / BW)


def test_tensor_parallel_all_reduces_are_priced_per_layer():
    cal = load_calibration()
    hw = Hardware(get_gpu("H100"), 2, 1)
    step = Step(decode_seqs=8, context=1)
    t = step_time(LLAMA_8B, BF16_FMT, hw, step, kv_bits=16, framework="vllm", cal=cal)
    ic = cal.interconnect
    payload = 8 * 4096 * 2 * 2 * (2 - 1) / 2
    one = ic.allreduce_latency_nvlink_s + payload / (900e9 / 2 * ic.link_bw_fraction)
    assert t.comm_s == pytest.approx(2 * 32 * one)
