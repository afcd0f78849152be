"""The README's headline figures are the tool's output: read from the README text, recomputed
here, so the front page cannot drift from the code."""

import re

from canserve import estimate_memory, get_model, serving_config
from canserve.units import GB
from tests.conftest import ROOT

README = (ROOT / "README.md").read_text()


def _figure(pattern: str) -> float:
    match = re.search(pattern, README.replace("\n", " "))
    assert match, pattern
    return float(match.group(1).replace(",", ""))


def test_headline_case_figures():
    cfg = serving_config(get_model("llama-3.1-70b"), quant="awq", gpu="A100-80GB")
    est = estimate_memory(cfg, batch=50, context=8192)
    load = est.per_gpu["weights_bytes"] + est.per_gpu["overhead_bytes"]
    assert round(load / GB) == _figure(r"Loading takes (\d+) GB")
    assert round(est.weights_bytes / GB, 1) == _figure(r"\(([\d.]+) GB of AWQ weights")
    assert round(est.total_bytes / GB) == _figure(r"tokens needs (\d+) GB")
    assert round(est.kv_cache_bytes / GB) == _figure(r"mostly the (\d+) GB KV cache")
    assert est.kv_bytes_per_token == _figure(r"\(([\d,]+) bytes per token")
    assert est.kv_bytes_per_token == 80 * 8 * 128 * 2 * 2  # the README's own derivation
    assert est.max_concurrent_sequences == _figure(r"One A100-80GB holds (\d+) such sequences")
    assert not est.fits


def test_find_max_rate_example_figures():
    from canserve import Workload
    from canserve.sim.capacity import slo_capacity

    cfg = serving_config(get_model("llama-3.1-8b"), gpu="L40S")
    cap = slo_capacity(cfg, Workload(rate=1.0), "ttft_p95=500ms,tpot_p99=40ms")
    assert round(cap.value, 2) == _figure(r"tpot_p99=40ms` answers ([\d.]+) requests/s")
    assert cap.bracket[1] is not None
    assert round(cap.bracket[1], 2) == _figure(r"requests/s \(missed at ([\d.]+)\)")
