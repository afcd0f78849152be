"""canserve bench against small local HTTP servers: a streaming fake for the metric arithmetic,
and misbehaving ones for the error paths (the real end-to-end run is tests/test_bench_e2e.py)."""

import json
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from canserve import get_model, jsonable, serving_config
from canserve.bench.client import BenchConfig, RequestRecord, run_bench
from canserve.bench.compare import CompareRow, compare
from canserve.bench.summary import load_bench, save_bench, summarize
from canserve.stats import QUANTILES, Percentiles, percentiles

TOKEN_GAP_S = 0.01


class _Streamer(BaseHTTPRequestHandler):
    mode = "ok"

    def log_message(self, *args):  # quiet
        pass

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        if self.mode == "html":
            self._send(200, b"<html>hello</html>", "text/html")
            return
        if self.mode == "error":
            self._send(500, b'{"error": "boom"}', "application/json")
            return
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.end_headers()
        for i in range(body["max_tokens"]):
            time.sleep(TOKEN_GAP_S)
            chunk = {"choices": [{"text": f" t{i}", "index": 0}]}
            self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
            self.wfile.flush()
        self.wfile.write(b"data: [DONE]\n\n")

    def _send(self, code, payload, ctype):
        self.send_response(code)
        self.send_header("content-type", ctype)
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


def _serve(mode):
    handler = type("H", (_Streamer,), {"mode": mode})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def test_metrics_from_a_stream():
    server, url = _serve("ok")
    try:
        cfg = BenchConfig(url=url, model="m", concurrency=2, prompt="16", output="10", requests=6)
        records, complete = run_bench(cfg)
    finally:
        server.shutdown()
    summary = summarize(cfg, records, complete)
    assert complete and summary.succeeded == 6 and summary.errors == 0
    assert summary.mean_output_tokens == 10
    assert summary.tpot_s.p50 == pytest.approx(TOKEN_GAP_S, rel=0.5)
    assert summary.itl_s.p50 == pytest.approx(TOKEN_GAP_S, rel=0.5)
    assert summary.e2e_s.p50 >= 10 * TOKEN_GAP_S
    assert summary.ttft_s.p50 < summary.e2e_s.p50


def test_save_and_load_round_trip(tmp_path):
    server, url = _serve("ok")
    try:
        cfg = BenchConfig(url=url, model="m", rate=50, prompt="8", output="4", requests=5)
        records, complete = run_bench(cfg)
    finally:
        server.shutdown()
    summary = summarize(cfg, records, complete)
    path = tmp_path / "run.json"
    save_bench(path, cfg, summary, records)
    cfg2, summary2, records2 = load_bench(path)
    assert cfg2 == cfg and summary2 == summary and len(records2) == 5
    assert json.loads(path.read_text())["summary"] == summary.to_dict()


# The keys of a summary's JSON (`canserve bench --json`, the `summary` of a canserve-bench/1 run
# file), in their order: a public interface, so a renamed or reordered field fails here.
SUMMARY_KEYS = [
    "url",
    "model",
    "complete",
    "requests",
    "succeeded",
    "errors",
    "incomplete",
    "error_samples",
    "duration_s",
    "ttft_s",
    "tpot_s",
    "itl_s",
    "e2e_s",
    "throughput_requests_per_s",
    "throughput_output_tokens_per_s",
    "mean_prompt_tokens",
    "mean_output_tokens",
    "goodput",
    "slo",
]
PERCENTILE_KEYS = ["p50", "p90", "p95", "p99", "mean"]
SLO_KEYS = ["name", "target_s", "value_s", "met"]
# Saved by canserve before the summary was a dataclass (commit fd7e3f1): an SLO on every metric
# a bench measures, an error, a request cut off, a one-token output.
RUN_V1 = Path(__file__).parent / "fixtures" / "bench-run-v1.json"


def test_percentiles_has_one_field_per_statistic():
    values = [0.3, 0.1, 0.2, 0.7]
    assert list(Percentiles.of(values).to_dict()) == [*QUANTILES, "mean"] == PERCENTILE_KEYS
    assert Percentiles.of(values).to_dict() == percentiles(values)
    assert Percentiles.of(values).stat("p95") == percentiles(values)["p95"]


@pytest.mark.parametrize("slo", [None, "ttft_p95=1s,itl_p50=1ms"])
def test_summary_keys_are_the_documented_ones(slo):
    cfg = BenchConfig(url="http://x", model="m", concurrency=1, slo=slo)
    records = [RequestRecord(8, 4, 0.0, 0.1, 0.4, 4, [0.1, 0.2, 0.3, 0.4])]
    doc = summarize(cfg, records, True).to_dict()
    assert list(doc) == SUMMARY_KEYS
    for key in ("ttft_s", "tpot_s", "itl_s", "e2e_s"):
        assert list(doc[key]) == PERCENTILE_KEYS
    assert [list(row) for row in doc["slo"]] == ([SLO_KEYS] * 2 if slo else [])
    empty = summarize(cfg, [], True).to_dict()  # no request: NaN percentiles, null in JSON
    assert (
        list(empty) == SUMMARY_KEYS and json.loads(jsonable.dumps(empty))["ttft_s"]["p50"] is None
    )


