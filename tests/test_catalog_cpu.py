"""The host CPU as a device: probed once, cached, and readable from a kept probe without probing."""

import json

import pytest

import canserve.catalog.cpu as cpu
from canserve.errors import InvalidInputError

PROBE = {"read_bytes_per_s": 2.0e10, "fp32_flops_per_s": 6.0e10, "cores": 2.0, "measured_on": "x"}


@pytest.fixture
def probes(monkeypatch):
    """Counts probes; each returns ``PROBE`` (no benchmark runs)."""
    calls = []
    monkeypatch.setattr(cpu, "probe_cpu", lambda: calls.append(1) or dict(PROBE))
    return calls


def test_probed_once_into_the_named_folder_then_read(tmp_path, probes):
    first = cpu.cpu_profile(cache_dir=tmp_path)
    again = cpu.cpu_profile(cache_dir=tmp_path)
    assert len(probes) == 1
    assert json.loads(cpu.cpu_profile_path(tmp_path).read_text()) == PROBE
    assert first.hbm_bytes_per_s == again.hbm_bytes_per_s == PROBE["read_bytes_per_s"]
    assert again.peak_flops["bf16"] == PROBE["fp32_flops_per_s"]


def test_a_corrupt_cache_is_probed_again(tmp_path, probes):
    cpu.cpu_profile_path(tmp_path).write_text('{"read_bytes_per_s": -1}')
    assert cpu.cpu_profile(cache_dir=tmp_path).hbm_bytes_per_s == PROBE["read_bytes_per_s"]
    assert len(probes) == 1


def test_a_kept_probe_is_read_and_never_replaced(tmp_path, probes):
    kept = tmp_path / "cpu_profile.json"
    kept.write_text(json.dumps({**PROBE, "read_bytes_per_s": 5.0e10}))
    assert cpu.read_cpu_profile(kept).hbm_bytes_per_s == 5.0e10
    kept.write_text("not json")
    with pytest.raises(InvalidInputError, match="not a CPU profile"):
        cpu.read_cpu_profile(kept)
    with pytest.raises(InvalidInputError):
        cpu.read_cpu_profile(tmp_path / "missing.json")
    assert probes == [] and kept.read_text() == "not json"
