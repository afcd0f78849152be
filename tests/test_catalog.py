"""Catalog rows: every entry addressable, sourced and sane; lookups exact."""

import json
import math
from pathlib import Path

import pytest

from canserve import (
    UnknownGPUError,
    UnknownModelError,
    get_framework,
    get_gpu,
    get_model,
    get_quant,
    list_frameworks,
    list_gpus,
    list_models,
    list_quants,
    spec_from_config,
)
from canserve.catalog.loader import load_rows
from canserve.catalog.models import search_models

REQUIRED_GPUS = [
    "RTX-4060-TI-16GB",
    "RTX-4090",
    "RTX-5090",
    "L4",
    "A10G",
    "L40S",
    "A100-SXM-40GB",
    "A100-SXM-80GB",
    "A100-PCIE-40GB",
    "A100-PCIE-80GB",
    "H100-SXM-80GB",
    "H100-PCIE-80GB",
    "H100-NVL-94GB",
    "H200",
    "B200",
    "MI300X",
    "MI325X",
    # added 2026-12-02 (issue 14)
    "RTX-3090",
    "RTX-3090-TI",
    "RTX-A6000",
    "RTX-6000-ADA",
    "RTX-PRO-6000",
    "T4",
    "A10",
    "A40",
    "L40",
    "V100-SXM2-32GB",
    "B300",
    "GB200",
    "MI250X",
    "MI355X",
    "GAUDI-3",
    "M2-MAX",
    "M2-ULTRA",
    "M3-MAX",
    "M3-ULTRA",
    "M4-MAX",
]


@pytest.mark.parametrize("entry", list_models(), ids=lambda m: m.id)
def test_every_model_is_addressable_by_every_name(entry):
    for name in (entry.id, *entry.other_ids, *entry.aliases):
        assert get_model(name) is entry.spec
        assert get_model(name.upper()) is entry.spec
    assert entry.source and entry.source_date


def test_renamed_hub_ids_resolve():
    assert get_model("meta-llama/Llama-3.1-70B") is get_model("meta-llama/Meta-Llama-3.1-70B")


@pytest.mark.parametrize(
    "name", ["7b", "llama", "llama-3-70b", "Llama 3.1 70B", "meta-llama/Llama-3.1-70B-Instruct-v2"]
)
def test_no_fuzzy_model_match(name):
    with pytest.raises(UnknownModelError) as info:
        get_model(name)
    assert "unknown model" in str(info.value)


def test_unknown_model_lists_close_matches():
    with pytest.raises(UnknownModelError) as info:
        get_model("llama-3.1-7b")
    assert "llama-3.1-70b" in info.value.close_matches


def test_gpu_catalog_has_every_required_row():
    assert {g.id for g in list_gpus()} >= set(REQUIRED_GPUS)


@pytest.mark.parametrize("gpu", list_gpus(), ids=lambda g: g.id)
def test_gpu_rows_are_sourced_and_sane(gpu):
    assert gpu.source and gpu.source_date and gpu.memory_bytes_source
    most = 600 * 2**30 if gpu.unified_memory else 300 * 2**30  # Apple: up to 512 GB of RAM
    assert isinstance(gpu.memory_bytes, int) and 8 * 2**30 < gpu.memory_bytes < most
    assert gpu.memory_bytes <= (gpu.memory_total_bytes or gpu.memory_bytes)
    assert 1e11 < gpu.hbm_bytes_per_s < 1e13
    half = gpu.peak_flops.get("bf16") or gpu.peak_flops["fp16"]  # T4/V100: no bf16
    assert 1e12 < half < 2e16
    assert gpu.peak_flops.get("fp8", math.inf) >= half
    assert half >= gpu.peak_flops.get("fp32", 0)
    assert gpu.peak_flops.get("fp4", math.inf) >= gpu.peak_flops.get("fp8", half)
    assert 50 <= gpu.tdp_watts <= 1500
    for name in (gpu.id, *gpu.aliases):
        assert get_gpu(name.lower()) is gpu


@pytest.mark.parametrize(
    ("alias", "gpu_id"),
    [
        ("H100", "H100-SXM-80GB"),
        ("h100-sxm", "H100-SXM-80GB"),
        ("A100-80GB", "A100-SXM-80GB"),
        ("RTX-4090", "RTX-4090"),
        ("mi300x", "MI300X"),
        ("H200", "H200"),
        ("V100", "V100-SXM2-32GB"),
        ("gaudi3", "GAUDI-3"),
        ("rtx-pro-6000-blackwell", "RTX-PRO-6000"),
        ("Apple-M2-Ultra", "M2-ULTRA"),
    ],
)
def test_gpu_short_aliases(alias, gpu_id):
    assert get_gpu(alias).id == gpu_id


def test_h100_memory_is_the_measured_device_total():
    # calibration/h100-2026-11-26/h100_microbench.json total_memory_bytes
    assert get_gpu("H100").memory_bytes == 85_017_493_504


def test_gpus_without_bf16_list_only_fp16():
    for name in ("T4", "V100"):
        assert not get_gpu(name).supports("bf16") and get_gpu(name).supports("fp16")


def test_apple_gpus_size_against_the_default_wired_memory_cap():
    m2 = get_gpu("M2-ULTRA")
    assert m2.unified_memory and m2.memory_total_bytes == 192 * 2**30
    assert m2.memory_bytes == 144 * 2**30  # 75% of RAM, macOS's default above 36 GB


