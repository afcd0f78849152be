"""The simulator: queueing theory, saturation, scheduling policies, determinism, workloads."""

import itertools
import json
import random

import pytest

from canserve import InvalidInputError, Workload, get_model, serving_config
from canserve.sim import find_max_rate
from canserve.sim.metrics import parse_slos, percentiles
from canserve.sim.workload import open_loop_requests, parse_length, read_trace
from tests.helpers import perf, sim

LLAMA_8B = get_model("llama-3.1-8b")


def test_littles_law():
    r = sim(
        LLAMA_8B, "H100", users=50, think_s=2, prompt="512", output="256", requests=4000, seed=3
    )
    in_service = r.e2e_s["mean"] - r.queue_s["mean"]
    assert r.mean_batch == pytest.approx(r.throughput_requests_per_s * in_service, rel=0.03)


def test_md1_mean_wait():
    """One sequence at a time, fixed lengths, Poisson arrivals: an M/D/1 queue, whose mean wait
    is rho * D / (2 (1 - rho))."""
    kw = dict(prompt="256", output="64", max_num_seqs=1, seed=7)
    probe = sim(LLAMA_8B, "H100", rate=0.01, requests=50, **kw)
    service = probe.e2e_s["mean"] - probe.queue_s["mean"]
    rate = 0.6 / service
    r = sim(LLAMA_8B, "H100", rate=rate, requests=40_000, **kw)
    rho = rate * service
    expected = rho * service / (2 * (1 - rho))
    assert r.queue_s["mean"] == pytest.approx(expected, rel=0.07)


def test_throughput_saturates_at_the_batch_limited_capacity():
    seqs, prompt, output = 32, 128, 512
    r = sim(
        LLAMA_8B,
        "H100",
        rate=1000,
        prompt=str(prompt),
        output=str(output),
        max_num_seqs=seqs,
        requests=3000,
        seed=1,
    )
    step = perf(LLAMA_8B, "H100", batch=seqs, context=prompt + output // 2).decode_step_s
    capacity = seqs / step
    assert 0.8 * capacity < r.throughput_output_tokens_per_s <= 1.02 * capacity


def test_static_batching_is_worse_on_mixed_lengths():
    kw = dict(rate=4, prompt="uniform:50-1000", output="uniform:10-600", requests=1500, seed=5)
    continuous = sim(LLAMA_8B, "H100", **kw)
    static = sim(LLAMA_8B, "H100", static_batching=True, max_num_seqs=32, **kw)
    assert static.scheduler == "static"
    assert static.e2e_s["mean"] > 1.5 * continuous.e2e_s["mean"]
    assert static.ttft_s["p95"] > continuous.ttft_s["p95"]


def test_same_seed_same_result_different_seed_different_result():
    kw = dict(rate=10, prompt="lognormal:400,0.5", output="uniform:20-300", requests=800)
    a = sim(LLAMA_8B, "H100", seed=11, **kw).to_dict()
    b = sim(LLAMA_8B, "H100", seed=11, **kw).to_dict()
    c = sim(LLAMA_8B, "H100", seed=12, **kw).to_dict()
    assert json.dumps(a) == json.dumps(b)
    assert a["e2e_s"] != c["e2e_s"]


def test_kv_pressure_causes_preemptions():
    r = sim(LLAMA_8B, "L4", "awq", rate=50, prompt="2000", output="1000", requests=400, seed=2)
    assert r.preemptions > 0


def test_replicas_share_load():
    one = sim(LLAMA_8B, "H100", rate=40, prompt="512", output="256", requests=2000, seed=4)
    four = sim(
        LLAMA_8B, "H100", rate=40, prompt="512", output="256", requests=2000, seed=4, replicas=4
    )
    assert four.e2e_s["p99"] < one.e2e_s["p99"]
    rr = sim(
        LLAMA_8B,
        "H100",
        rate=40,
        prompt="512",
        output="256",
        requests=2000,
        seed=4,
        replicas=4,
        load_balancer="round-robin",
    )
    assert rr.requests == four.requests == 2000


def test_goodput_and_slo_report():
    r = sim(LLAMA_8B, "H100", rate=5, requests=500, seed=1, slo="ttft_p95=1s,tpot_p99=50ms")
    assert r.goodput == pytest.approx(1.0)
    assert [s.name for s in r.slo] == ["ttft_p95", "tpot_p99"] and all(s.met for s in r.slo)
    tight = sim(LLAMA_8B, "H100", rate=5, requests=500, seed=1, slo="tpot_p50=1ms")
    assert tight.goodput == 0.0 and not tight.slo[0].met


def test_impossible_slo():
    with pytest.raises(InvalidInputError, match="no rate meets"):
        find_max_rate(
            serving_config(LLAMA_8B, gpu="H100"), Workload(rate=1.0), "ttft_p50=1us", requests=100
        )


def test_azure_trace_format(tmp_path):
    trace = tmp_path / "azure.csv"
    trace.write_text(
        "TIMESTAMP,ContextTokens,GeneratedTokens\n"
        "2023-11-16 18:15:46.6805900,374,44\n"
        "2023-11-16 18:15:50.9951690,396,109\n"
        "2023-11-16 18:15:51.4435000,879,34\n"
    )
    rows = read_trace(trace)
    assert [r.prompt for r in rows] == [374, 396, 879]
    assert rows[0].arrival_s == 0 and rows[1].arrival_s == pytest.approx(4.314579, abs=1e-5)
    r = sim(LLAMA_8B, "H100", trace=trace)
    assert r.requests == 3


def test_jsonl_trace(tmp_path):
    trace = tmp_path / "t.jsonl"
    trace.write_text(
        '{"arrival_s": 0.5, "prompt": 100, "output": 20}\n'
        '{"arrival_s": 0.0, "prompt": 50, "output": 10}\n'
    )
    assert [r.prompt for r in read_trace(trace)] == [50, 100]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("TIMESTAMP,ContextTokens,GeneratedTokens\n", "no requests"),
        ("arrival_s,prompt\n0,10\n", "missing column"),
        ("arrival_s,prompt,output\n0,ten,5\n", "must be numbers"),
        ("arrival_s,prompt,output\n0,-4,5\n", "token counts"),
    ],
)
def test_bad_traces(tmp_path, content, message):
    trace = tmp_path / "bad.csv"
    trace.write_text(content)
    with pytest.raises(InvalidInputError, match=message):
        read_trace(trace)


