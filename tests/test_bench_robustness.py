"""canserve bench against broken servers and canserve compare/calibrate against broken run
files (issue 17): every malformed chunk fails that request with a reason and never the run;
``--timeout-s`` is a deadline per request and ``--duration-s`` a wall-clock bound; bad URLs,
bad numbers and bad run files are one ``error:`` line with exit status 2, never a traceback."""

import json
import math
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from canserve.bench.client import CUT_OFF, BenchConfig, run_bench
from canserve.bench.summary import load_bench, save_bench, summarize
from canserve.stats import percentiles
from tests.conftest import run_cli

GOOD = {"choices": [{"text": " t", "index": 0}]}
# chunk sent after one good token -> the reason the request fails with
MALFORMED = {
    "usage_tokens_str": (
        '{"choices": [], "usage": {"completion_tokens": "abc"}}',
        "not an integer",
    ),
    "usage_str": ('{"choices": [], "usage": "lots"}', "usage is str"),
    "nan": ('{"choices": [{"text": NaN}]}', "NaN"),
    "choices_str": ('{"choices": "abc"}', "choices is str"),
    "choices_int": ('{"choices": [5]}', "a choice is int"),
    "delta_str": ('{"choices": [{"delta": "hello"}]}', "a delta is str"),
    "text_int": ('{"choices": [{"text": 7}]}', "text is int"),
    "negative": ('{"choices": [], "usage": {"completion_tokens": -5}}', "outside 0..3"),
    "huge": ('{"choices": [], "usage": {"completion_tokens": 1e300}}', "not an integer"),
    "too_many": ('{"choices": [], "usage": {"completion_tokens": 99999}}', "outside 0..3"),
    "huge_prompt": ('{"choices": [], "usage": {"prompt_tokens": 10000000000}}', "prompt_tokens"),
    "str_prompt": ('{"choices": [], "usage": {"prompt_tokens": "7"}}', "not an integer"),
    "not_json": ("{oops", "not JSON"),
    "list": ("[1, 2]", "a chunk is list"),
    "deep": ("[" * 100_000, "not JSON"),
}


class _Broken(BaseHTTPRequestHandler):
    mode = "ok"
    gap_s = 0.01

    def log_message(self, *args):
        pass

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        if self.mode == "silent":
            time.sleep(30)
            return
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.end_headers()
        try:
            self._chunk(json.dumps(GOOD))
            if self.mode in MALFORMED:
                self._chunk(MALFORMED[self.mode][0])
            for _ in range(body["max_tokens"] - 1):
                time.sleep(self.gap_s)
                self._chunk(json.dumps(GOOD))
            self.wfile.write(b"data: [DONE]\n\n")
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _chunk(self, text):
        self.wfile.write(f"data: {text}\n\n".encode())
        self.wfile.flush()


@pytest.fixture
def broken():
    servers = []

    def serve(mode, gap_s=0.01):
        handler = type("H", (_Broken,), {"mode": mode, "gap_s": gap_s})
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield serve
    for s in servers:
        s.shutdown()
        s.server_close()


@pytest.mark.parametrize("mode", sorted(MALFORMED))
def test_a_malformed_chunk_fails_its_request_with_the_reason(broken, mode):
    cfg = BenchConfig(
        url=broken(mode), model="m", concurrency=2, prompt="4", output="3", requests=4, timeout_s=10
    )
    records, complete = run_bench(cfg)
    summary = summarize(cfg, records, complete)
    assert complete and summary.requests == 4 and summary.errors == 4
    assert all(r.error and r.error.startswith("not an OpenAI stream") for r in records)
    assert MALFORMED[mode][1] in summary.error_samples[0]


def test_good_chunks_still_count(broken):
    cfg = BenchConfig(
        url=broken("ok"), model="m", concurrency=1, prompt="4", output="5", requests=2
    )
    summary = summarize(cfg, *run_bench(cfg))
    assert summary.succeeded == 2 and summary.mean_output_tokens == 5


