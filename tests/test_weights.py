"""Weight bytes per quantization format, checked against hand-computed layouts."""

import math

import gguf
import pytest

from canserve import get_model, get_quant, weights_breakdown
from canserve.arch.spec import Tensor
from canserve.weights import tensor_bytes

LLAMA_8B = get_model("llama-3.1-8b")


def test_bf16_is_two_bytes_per_parameter():
    assert weights_breakdown(LLAMA_8B, get_quant("bf16")).total_bytes == 2 * 8_030_261_248


def test_fp32_is_four_bytes_per_parameter():
    assert weights_breakdown(LLAMA_8B, get_quant("fp32")).total_bytes == 4 * 8_030_261_248


def test_awq_layout_of_one_matrix():
    # AutoAWQ GEMM: qweight int32 (in, out/8), qzeros int32 (in/128, out/8),
    # scales fp16 (in/128, out)
    t = Tensor("mlp_up", 0, (14336, 4096))
    expected = 4096 * 14336 // 2 + (4096 // 128) * 14336 // 2 + (4096 // 128) * 14336 * 2
    assert tensor_bytes(t, get_quant("awq"), LLAMA_8B) == expected


def test_gptq_adds_the_act_order_index():
    t = Tensor("mlp_down", 0, (4096, 14336))
    awq = tensor_bytes(t, get_quant("awq"), LLAMA_8B)
    assert tensor_bytes(t, get_quant("gptq"), LLAMA_8B) == awq + 14336 * 4  # g_idx int32


def test_quantized_formats_keep_embeddings_and_head_in_16_bit():
    w = weights_breakdown(LLAMA_8B, get_quant("awq"))
    assert w.by_role_bytes["embed"] == 2 * 128256 * 4096
    assert w.by_role_bytes["lm_head"] == 2 * 128256 * 4096


@pytest.mark.parametrize(
    ("fmt", "low", "high"),
    [
        ("awq", 4.15, 4.17),
        ("gptq", 4.15, 4.17),
        ("nf4", 4.49, 4.51),
        ("nf4-dq", 4.12, 4.14),
        ("mxfp4", 4.24, 4.26),
        ("nvfp4", 4.49, 4.51),
        ("fp8", 8.0, 8.01),
        ("fp8-block", 8.0, 8.01),
    ],
)
def test_bits_per_quantized_weight(fmt, low, high):
    t = Tensor("expert_up", 0, (14336, 4096))
    bits = tensor_bytes(t, get_quant(fmt), LLAMA_8B) * 8 / t.numel
    assert low <= bits <= high


def test_mxfp4_only_quantizes_routed_experts():
    spec = get_model("gpt-oss-20b")
    w = weights_breakdown(spec, get_quant("mxfp4"))
    experts = spec.routed_expert_params - sum(
        t.numel for t in spec.tensors if t.kind == "expert_bias"
    )
    assert w.by_role_bytes["linear"] == 2 * sum(t.numel for t in spec.tensors if t.role == "linear")
    assert w.by_role_bytes["expert"] == pytest.approx(
        experts * 4.25 / 8 + 2 * (spec.routed_expert_params - experts), rel=1e-6
    )


def _gguf_bytes(ggml_type, numel):
    block, size = gguf.GGML_QUANT_SIZES[gguf.GGMLQuantizationType[ggml_type]]
    return math.ceil(numel / block) * size


def test_gguf_q8_0_matches_the_gguf_table():
    expected = sum(
        _gguf_bytes("Q8_0", t.numel) if len(t.shape) == 2 and t.role != "router" else 4 * t.numel
        for t in LLAMA_8B.tensors
    )
    assert weights_breakdown(LLAMA_8B, get_quant("q8_0")).total_bytes == expected


def test_gguf_q4_k_m_is_a_mix_near_4_9_bits():
    bits = weights_breakdown(LLAMA_8B, get_quant("q4_k_m")).total_bytes * 8 / LLAMA_8B.params_total
    assert 4.85 < bits < 4.95  # llama.cpp Llama-3-8B Q4_K_M: about 4.9 bpw (ECOSYSTEM.md)


def test_tensor_parallel_shards_weights_and_replicates_norms():
    fmt = get_quant("bf16")
    whole = weights_breakdown(LLAMA_8B, fmt, 1, 1)
    tp2 = weights_breakdown(LLAMA_8B, fmt, 2, 1)
    norms = 2 * sum(t.numel for t in LLAMA_8B.tensors if t.role == "norm")
    assert tp2.per_gpu_bytes == (whole.total_bytes - norms) // 2 + norms