def test_length_distributions():
    rng = random.Random(0)
    assert parse_length("300")(rng) == 300
    uniform = [parse_length("uniform:10-20")(rng) for _ in range(1000)]
    assert min(uniform) == 10 and max(uniform) == 20
    lognormal = [parse_length("lognormal:500,0.5")(rng) for _ in range(20_000)]
    assert sum(lognormal) / len(lognormal) == pytest.approx(500, rel=0.03)
    for bad in ("uniform:20-10", "lognormal:500", "gauss:3", "-5", "0"):
        with pytest.raises(InvalidInputError):
            parse_length(bad)


def test_bursty_arrivals_keep_the_rate_and_lengths():
    reqs = list(
        open_loop_requests(
            1, 10.0, 3.0, "uniform:10-20", "lognormal:500,0.5", 100_000, 50_000, None
        )
    )
    assert len(reqs) / reqs[-1].arrival_s == pytest.approx(10.0, rel=0.05)
    assert {r.prompt for r in reqs} == set(range(10, 21))
    assert sum(r.output for r in reqs) / len(reqs) == pytest.approx(500, rel=0.03)
    gaps = [b.arrival_s - a.arrival_s for a, b in itertools.pairwise(reqs)]
    mean = sum(gaps) / len(gaps)
    cv = (sum((g - mean) ** 2 for g in gaps) / len(gaps)) ** 0.5 / mean
    assert cv == pytest.approx(3.0, rel=0.1)


def test_percentiles():
    """Linear interpolation between order statistics (numpy's default); a histogram gives the
    same as its values repeated."""
    p = percentiles(list(range(1, 101)))
    assert (p["p50"], p["p90"], p["p99"], p["mean"]) == pytest.approx((50.5, 90.1, 99.01, 50.5))
    w = percentiles([1.0, 2.0], [9, 1])
    repeated = percentiles([1.0] * 9 + [2.0])
    assert w == pytest.approx(repeated)
    assert w["p50"] == 1.0 and w["p99"] == pytest.approx(1.91)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(), "exactly one"),
        (dict(rate=1, users=2), "exactly one"),
        (dict(rate=-1), "rate"),
        (dict(rate=1, replicas=0), "replicas"),
        (dict(rate=1, load_balancer="x"), "load balancer"),
        (dict(rate=1, slo="speed_p95=1s"), "bad SLO"),
        (dict(rate=1, slo="ttft_p95=soon"), "not a duration"),
        (dict(users=0), "users"),
    ],
)
def test_bad_input(kwargs, message):
    with pytest.raises(InvalidInputError, match=message):
        sim(LLAMA_8B, "H100", **kwargs)


def test_slo_parser():
    slos = parse_slos("ttft_p95=1s,tpot_p99=50ms,e2e_mean=10s")
    assert [(s.metric, s.stat, s.target_s) for s in slos] == [
        ("ttft_s", "p95", 1.0),
        ("tpot_s", "p99", 0.05),
        ("e2e_s", "mean", 10.0),
    ]


def test_worked_example_page_is_current():
    from tests.conftest import ROOT, load_script

    example = load_script("example_50_users")
    assert (ROOT / "docs/example-50-users.md").read_text() == example.render()