@pytest.mark.parametrize(
    ("change", "message"),
    [({"vendor": "acme"}, "vendor"), ({"interconnect": "carrier-pigeon"}, "interconnect")],
)
def test_gpu_rows_are_validated(change, message):
    from canserve.catalog.gpus import _from_row

    row = {**next(r for r in load_rows("gpus.toml", "gpu") if r["id"] == "L4"), **change}
    with pytest.raises(ValueError, match=message):
        _from_row(row)


def test_ampere_has_no_fp8_and_blackwell_has_fp4():
    assert not get_gpu("A100").supports("fp8")
    assert get_gpu("B200").supports("fp4")


def test_unknown_gpu_lists_close_matches():
    with pytest.raises(UnknownGPUError) as info:
        get_gpu("H10")
    assert info.value.close_matches


@pytest.mark.parametrize("fmt", list_quants(), ids=lambda q: q.id)
def test_quant_formats_are_sourced_and_addressable(fmt):
    assert fmt.source and fmt.source_date
    for name in (fmt.id, *fmt.aliases):
        assert get_quant(name) is fmt


@pytest.mark.parametrize("fw", list_frameworks(), ids=lambda f: f.id)
def test_framework_profiles(fw):
    assert fw.kv_allocation in {"paged", "static", "dynamic"}
    assert fw.kv_block_size_tokens >= 1
    assert 0 < fw.memory_fraction_default <= 1
    assert fw.cuda_context_bytes > 0
    assert get_framework(fw.id) is fw


def test_every_data_row_is_sourced():
    for file, table in [
        ("gpus.toml", "gpu"),
        ("models.toml", "model"),
        ("quant_formats.toml", "format"),
        ("frameworks.toml", "framework"),
    ]:
        for row in load_rows(file, table):
            assert row.get("source") or row.get("sources")
            assert row["source_date"]


FIXTURES = Path(__file__).parent / "fixtures" / "same_architecture"


def _sizing(spec):
    return (spec.tensors, spec.cache_layers, spec.max_position_embeddings, spec.torch_dtype)


@pytest.mark.parametrize(
    ("instruct_id", "fixture"),
    [
        ("meta-llama/Llama-3.1-8B-Instruct", "meta-llama__Llama-3.1-8B-Instruct.json"),
        ("meta-llama/Llama-3.1-70B-Instruct", "meta-llama__Llama-3.1-70B-Instruct.json"),
    ],
)
def test_instruct_ids_resolve_to_a_base_with_the_same_architecture(instruct_id, fixture):
    real = spec_from_config(json.loads((FIXTURES / fixture).read_text()), instruct_id)
    assert _sizing(get_model(instruct_id)) == _sizing(real)


def test_instruct_ids_that_differ_from_their_base_have_their_own_rows():
    base, instruct = get_model("qwen2.5-7b"), get_model("Qwen/Qwen2.5-7B-Instruct")
    assert instruct is not base
    assert (base.max_position_embeddings, instruct.max_position_embeddings) == (131072, 32768)


def test_unknown_model_suggests_config_and_hub():
    with pytest.raises(UnknownModelError, match=r"--config PATH.*--hub"):
        get_model("someone/their-own-model")


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("Llama 3.1 70B", "meta-llama/Meta-Llama-3.1-70B"),
        ("llama-3.1-70b", "meta-llama/Meta-Llama-3.1-70B"),
        ("LLAMA3.1 70b", "meta-llama/Meta-Llama-3.1-70B"),
        ("qwen3.5 397b", "Qwen/Qwen3.5-397B-A17B"),
        ("deepseek v3.2", "deepseek-ai/DeepSeek-V3.2"),
        ("gpt oss 20b", "openai/gpt-oss-20b"),
    ],
)
def test_search_finds_models_by_words(query, expected):
    assert expected in [m.id for m in search_models(query, limit=5)]


def test_search_ranks_the_exact_name_first_and_needs_every_word():
    assert search_models("llama-3.1-70b", 3)[0].id == "meta-llama/Meta-Llama-3.1-70B"
    assert all("8b" not in m.id.lower() for m in search_models("llama 3.1 70b", 20))
    assert search_models("llama 3.1 8b 70b", 5) == []
    assert search_models("", 5) == [] and search_models("llama", 0) == []
    assert len(search_models("qwen", 3)) == 3


def test_gpus_command_lists_gpus_without_bf16():
    from tests.conftest import run_cli

    result = run_cli("gpus", "t4")
    assert result.returncode == 0 and "T4" in result.stdout


def test_a_config_folder_with_a_modelopt_quant_file_sizes_as_shipped(tmp_path):
    from canserve import load_model
    from canserve.catalog.loader import data_path

    (tmp_path / "config.json").write_text(
        data_path("models/nvidia__Llama-3.1-70B-Instruct-FP8.json").read_text()
    )
    assert load_model(config=tmp_path).checkpoint_quantization is None  # config.json says nothing
    (tmp_path / "hf_quant_config.json").write_text(
        data_path("models/hf_quant/nvidia__Llama-3.1-70B-Instruct-FP8.json").read_text()
    )
    assert load_model(config=tmp_path).checkpoint_quantization == "fp8-tensor"
    assert load_model(config=tmp_path / "config.json").checkpoint_quantization == "fp8-tensor"