def test_timeout_is_a_deadline_per_request(broken):
    """A server that streams one token per second never stalls a single read for 1.5 s, but a
    request of 20 tokens must still end at its 1.5 s deadline."""
    cfg = BenchConfig(
        url=broken("ok", gap_s=0.5),
        model="m",
        concurrency=1,
        prompt="4",
        output="20",
        requests=1,
        timeout_s=1.5,
    )
    t0 = time.monotonic()
    records, _ = run_bench(cfg)
    assert time.monotonic() - t0 < 5
    assert "1.5 s deadline" in (records[0].error or "")


def test_duration_is_a_wall_clock_bound(broken):
    """Against a silent server, ``duration_s=2`` ends the run after about 2 s (the timeout
    is 120 s); what was in flight is cut off and counted as incomplete, not as errors."""
    cfg = BenchConfig(
        url=broken("silent"),
        model="m",
        rate=5,
        prompt="4",
        output="4",
        requests=None,
        duration_s=2.0,
    )
    t0 = time.monotonic()
    records, complete = run_bench(cfg)
    assert time.monotonic() - t0 < 6
    summary = summarize(cfg, records, complete)
    assert summary.requests >= 1 and summary.incomplete == summary.requests
    assert summary.errors == 0 and all(r.error == CUT_OFF for r in records)


def _bench_cli(*args):
    return run_cli("bench", *args, timeout=60)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://[::1", "not a valid URL"),
        ("http://127.0.0.1:abc", "not a valid URL"),
        ("http://127.0.0.1:99999", "port must be between 1 and 65535"),
        ("http://", "names no host"),
        ("localhost:8000", "must start with http"),
    ],
)
def test_bad_urls_are_one_line(url, message):
    proc = _bench_cli(url, "--concurrency", "1", "--requests", "1")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("error: ") and message in proc.stderr
    assert proc.stderr.count("\n") == 1


@pytest.mark.parametrize(
    ("flag", "value"),
    [
        ("--timeout-s", "nan"),
        ("--timeout-s", "-1"),
        ("--timeout-s", "inf"),
        ("--timeout-s", "0"),
        ("--duration-s", "nan"),
        ("--rate", "inf"),
        ("--warmup", "-1"),
    ],
)
def test_bad_numbers_are_one_line(flag, value):
    base = ["http://127.0.0.1:9", "--requests", "1"]
    loop = [] if flag == "--rate" else ["--concurrency", "1"]
    proc = _bench_cli(*base, *loop, flag, value)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("error: ") and proc.stderr.count("\n") == 1


def test_percentiles_interpolate_linearly():
    p = percentiles([1.0, 2.0, 3.0, 4.0])
    assert p["p50"] == 2.5 and p["mean"] == 2.5
    assert p["p90"] == pytest.approx(3.7) and p["p99"] == pytest.approx(3.97)
    assert percentiles([5.0])["p95"] == 5.0
    assert all(math.isnan(v) for v in percentiles([]).values())


# --- run files ---------------------------------------------------------------------------------


def _good_run(tmp_path):
    cfg = BenchConfig(
        url="http://127.0.0.1:9", model="m", concurrency=1, prompt="8", output="4", requests=2
    )
    from canserve.bench.client import RequestRecord

    records = [
        RequestRecord(8, 4, 0.0, 0.1, 0.4, 4, [0.1, 0.2, 0.3, 0.4]),
        RequestRecord(8, 4, 0.4, 0.5, 0.8, 4, [0.5, 0.6, 0.7, 0.8]),
    ]
    path = tmp_path / "run.json"
    save_bench(path, cfg, summarize(cfg, records, True), records)
    return path


