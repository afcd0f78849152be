"""Catalog rows: every entry addressable, sourced and sane; lookups exact."""

import math

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
)
from canserve.catalog.loader import load_rows

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
]


@pytest.mark.parametrize("entry", list_models(), ids=lambda m: m.id)
def test_every_model_is_addressable_by_every_name(entry):
    for name in (entry.id, *entry.other_ids, *entry.aliases):
        assert get_model(name) is entry.spec
        assert get_model(name.upper()) is entry.spec
    assert entry.source and entry.source_date


def test_renamed_hub_ids_resolve():
    assert get_model("meta-llama/Llama-3.1-70B") is get_model("meta-llama/Meta-Llama-3.1-70B")


@pytest.mark.parametrize("name", ["7b", "llama", "llama-3-70b", "Llama-3.1-70B-Instruct"])
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
    assert isinstance(gpu.memory_bytes, int) and 8 * 2**30 < gpu.memory_bytes < 300 * 2**30
    assert 1e11 < gpu.hbm_bytes_per_s < 1e13
    assert 1e13 < gpu.peak_flops["bf16"] < 1e16
    assert gpu.peak_flops.get("fp8", math.inf) >= gpu.peak_flops["bf16"]
    assert gpu.peak_flops["bf16"] >= gpu.peak_flops["fp32"]
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
    ],
)
def test_gpu_short_aliases(alias, gpu_id):
    assert get_gpu(alias).id == gpu_id


def test_h100_memory_is_the_measured_device_total():
    # calibration/h100-2026-11-26/h100_microbench.json total_memory_bytes
    assert get_gpu("H100").memory_bytes == 85_017_493_504


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