def test_a_run_saved_before_loads_to_the_same_summary(tmp_path):
    doc = json.loads(RUN_V1.read_text())
    cfg, summary, records = load_bench(RUN_V1)
    assert json.loads(jsonable.dumps(summary.to_dict())) == doc["summary"]
    assert list(summary.to_dict()) == list(doc["summary"]) == SUMMARY_KEYS
    assert not summary.complete and summary.goodput == 0.25
    assert [(r.name, r.met) for r in summary.slo] == [
        ("ttft_p95", False),
        ("tpot_p50", False),
        ("itl_p99", True),
        ("e2e_mean", True),
    ]
    # saved again, it is the same file
    again = tmp_path / "again.json"
    save_bench(again, cfg, summary, records)
    assert json.loads(again.read_text()) == doc


def test_comparison_keys_are_the_documented_ones():
    """`canserve compare --json`: its keys, and one row per metric in this order."""
    cfg, summary, records = load_bench(RUN_V1)
    result = compare(cfg, summary, serving_config(get_model("qwen3-0.6b"), gpu="H100"), records)
    doc = json.loads(jsonable.dumps(result.to_dict()))
    assert list(doc) == ["model", "gpu", "framework", "rows", "median_abs_error", "calibration"]
    assert [list(r) for r in doc["rows"]] == [["metric", "measured", "predicted", "error"]] * 8
    assert [r["metric"] for r in doc["rows"]] == [
        "ttft p50",
        "ttft p95",
        "tpot p50",
        "tpot p95",
        "e2e p50",
        "e2e p95",
        "output tokens/s",
        "decode tok/s per sequence",
    ]
    assert doc["rows"][0]["measured"] == summary.ttft_s.p50
    assert result.rows[0] == CompareRow(**doc["rows"][0])


@pytest.mark.parametrize(("mode", "message"), [("html", "not an OpenAI"), ("error", "HTTP 500")])
def test_misbehaving_servers_are_reported(mode, message):
    server, url = _serve(mode)
    try:
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "canserve",
                "bench",
                url,
                "--served-model",
                "m",
                "--concurrency",
                "1",
                "--requests",
                "2",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        server.shutdown()
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert message in proc.stderr + proc.stdout


def test_refused_connection():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "canserve",
            "bench",
            f"http://127.0.0.1:{port}",
            "--served-model",
            "m",
            "--concurrency",
            "1",
            "--requests",
            "2",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2 and "cannot connect" in proc.stderr
    assert proc.stderr.count("\n") == 1


@pytest.mark.parametrize(
    "args",
    [
        ("ftp://x", "--served-model", "m", "--rate", "1"),
        ("http://127.0.0.1:9", "--served-model", "m"),
        ("http://127.0.0.1:9", "--served-model", "m", "--rate", "1", "--concurrency", "2"),
        ("http://127.0.0.1:9", "--served-model", "m", "--rate", "-1"),
        ("http://127.0.0.1:9", "--served-model", "m", "--rate", "1", "--prompt", "lots"),
        # a client cannot see the server's queue (was a KeyError traceback after the run)
        ("http://127.0.0.1:9", "--served-model", "m", "--rate", "1", "--slo", "queue_p95=1s"),
    ],
)
def test_bad_bench_input(args):
    proc = subprocess.run(
        [sys.executable, "-m", "canserve", "bench", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2 and proc.stderr.startswith("error: ")


def test_bad_bench_file(tmp_path):
    bad = tmp_path / "x.json"
    bad.write_text("{}")
    proc = subprocess.run(
        [sys.executable, "-m", "canserve", "compare", str(bad), "--model", "qwen3-0.6b"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2 and "not a canserve bench file" in proc.stderr


def test_compare_runs_a_bench_against_a_url():
    server, url = _serve("ok")
    try:
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "canserve",
                "compare",
                url,
                "--model",
                "qwen3-0.6b",
                "--gpu",
                "cpu",
                "--framework",
                "llama.cpp",
                "--requests",
                "3",
                "--prompt",
                "8",
                "--output",
                "5",
                "--json",
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        server.shutdown()
    assert proc.returncode == 0, proc.stderr
    rows = {r["metric"]: r for r in json.loads(proc.stdout)["rows"]}
    assert rows["tpot p50"]["measured"] == pytest.approx(TOKEN_GAP_S, rel=0.5)
