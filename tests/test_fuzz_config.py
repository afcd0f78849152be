"""Fuzzing the readers: mutated real config.json files and damaged GGUF files give a
CanserveError or a sane spec, never a traceback, a hang or an absurd answer.

Deterministic (``derandomize``) and small enough to run in a few seconds in CI.
"""

import json
import math
import os
import tempfile
from pathlib import Path

import gguf
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from canserve import CanserveError, get_quant, kv_layout, spec_from_config, weights_breakdown
from canserve.catalog.gguf_file import read_gguf
from canserve.catalog.loader import data_path

SEEDS = [
    "meta-llama__Meta-Llama-3.1-8B",
    "deepseek-ai__DeepSeek-V3.2",
    "deepseek-ai__DeepSeek-V4-Flash",
    "Qwen__Qwen3.5-35B-A3B",
    "nvidia__NVIDIA-Nemotron-3-Nano-30B-A3B-BF16",
    "openai__gpt-oss-20b",
    "google__gemma-3-1b-it",
    "meta-llama__Llama-4-Scout-17B-16E-Instruct",
]
CONFIGS = {name: json.loads(data_path(f"models/{name}.json").read_text()) for name in SEEDS}
FUZZ = settings(
    max_examples=150,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _deep(depth: int) -> list:
    value: list = []
    for _ in range(depth):
        value = [value]
    return value


WEIRD = st.sampled_from(
    [
        None,
        0,
        -1,
        1,
        2,
        3,
        7,
        10**9,
        10**30,
        10**5000,
        1.5,
        float("nan"),
        float("inf"),
        -float("inf"),
        True,
        False,
        "",
        "64",
        "x" * 10_000,
        [],
        [1, 2, 3],
        ["full_attention"] * 5,
        {},
        {"model_type": "llama"},
        _deep(50_000),
    ]
)


def _mutate(data, raw: dict) -> dict:
    """A copy of ``raw`` (or of its text_config) with a few keys dropped or given odd values,
    or a list made shorter or longer."""
    config = json.loads(json.dumps(raw))
    target = config.get("text_config", config)
    keys = sorted(target)
    for _ in range(data.draw(st.integers(1, 3))):
        key = data.draw(st.sampled_from(keys))
        action = data.draw(st.sampled_from(["drop", "set", "resize"]))
        if action == "drop":
            target.pop(key, None)
        elif action == "set":
            target[key] = data.draw(WEIRD)
        elif isinstance(target.get(key), list):
            items = target[key]
            target[key] = items[: data.draw(st.integers(0, len(items)))] + items[:2]
    return config


def _assert_sane(spec) -> None:
    assert spec.num_hidden_layers >= 1 and spec.hidden_size >= 1 and spec.vocab_size >= 1
    assert 0 < spec.params_active <= spec.params_total
    assert spec.num_attention_heads >= spec.num_key_value_heads >= 1
    assert all(t.numel > 0 for t in spec.tensors)
    bf16 = weights_breakdown(spec, get_quant("bf16")).total_bytes
    assert bf16 == 2 * spec.params_total
    layout = kv_layout(spec)
    per_token = layout.elements_per_token_at(0)
    assert math.isfinite(per_token) and per_token >= 0 and layout.state_elements >= 0
    assert per_token > 0 or layout.state_elements > 0
    assert layout.elements_per_sequence(4096) >= layout.elements_per_sequence(1024) >= 0


@FUZZ
@given(data=st.data(), seed=st.sampled_from(SEEDS))
def test_mutated_configs_give_config_errors_or_sane_specs(data, seed):
    config = _mutate(data, CONFIGS[seed])
    try:
        spec = spec_from_config(config, seed)
    except CanserveError as exc:
        assert "\n" not in str(exc) and len(str(exc)) < 1000
        return
    _assert_sane(spec)


@pytest.mark.parametrize("seed", SEEDS)
def test_unmutated_seed_configs_are_sane(seed):
    _assert_sane(spec_from_config(CONFIGS[seed], seed))


# ---------------------------------------------------------------- GGUF files


def _tiny_gguf() -> bytes:
    path = Path(tempfile.mkdtemp()) / "tiny.gguf"
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name("tiny")
    writer.add_block_count(2)
    writer.add_embedding_length(64)
    writer.add_feed_forward_length(128)
    writer.add_head_count(8)
    writer.add_head_count_kv(2)
    writer.add_context_length(256)
    writer.add_vocab_size(100)
    writer.add_tensor("token_embd.weight", np.zeros((100, 64), dtype=np.float16))
    writer.add_tensor("blk.0.attn_q.weight", np.zeros((64, 64), dtype=np.float16))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    data = path.read_bytes()
    path.unlink()
    return data


TINY = _tiny_gguf()


def _read(data: bytes) -> None:
    fd, name = tempfile.mkstemp(suffix=".gguf")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        read_gguf(name)
    except CanserveError as exc:
        assert "\n" not in str(exc)
    finally:
        os.unlink(name)


def test_tiny_gguf_reads():
    fd, name = tempfile.mkstemp(suffix=".gguf")
    with os.fdopen(fd, "wb") as fh:
        fh.write(TINY)
    try:
        spec = read_gguf(name)
    finally:
        os.unlink(name)
    assert spec.model_id == "tiny" and dict(spec.file_bytes_by_role) == {
        "embed": 100 * 64 * 2,
        "linear": 64 * 64 * 2,
    }


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"GGUF",
        b"GGUF" + (3).to_bytes(4, "little") + (2**63).to_bytes(8, "little") + bytes(8),
        b"GGUF" + (3).to_bytes(4, "little") + bytes(8) + (2**40).to_bytes(8, "little"),
        b"GGUF" + (99).to_bytes(4, "little") + bytes(16),
        TINY[: len(TINY) // 2],
        TINY[:40],
    ],
    ids=["empty", "magic-only", "huge-tensor-count", "huge-kv-count", "version", "half", "header"],
)
def test_damaged_gguf_files_give_config_errors(data):
    with pytest.raises(CanserveError):
        fd, name = tempfile.mkstemp(suffix=".gguf")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            read_gguf(name)
        finally:
            os.unlink(name)


@settings(max_examples=60, derandomize=True, deadline=None)
@given(st.binary(max_size=512))
def test_random_bytes_never_escape(data):
    _read(data)


@settings(max_examples=100, derandomize=True, deadline=None)
@given(
    flips=st.lists(st.tuples(st.integers(0, len(TINY) - 1), st.integers(0, 7)), max_size=4),
    cut=st.integers(0, len(TINY)),
)
def test_bit_flipped_or_truncated_gguf_never_escapes(flips, cut):
    data = bytearray(TINY[:cut] if cut < len(TINY) // 4 else TINY)
    for at, bit in flips:
        if at < len(data):
            data[at] ^= 1 << bit
    _read(bytes(data))
