"""perf prints no speed for a setup that cannot run: weights that do not fit, a batch x context
whose KV cache does not fit; the sweep marks such batch sizes; the CLI exits 2 when nothing fits."""

import json

import pytest

from canserve import InvalidInputError, get_model, serving_config
from canserve.perf import sweep_batch
from canserve.queries import PerfQuery
from canserve.services import run_perf
from tests.conftest import run_cli
from tests.helpers import perf

LLAMA_70B = get_model("llama-3.1-70b")


def test_weights_that_do_not_fit_say_so():
    est = perf(LLAMA_70B, "H100", "bf16", batch=1, context=1024)  # 141 GB on one 80 GB GPU
    assert not est.fits
    assert "weights need 141" in est.fits_reason
    data = est.to_dict()
    assert data["fits"] is False and data["fits_reason"] == est.fits_reason
    assert data["decode_tokens_per_s"] is None and data["tpot_s"] is None


def test_kv_cache_that_does_not_fit_says_how_many_do():
    est = perf(LLAMA_70B, "H100", "fp8", batch=64, context=8192)
    assert not est.fits
    assert "64 sequences x 8,192 tokens" in est.fits_reason
    assert "such sequences fit" in est.fits_reason
    assert perf(LLAMA_70B, "H100", "fp8", batch=1, context=8192).fits


def test_fitting_setups_carry_no_reason():
    est = perf(get_model("llama-3.1-8b"), "H100", batch=8, context=4096)
    assert est.fits and est.fits_reason is None
    assert est.to_dict()["decode_tokens_per_s"] == est.decode_tokens_per_s


def test_sweep_marks_each_batch_size():
    cfg = serving_config(LLAMA_70B, gpu="H100", quant="fp8")
    curve = sweep_batch(cfg, [1, 2, 64], context=8192)
    assert [e.fits for e in curve] == [True, True, False]


def test_service_refuses_when_nothing_fits():
    query = PerfQuery(model="llama-3.1-70b", gpu="H100", quant="bf16", batch=1)
    with pytest.raises(InvalidInputError, match="does not fit: the weights need"):
        run_perf(query)
    sweep = PerfQuery(model="llama-3.1-70b", gpu="H100", quant="bf16", sweep=[1, 8])
    with pytest.raises(InvalidInputError, match="does not fit"):
        run_perf(sweep)


def test_cli_exits_2_with_one_error_line_when_nothing_fits():
    proc = run_cli("perf", "llama-3.1-70b", "--gpu", "H100", "--batch", "1", "--json")
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: does not fit")


def test_cli_sweep_marks_batches_that_do_not_fit(tmp_path):
    args = ["perf", "llama-3.1-70b", "--gpu", "H100", "--quant", "fp8", "--context", "8192"]
    proc = run_cli(*args, "--sweep", "batch=1,64", "--json")
    assert proc.returncode == 0, proc.stderr
    points = json.loads(proc.stdout)
    assert [p["fits"] for p in points] == [True, False]
    assert points[1]["tpot_s"] is None and points[1]["fits_reason"]
    text = run_cli(*args, "--sweep", "batch=1,64").stdout
    assert "does not fit" in text
    svg = tmp_path / "curve.svg"
    plotted = run_cli(*args, "--sweep", "batch=1,2,64", "--plot", str(svg))
    assert plotted.returncode == 0, plotted.stderr
    assert "does not fit in GPU memory" in svg.read_text()


def test_every_estimate_says_where_its_kernel_costs_come_from():
    h100 = perf(get_model("llama-3.1-8b"), "H100", batch=1, context=1024)
    assert h100.calibration_basis.startswith("measured on this GPU")
    h200 = perf(get_model("llama-3.1-8b"), "H200", batch=1, context=1024)
    assert h200.calibration_basis.startswith("assumed")
    assert any("kernel costs on H200: assumed" in n for n in h200.notes)
