"""The architecture model against transformers' own parameter counts and known cache shapes."""

import json
import sys
import time

import pytest

from canserve import ConfigError, get_model, list_models, spec_from_config
from canserve.arch import read_config_file
from canserve.catalog.loader import data_path
from tests.conftest import GOLDEN

CATALOG = {m.file.removesuffix(".json"): m for m in list_models()}


def test_every_shipped_config_has_a_golden_count():
    assert set(CATALOG) == set(GOLDEN)
    assert len(CATALOG) == 89


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


# ---------------------------------------------------------------- families new in 2026-12


def _raw(file):
    return json.loads(data_path(f"models/{file}.json").read_text())


def test_dsa_indexer_key_is_cached_beside_the_mla_latent():
    # DeepSeek-V3.2 / GLM-5: the lightning indexer's key (index_head_dim 128) per token and layer
    for name, layers in (("deepseek-v3.2", 61), ("glm-5", 78)):
        spec = get_model(name)
        assert {
            (c.kind, c.kv_elements_per_token, c.compressed_elements_per_entry, c.compress_ratio)
            for c in spec.cache_layers
        } == {("mla", 512 + 64, 128, 1)}
        assert len(spec.cache_layers) == layers


def test_deepseek_v4_layers_follow_compress_ratios():
    spec = get_model("deepseek-v4-flash")
    ratios = [c.compress_ratio if c.compressed_elements_per_entry else 0 for c in spec.cache_layers]
    assert ratios == _raw("deepseek-ai__DeepSeek-V4-Flash")["compress_ratios"][:43]
    csa = spec.cache_layers[2]  # 512-wide compressed entry + 128-wide indexer key per 4 tokens
    assert (csa.window_tokens, csa.kv_elements_per_token) == (128, 512)
    assert (csa.compressed_elements_per_entry, csa.compress_ratio) == (512 + 128, 4)
    # not-yet-compressed tokens: (4-1) x (kv + gate of two series) + the carried-over Ca slice,
    # for the compressor (512 wide) and the indexer (128 wide)
    assert csa.state_elements == 3 * 4 * 512 + 2 * 512 + 3 * 4 * 128 + 2 * 128
    hca = spec.cache_layers[3]
    assert (hca.compressed_elements_per_entry, hca.compress_ratio) == (512, 128)
    assert hca.state_elements == 127 * 2 * 512


def test_nemotron_3_moe_layers_and_latent_experts():
    nano = get_model("nemotron-3-nano")
    pattern = _raw("nvidia__NVIDIA-Nemotron-3-Nano-30B-A3B-BF16")["hybrid_override_pattern"]
    assert nano.attention_layers == pattern.count("*") == 6
    assert sum(c.kind == "state" for c in nano.cache_layers) == pattern.count("M") == 23
    assert not [t for t in nano.tensors if t.kind == "expert_gate"]  # squared-ReLU experts
    super_ = get_model("nemotron-3-super")
    up = next(t for t in super_.tensors if t.kind == "expert_up")
    assert up.shape == (2688, 1024) and up.copies == 512  # experts run in the 1024-wide latent
    assert sum(t.kind == "moe_latent" for t in super_.tensors) == 2 * 40


def test_nemotron_layers_block_type_reads_like_the_pattern():
    raw = _raw("nvidia__NVIDIA-Nemotron-3-Nano-30B-A3B-BF16")
    names = {"M": "mamba", "*": "attention", "-": "mlp", "E": "moe"}
    listed = {
        k: v for k, v in raw.items() if k not in ("hybrid_override_pattern", "num_hidden_layers")
    }
    listed["layers_block_type"] = [names[c] for c in raw["hybrid_override_pattern"]]
    spec = spec_from_config(listed, "listed")
    assert (
        spec.params_total == GOLDEN["nvidia__NVIDIA-Nemotron-3-Nano-30B-A3B-BF16"]["params_total"]
    )
    assert spec.num_hidden_layers == 52


def test_qwen3_5_hybrid_linear_attention():
    spec = get_model("qwen3.5-27b")
    assert spec.attention_layers == 16 and len(spec.cache_layers) == 64
    q = next(t for t in spec.tensors if t.kind == "attn_q")
    assert q.shape == (2 * 24 * 256, 5120)  # attn_output_gate: query rows carry the gate
    names = {t.name for t in spec.tensors if t.layer == 0 and t.kind == "ssm_in"}
    assert names == {f"linear_attn.in_proj_{p}" for p in ("qkv", "z", "b", "a")}


def test_vision_language_configs_size_their_text_model():
    spec = get_model("qwen3-vl-8b")
    assert spec.model_type == "qwen3_vl_text" and spec.hidden_size == 4096
    assert get_model("qwen3-vl-30b-a3b").model_type == "qwen3_vl_moe_text"


def test_unknown_model_type_is_sized_from_the_common_vocabulary_with_a_warning():
    raw = {**_raw("allenai__Olmo-3.1-32B-Instruct"), "model_type": "olmo_next_unreleased"}
    spec = spec_from_config(raw, "unknown")
    assert any("not a family canserve knows" in n and "exact_param_count" in n for n in spec.notes)
    gold = GOLDEN["allenai__Olmo-3.1-32B-Instruct"]["params_total"]
    assert 0 < gold - spec.params_total < gold * 1e-4  # only the q/k norms differ
    assert not get_model("olmo-3.1-32b").notes  # the known family is exact and says nothing