def test_a_saved_run_loads_and_recomputes_its_summary(tmp_path):
    path = _good_run(tmp_path)
    doc = json.loads(path.read_text())
    doc["summary"]["tpot_s"]["p50"] = 123.0  # a summary edited by hand is not trusted
    path.write_text(json.dumps(doc))
    _, summary, records = load_bench(path)
    assert summary.tpot_s.p50 == pytest.approx(0.1) and len(records) == 2


def _mutations():
    def drop(key):
        return lambda d: d.pop(key)

    def setter(where, key, value):
        def f(d):
            target = d
            for part in where:
                target = target[part]
            target[key] = value

        return f

    return {
        "no config": (drop("config"), "'config' is missing"),
        "no records": (drop("records"), "'records' is missing"),
        "records not a list": (setter((), "records", {"a": 1}), "'records' is missing"),
        "missing record key": (lambda d: d["records"][0].pop("start_s"), "missing key 'start_s'"),
        "extra record key": (setter(("records", 0), "colour", 1), "unknown key 'colour'"),
        "extra config key": (setter(("config",), "colour", 1), "unknown key 'colour'"),
        "string time": (setter(("records", 0), "end_s", "late"), "end_s must be float"),
        "bool tokens": (setter(("records", 0), "output_tokens", True), "must be int"),
        "negative tokens": (setter(("records", 0), "output_tokens", -3), "out of range"),
        "huge tokens": (setter(("records", 0), "prompt_tokens", 10**30), "token counts"),
        "times backwards": (setter(("records", 0), "first_token_s", 5.0), "times must run"),
        "token times": (setter(("records", 0), "token_times_s", ["a"]), "list[float]"),
        "bad rate": (setter(("config",), "rate", -1), "config"),
        "bad url": (setter(("config",), "url", "http://[::1"), "not a valid URL"),
        "bad slo": (setter(("config",), "slo", "ttft_p95=fast"), "config"),
        "null model": (setter(("config",), "model", None), "config.model is null"),
        "record not object": (setter(("records",), 0, 7), "records[0] is not an object"),
        "complete not bool": (setter(("summary",), "complete", "yes"), "summary.complete"),
    }


@pytest.mark.parametrize("name", sorted(_mutations()))
def test_a_broken_run_file_is_one_line(tmp_path, name):
    mutate, message = _mutations()[name]
    path = _good_run(tmp_path)
    doc = json.loads(path.read_text())
    mutate(doc)
    path.write_text(json.dumps(doc))
    with pytest.raises(Exception) as err:
        load_bench(path)
    assert type(err.value).__name__ == "InvalidInputError" and message in str(err.value)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'{"format": "canserve-bench/1", "config": {"rate": NaN}}', "NaN is not JSON"),
        (b'{"format": "canserve-bench/1", "x": 1e999}', "canserve bench file"),
        (b"\xff\xfe\x00garbage", "not UTF-8"),
        (b"[" * 200_000, "cannot read bench file"),
        (b"", "cannot read bench file"),
    ],
)
def test_unreadable_run_files_through_the_cli(tmp_path, content, message):
    path = tmp_path / "run.json"
    path.write_bytes(content)
    for command in ("compare", "calibrate"):
        proc = (
            run_cli(command, str(path), "--model", "qwen3-0.6b", "--out", str(tmp_path / "c.toml"))
            if command == "calibrate"
            else run_cli(command, str(path), "--model", "qwen3-0.6b")
        )
        assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
        assert proc.stderr.startswith("error: ") and message in proc.stderr


# --- bench --sweep -----------------------------------------------------------------------------


def test_sweep_rates_rise_evenly_to_saturation():
    from canserve.bench.sweep import sweep_rates

    assert sweep_rates(2.0, 10.0, 5) == pytest.approx([2.0, 4.0, 6.0, 8.0, 10.0])
    assert sweep_rates(9.0, 10.0, 4)[0] == pytest.approx(2.5)  # never above saturation / n
    assert sweep_rates(1.0, 4.0, 1) == [4.0]


