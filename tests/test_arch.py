"""The architecture model against transformers' own parameter counts and known cache shapes."""

import json

import pytest

from canserve import ConfigError, get_model, list_models, spec_from_config
from canserve.catalog.loader import data_path
from tests.conftest import GOLDEN

CATALOG = {m.file.removesuffix(".json"): m for m in list_models()}


def test_every_shipped_config_has_a_golden_count():
    assert set(CATALOG) == set(GOLDEN)
    assert len(CATALOG) == 87


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_params_equal_transformers(name):
    spec = CATALOG[name].spec
    gold = GOLDEN[name]
    assert spec.params_total == gold["params_total"]
    assert spec.params_active == gold["params_active"]
    assert spec.routed_expert_params == gold["routed_expert_params"]
    assert spec.tie_word_embeddings == gold["tied_embeddings"]
    assert spec.num_experts == (gold["num_experts"] or 0)
    lm_head = sum(t.numel for t in spec.tensors if t.role == "lm_head")
    assert lm_head == gold["lm_head_params"]
    embed = sum(t.numel for t in spec.tensors if t.role == "embed")
    assert embed == gold["embedding_params"]


def _kv_elements(model):
    return [
        (c.kind, c.kv_elements_per_token, c.window_tokens) for c in get_model(model).cache_layers
    ]


def test_llama_70b_gqa_cache():
    layers = _kv_elements("llama-3.1-70b")
    assert len(layers) == 80
    assert set(layers) == {("attention", 2 * 8 * 128, None)}  # 8 KV heads, not 64


def test_gemma2_alternates_sliding_and_global():
    layers = _kv_elements("gemma-2-9b")
    assert layers[0][2] == 4096 and layers[1][2] is None
    assert sum(1 for _, _, w in layers if w == 4096) == 21


def test_gemma3_five_local_one_global():
    windows = [w for _, _, w in _kv_elements("gemma-3-1b")]
    assert windows[:6] == [512] * 5 + [None]


def test_gpt_oss_128_token_windows():
    windows = [w for _, _, w in _kv_elements("gpt-oss-20b")]
    assert windows.count(128) == 12 and windows.count(None) == 12


def test_llama4_chunked_attention_every_fourth_layer_global():
    windows = [w for _, _, w in _kv_elements("llama-4-scout")]
    assert windows[3] is None and windows[:3] == [8192] * 3
    assert windows.count(None) == 12


def test_deepseek_v3_mla_latent():
    layers = _kv_elements("deepseek-v3")
    assert set(layers) == {("mla", 512 + 64, None)}


def test_gemma4_global_layers_use_global_heads():
    layers = _kv_elements("gemma-4-26b-a4b")
    assert layers[5] == ("attention", 2 * 2 * 512, None)
    assert layers[0] == ("attention", 2 * 8 * 256, 1024)


def test_qwen3_next_hybrid_state():
    spec = get_model("qwen3-next-80b-a3b")
    states = [c for c in spec.cache_layers if c.kind == "state"]
    assert len(states) == 36 and spec.attention_layers == 12
    conv = (2 * 16 * 128 + 32 * 128) * (4 - 1)
    recurrent = 32 * 128 * 128
    assert states[0].state_elements == conv + recurrent


def test_nemotron_h_only_attention_layers_cache_tokens():
    spec = get_model("nemotron-h-56b")
    assert spec.attention_layers == 10
    states = [c for c in spec.cache_layers if c.kind == "state"]
    assert len(states) == 54
    assert states[0].state_elements == (16384 + 2 * 8 * 256) * 3 + 256 * 64 * 256


def test_mistral_v01_style_sliding_window_applies_to_every_layer():
    raw = json.loads(data_path("models/mistralai__Mistral-7B-Instruct-v0.3.json").read_text())
    spec = spec_from_config({**raw, "sliding_window": 4096}, "mistral-v0.1-like")
    assert {c.window_tokens for c in spec.cache_layers} == {4096}


def test_qwen2_sliding_window_ignored_unless_enabled():
    assert {c.window_tokens for c in get_model("qwen2.5-7b").cache_layers} == {None}


def test_text_config_is_unwrapped_for_multimodal_configs():
    spec = get_model("llama-4-scout")
    assert spec.model_type == "llama4_text" and spec.hidden_size == 5120


def test_checkpoint_quantization_is_read():
    assert get_model("gpt-oss-20b").checkpoint_quantization == "mxfp4"
    assert get_model("deepseek-v3").checkpoint_quantization == "fp8-block"
    assert get_model("yi-34b-chat-awq").checkpoint_quantization == "awq"
    assert get_model("llama-3.1-8b").checkpoint_quantization is None


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({}, "no 'model_type'"),
        ({"model_type": "bert"}, "not a decoder LLM"),
        ({"model_type": "llama", "hidden_size": 4096}, "is missing"),
        (
            {
                "model_type": "llama",
                "vocab_size": 10,
                "hidden_size": -4,
                "num_attention_heads": 2,
                "num_hidden_layers": 1,
                "intermediate_size": 8,
            },
            "'hidden_size' must be at least 1",
        ),
        (
            {
                "model_type": "llama",
                "vocab_size": "many",
                "hidden_size": 4,
                "num_attention_heads": 2,
                "num_hidden_layers": 1,
                "intermediate_size": 8,
            },
            "'vocab_size' must be an integer",
        ),
        ({"model_type": "llama", "text_config": 3}, "'text_config' must be an object"),
    ],
)
def test_bad_configs_raise_config_error(raw, message):
    with pytest.raises(ConfigError, match=message):
        spec_from_config(raw, "test")