def test_exact_param_count_needs_transformers(monkeypatch):
    from canserve.arch import exact_param_count

    monkeypatch.setitem(sys.modules, "transformers", None)
    with pytest.raises(ConfigError, match=r"pip install 'canserve\[exact\]'"):
        exact_param_count(_raw("meta-llama__Meta-Llama-3.1-8B"))


def test_exact_param_count_equals_the_golden_count():
    pytest.importorskip("transformers")
    from canserve.arch import exact_param_count

    assert (
        exact_param_count(_raw("Qwen__Qwen3-VL-2B-Instruct"))
        == (GOLDEN["Qwen__Qwen3-VL-2B-Instruct"]["params_total"])
    )


# ---------------------------------------------------------------- config validation (issue 17)

_LLAMA = {
    "model_type": "llama",
    "vocab_size": 1000,
    "hidden_size": 64,
    "num_attention_heads": 8,
    "num_key_value_heads": 2,
    "num_hidden_layers": 2,
    "intermediate_size": 128,
}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"num_hidden_layers": 10**9},
            r"num_hidden_layers' is 1000000000, above the limit of 1,024",
        ),
        ({"vocab_size": 10**8}, "above the limit"),
        ({"hidden_size": 10**7}, "above the limit"),
        ({"num_attention_heads": 100}, "not divisible by 100 attention heads"),
        ({"num_attention_heads": 128}, "not divisible"),  # more heads than hidden size
        ({"num_key_value_heads": 16}, "cannot share 16 KV heads"),
        ({"num_key_value_heads": 3}, "cannot share 3 KV heads"),
        ({"num_hidden_layers": 10**5000}, "an integer of about 5000 digits"),
        ({"num_hidden_layers": "32"}, "must be an integer"),
        ({"num_hidden_layers": 32.0}, "must be an integer"),
        ({"num_hidden_layers": float("nan")}, "must be an integer"),
        ({"hidden_size": float("inf")}, "must be an integer"),
        ({"num_hidden_layers": True}, "must be an integer"),
        ({"intermediate_size": 0}, "must be at least 1"),
        ({"vocab_size": -5}, "must be at least 1"),
        ({"head_dim": 10**6}, "above the limit"),
        ({"max_position_embeddings": 10**12}, "above the limit"),
        ({"layer_types": ["full_attention"]}, "has 1 entries for 2 layers"),
        ({"layer_types": ["full_attention"] * 3}, "has 3 entries for 2 layers"),
        ({"layer_types": ["mystery", "full_attention"]}, "layer types canserve does not know"),
        ({"layer_types": [[[[]]]], "num_hidden_layers": 1}, "must be a list of strings"),
        ({"num_experts": 8, "num_experts_per_tok": 9}, "9 experts per token but only 8"),
        ({"num_experts": 10**6, "num_experts_per_tok": 2}, "above the limit of 16,384"),
        ({"tie_word_embeddings": "yes"}, "must be true or false"),
        ({"model_type": ["llama"]}, "'model_type' must be a short string"),
        ({"model_type": "t5"}, "not a decoder LLM"),
    ],
)
def test_bad_fields_give_one_line_config_errors(change, message):
    started = time.perf_counter()
    with pytest.raises(ConfigError, match=message) as info:
        spec_from_config({**_LLAMA, **change}, "bad")
    assert "\n" not in str(info.value) and len(str(info.value)) < 300
    assert time.perf_counter() - started < 0.5


def test_llama4_no_rope_layers_shorter_than_the_layers():
    raw = json.loads(
        data_path("models/meta-llama__Llama-4-Scout-17B-16E-Instruct.json").read_text()
    )
    text = {**raw["text_config"], "no_rope_layers": [1, 1, 1, 0]}
    with pytest.raises(ConfigError, match="no_rope_layers' has 4 entries for 48 layers"):
        spec_from_config({**raw, "text_config": text}, "scout")


def test_deeply_nested_values_are_refused_quickly():
    deep: list = []
    for _ in range(50_000):
        deep = [deep]
    with pytest.raises(ConfigError, match="must be an integer"):
        spec_from_config({**_LLAMA, "hidden_size": deep}, "deep")
    with pytest.raises(ConfigError, match="must be an object"):
        spec_from_config({**_LLAMA, "text_config": deep}, "deep")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"num_hidden_layers": ' + "9" * 5000 + "}", "not valid JSON"),
        ("[" * 50_000 + "]" * 50_000, "not valid JSON"),
        ("\xff\xfe not json", "not valid JSON"),
        ("[1, 2]", "must hold a JSON object"),
    ],
)
def test_bad_config_files(tmp_path, text, message):
    path = tmp_path / "config.json"
    path.write_bytes(text.encode("latin-1"))
    with pytest.raises(ConfigError, match=message):
        read_config_file(path)


def test_gemma3_hub_configs_take_gemma3_text_config_defaults():
    # Google's gemma-3-4b-it config.json names no heads, head_dim, vocab or context: the values
    # are transformers' Gemma3TextConfig defaults (8 heads, 4 KV heads, head_dim 256, ...).
    spec = get_model("gemma-3-4b")
    assert (spec.num_attention_heads, spec.num_key_value_heads, spec.head_dim) == (8, 4, 256)
    assert spec.vocab_size == 262208 and spec.max_position_embeddings == 131072
    windows = [w for _, _, w in _kv_elements("gemma-3-27b")]
    assert windows[:6] == [1024] * 5 + [None] and len(windows) == 62