def test_kv_heads_are_replicated_past_their_count():
    spec = get_model("llama-3.1-8b")  # 8 KV heads
    fmt = get_quant("bf16")
    k_v = 2 * sum(t.numel for t in spec.tensors if t.kind in {"attn_k", "attn_v"})
    tp16 = weights_breakdown(spec, fmt, 16, 1).per_gpu_bytes
    tp8 = weights_breakdown(spec, fmt, 8, 1).per_gpu_bytes
    assert tp16 - (tp8 - k_v // 8) // 2 == pytest.approx(k_v // 8, rel=0.01)


def test_pipeline_stages_split_layers():
    fmt = get_quant("bf16")
    whole = weights_breakdown(LLAMA_8B, fmt).total_bytes
    pp2 = weights_breakdown(LLAMA_8B, fmt, 1, 2).per_gpu_bytes
    assert whole / 2 * 0.95 < pp2 < whole / 2 * 1.05


# ------------------------------------------------------------- checkpoint formats (ModelOpt, ...)


def _as_shipped(spec):
    return weights_breakdown(spec, get_quant(spec.checkpoint_quantization))


def test_modelopt_fp8_has_per_tensor_scales_and_keeps_the_lm_head_16_bit():
    spec = get_model("nvidia/Llama-3.1-70B-Instruct-FP8")  # hf_quant_config.json: FP8, lm_head out
    assert spec.checkpoint_quantization == "fp8-tensor"
    linear = [t for t in spec.tensors if t.role == "linear"]
    rest = spec.params_total - sum(t.numel for t in linear)
    expected = (
        sum(t.numel for t in linear) + 8 * len(linear) + 2 * rest
    )  # + fp32 weight/input scale
    assert _as_shipped(spec).total_bytes == expected


def test_modelopt_exclude_list_keeps_named_modules_16_bit():
    spec = get_model("nvidia/GLM-5-NVFP4")  # excludes self_attn.* (incl. the indexer) per layer
    formats = spec.checkpoint_formats
    q_b = next(t for t in spec.tensors if t.layer == 5 and t.kind == "attn_q_b")
    assert formats[q_b] == "bf16"
    assert tensor_bytes(q_b, get_quant("nvfp4"), spec) == 2 * q_b.numel
    expert = next(t for t in spec.tensors if t.layer == 5 and t.kind == "expert_up")
    assert expert not in formats
    per_copy = expert.numel // expert.copies
    assert tensor_bytes(expert, get_quant("nvfp4"), spec) == expert.copies * (
        per_copy // 2 + per_copy // 16 + 8  # 4-bit values, an FP8 scale per 16, two fp32 scales
    )


def test_modelopt_mixed_precision_gives_each_module_its_format():
    spec = get_model("nvidia/Qwen3.6-27B-NVFP4")
    by_name = {(t.layer, t.name): f for t, f in spec.checkpoint_tensor_formats}
    assert by_name[(0, "linear_attn.in_proj_qkv")] == "fp8-tensor"
    assert by_name[(0, "linear_attn.in_proj_a")] == "bf16"  # not listed: unquantized
    assert by_name[(3, "self_attn.o_proj")] == "fp8-tensor"
    assert by_name[(None, "lm_head")] == "nvfp4"  # listed as W4A16_NVFP4
    assert spec.checkpoint_quantization == "nvfp4"  # the MLPs hold most parameters


def test_another_format_ignores_the_checkpoints_own_exceptions():
    spec = get_model("nvidia/GLM-5-NVFP4")
    q_b = next(t for t in spec.tensors if t.layer == 5 and t.kind == "attn_q_b")
    assert tensor_bytes(q_b, get_quant("fp8"), spec) == q_b.numel + 4 * q_b.shape[0]


def test_compressed_tensors_int4_quantizes_only_what_it_does_not_ignore():
    spec = get_model("kimi-k2.5")  # int4 g32 experts; attention, shared experts, dense MLP ignored
    assert spec.checkpoint_quantization == "int4-g32"
    kinds = {t.kind for t, f in spec.checkpoint_tensor_formats if f == "bf16"}
    assert kinds == {"attn_q_a", "attn_q_b", "attn_kv_a", "attn_kv_b", "attn_o"} | {
        "mlp_gate", "mlp_up", "mlp_down", "shared_gate", "shared_up", "shared_down"
    }  # fmt: skip
    expert = next(t for t in spec.tensors if t.kind == "expert_down")
    bits = tensor_bytes(expert, get_quant("int4-g32"), spec) * 8 / expert.numel
    assert bits == 4 + 16 / 32


def test_deepseek_v4_routed_experts_ship_in_fp4():
    spec = get_model("deepseek-v4-flash")  # expert_dtype fp4 beside fp8 128x128 blocks
    assert spec.checkpoint_quantization == "fp8-block"
    assert {f for _, f in spec.checkpoint_tensor_formats} == {"mxfp4"}
    assert {t.role for t, _ in spec.checkpoint_tensor_formats} == {"expert"}
