"""KV cache layout: GQA, MLA, windows, recurrent state, tensor parallel."""

import pytest

from canserve import InvalidInputError, get_model, kv_layout
from canserve.kv import kv_bits


def test_llama_70b_kv_per_token_is_8x_smaller_than_the_article_formula():
    spec = get_model("llama-3.1-70b")
    real = kv_layout(spec).elements_per_token_at(1) * 2  # bytes at bf16
    article = 2 * spec.num_hidden_layers * spec.hidden_size * 2
    assert real == 327_680
    assert article / real == 8


def test_sliding_layers_stop_growing_past_the_window():
    layout = kv_layout(get_model("gpt-oss-20b"))
    short = layout.elements_per_token_at(100)
    long = layout.elements_per_token_at(10_000)
    assert short == 2 * long  # half the layers slide with a 128-token window
    assert layout.elements_per_sequence(10_000) == long * 10_000 + long * 128


def test_mla_latent_is_replicated_under_tensor_parallel():
    spec = get_model("deepseek-v3")
    assert kv_layout(spec, 8).elements_per_sequence(1000) == kv_layout(spec).elements_per_sequence(
        1000
    )


def test_gqa_heads_split_then_replicate():
    spec = get_model("llama-3.1-8b")  # 8 KV heads
    one = kv_layout(spec).elements_per_sequence(1000)
    assert kv_layout(spec, 2).elements_per_sequence(1000) == one // 2
    assert kv_layout(spec, 8).elements_per_sequence(1000) == one // 8
    assert kv_layout(spec, 16).elements_per_sequence(1000) == one // 8


def test_hybrid_state_does_not_grow_with_context():
    layout = kv_layout(get_model("qwen3-next-80b-a3b"))
    assert layout.state_elements > 0
    growth = layout.elements_per_sequence(2000) - layout.elements_per_sequence(1000)
    assert growth == 1000 * layout.elements_per_token_at(1000)


@pytest.mark.parametrize(
    ("dtype", "bits"),
    [("auto", 16), ("fp8", 8), ("int8", 8), ("q8_0", 8.5), ("q4_0", 4.5), ("fp32", 32)],
)
def test_kv_dtypes(dtype, bits):
    assert kv_bits(dtype) == bits


def test_unknown_kv_dtype():
    with pytest.raises(InvalidInputError, match="unknown KV cache dtype"):
        kv_bits("fp6")


def test_dsa_indexer_key_makes_the_cache_22_percent_larger_than_v3():
    v3, v32 = kv_layout(get_model("deepseek-v3")), kv_layout(get_model("deepseek-v3.2"))
    assert v3.elements_per_token_at(1) == 61 * 576
    assert v32.elements_per_token_at(1) == 61 * (576 + 128)  # +22% at equal dtype
    assert kv_layout(get_model("deepseek-v3.2"), 8).elements_per_sequence(1000) == (
        v32.elements_per_sequence(1000)
    )  # latent and indexer key both kept whole on every rank


def test_deepseek_v4_cache_window_plus_compressed_entries():
    layout = kv_layout(get_model("deepseek-v4-flash"))
    tokens = 2**20
    window = 43 * 128 * 512  # every layer: 128 shared K=V entries of head_dim 512
    csa = 21 * (tokens // 4) * (512 + 128)  # 21 layers: an entry + indexer key per 4 tokens
    hca = 20 * (tokens // 128) * 512  # 20 layers: an entry per 128 tokens
    assert layout.elements_per_sequence(tokens) == window + csa + hca
    assert layout.elements_per_token_at(tokens) == 21 * 640 / 4 + 20 * 512 / 128
    assert layout.state_elements == 21 * 8960 + 20 * 130048