def test_sweep_against_a_server_reports_its_slo_capacity(broken, tmp_path):
    """The fake server streams 4 tokens 10 ms apart with no queue (a thread per request): every
    rate meets a generous TTFT target, none meets an impossible one."""
    url = broken("ok")
    base = [
        "--served-model",
        "m",
        "--prompt",
        "4",
        "--output",
        "4",
        "--requests",
        "6",
        "--sweep",
        "--sweep-points",
        "2",
        "--concurrency",
        "3",
        "--json",
    ]
    easy = json.loads(
        run_cli(
            "bench", url, *base, "--slo", "ttft_p95=5s", "--save", str(tmp_path / "s.json")
        ).stdout
    )
    kinds = [p["kind"] for p in easy["points"]]
    assert kinds == ["synchronous", "throughput", "rate", "rate"]
    assert easy["points"][1]["concurrency"] == 3
    rates = [p["rate"] for p in easy["points"][2:]]
    assert rates[-1] == pytest.approx(easy["saturation_throughput_requests_per_s"])
    assert easy["slo_capacity_requests_per_s"] == pytest.approx(rates[-1])
    assert easy["first_missing_rate_requests_per_s"] is None
    assert len(easy["saved"]) == 4 and all(load_bench(p)[1].succeeded == 6 for p in easy["saved"])
    hard = json.loads(run_cli("bench", url, *base, "--slo", "ttft_p95=0.1ms").stdout)
    assert hard["slo_capacity_requests_per_s"] is None
    assert hard["first_missing_rate_requests_per_s"] == pytest.approx(hard["points"][2]["rate"])


def test_sweep_refuses_a_rate():
    proc = run_cli("bench", "http://127.0.0.1:9", "--sweep", "--rate", "3")
    assert proc.returncode == 2 and "drop --rate" in proc.stderr


# --- fuzz: any chunk, any run file ---------------------------------------------------------------


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
_chunk = st.fixed_dictionaries(
    {},
    optional={
        "choices": _json
        | st.lists(
            st.fixed_dictionaries(
                {},
                optional={
                    "text": _json,
                    "delta": _json | st.fixed_dictionaries({}, optional={"content": _json}),
                },
            ),
            max_size=2,
        ),
        "usage": _json
        | st.fixed_dictionaries({}, optional={"completion_tokens": _json, "prompt_tokens": _json}),
    },
)


@settings(max_examples=300, deadline=None)
@given(chunk=_chunk | _json, raw=st.text(max_size=30))
def test_any_chunk_parses_or_is_a_bad_stream(chunk, raw):
    from canserve.bench.client import _BadStream, parse_chunk

    for text in (json.dumps(chunk), raw):
        try:
            parsed, (prompt, completion) = parse_chunk(text, 16)
        except _BadStream:
            continue
        assert isinstance(parsed, str)
        assert completion is None or 0 <= completion <= 16
        assert prompt is None or prompt >= 0


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    path=st.lists(
        st.sampled_from(
            [
                "config",
                "records",
                "summary",
                0,
                1,
                "start_s",
                "end_s",
                "token_times_s",
                "output_tokens",
                "rate",
                "url",
                "slo",
            ]
        ),
        min_size=1,
        max_size=3,
    ),
    value=_json,
)
def test_any_mutated_run_file_loads_or_is_one_line(tmp_path, path, value):
    from canserve.errors import InvalidInputError

    run = _good_run(tmp_path)
    doc = json.loads(run.read_text())
    target = doc
    for key in path[:-1]:
        try:
            target = target[key]
        except (KeyError, IndexError, TypeError):
            return
    try:
        target[path[-1]] = value
    except (IndexError, TypeError):
        return
    run.write_text(json.dumps(doc))
    try:
        _, summary, records = load_bench(run)
    except InvalidInputError as exc:
        assert "\n" not in str(exc)
        return
    assert summary.requests == len(records)
    json.dumps(summary.to_dict(), allow_nan=True)
