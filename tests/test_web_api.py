"""The HTTP API: every endpoint, equal to the CLI's --json, and 4xx (never 500) on bad input."""

import json

import pytest
from fastapi.testclient import TestClient

from canserve.web.app import MAX_BODY_BYTES, create_app
from tests.conftest import ROOT, run_cli

client = TestClient(create_app())


def cli_json(*args: str):
    out = run_cli(*args, "--json")
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_health():
    r = client.get("/api/health")
    assert r.status_code == 200 and r.json()["status"] == "ok"


def test_catalog_endpoints_equal_cli():
    assert client.get("/api/models").json() == cli_json("models")
    assert client.get("/api/gpus").json() == cli_json("gpus")
    assert [m["id"] for m in client.get("/api/models", params={"q": "qwen3"}).json()] == [
        m["id"] for m in cli_json("models", "qwen3")
    ]


def test_memory_equals_cli():
    body = dict(model="llama-3.1-70b", quant="awq", gpu="A100-80GB", batch=50, context=8192)
    r = client.post("/api/memory", json=body)
    assert r.status_code == 200
    assert r.json() == cli_json(
        "memory",
        "llama-3.1-70b",
        "--quant",
        "awq",
        "--gpu",
        "A100-80GB",
        "--batch",
        "50",
        "--context",
        "8192",
    )


def test_perf_equals_cli_and_sweeps():
    body = dict(model="llama-3.1-8b", gpu="H100", batch=16, context=4096)
    assert client.post("/api/perf", json=body).json() == cli_json(
        "perf", "llama-3.1-8b", "--gpu", "H100", "--batch", "16", "--context", "4096"
    )
    curve = client.post("/api/perf", json={**body, "sweep": [1, 8, 64]}).json()
    assert [e["batch"] for e in curve] == [1, 8, 64]


def test_simulate_equals_cli():
    body = dict(model="llama-3.1-8b", gpu="H100", rate=5, requests=200, seed=3)
    assert client.post("/api/simulate", json=body).json() == cli_json(
        "simulate",
        "llama-3.1-8b",
        "--gpu",
        "H100",
        "--rate",
        "5",
        "--requests",
        "200",
        "--seed",
        "3",
    )


def test_plan_equals_cli():
    body = dict(
        model="llama-3.1-8b", rate=2, prompt=200, output=300, slo="e2e_p95=10s", gpu="H100,L40S"
    )
    assert client.post("/api/plan", json=body).json() == cli_json(
        "plan",
        "llama-3.1-8b",
        "--rate",
        "2",
        "--prompt",
        "200",
        "--output",
        "300",
        "--slo",
        "e2e_p95=10s",
        "--gpu",
        "H100,L40S",
    )


def test_cost_equals_cli():
    body = dict(model="llama-3.1-8b", gpu="H100", tokens_per_day=5_000_000)
    assert client.post("/api/cost", json=body).json() == cli_json(
        "cost", "llama-3.1-8b", "--gpu", "H100", "--tokens-per-day", "5000000"
    )
    assert client.post("/api/cost", json=dict(usd_per_hour=2)).status_code == 200


def test_uploaded_config_works_like_config_flag():
    config = json.loads(
        (ROOT / "src/canserve/catalog/data/models/Qwen__Qwen3-0.6B.json").read_text()
    )
    r = client.post("/api/memory", json=dict(config=config, gpu="L4", batch=4))
    assert r.status_code == 200 and r.json()["params_total"] == 596_049_920


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/memory", dict(model="llama-3.1-8b", batch=-1), "batch"),
        ("/api/memory", dict(model="llama-3.1-8b", batch="many"), "batch"),
        ("/api/memory", dict(model="llama-3.1-8b", headroom=2), "headroom"),
        ("/api/simulate", dict(model="llama-3.1-8b", gpu="H100", rate=-3), "rate"),
        ("/api/plan", dict(model="llama-3.1-8b", users=0), "users"),
        ("/api/cost", dict(tokens_per_day=-5, usd_per_hour=1), "tokens_per_day"),
        ("/api/memory", dict(model="llama-3.1-8b", bogus=1), "bogus"),
    ],
)
def test_validation_errors_name_the_field(path, body, field):
    r = client.post(path, json=body)
    assert r.status_code == 422
    assert field in json.dumps(r.json()["detail"])


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        ("/api/memory", dict(model="no-such-model"), "unknown model"),
        ("/api/memory", dict(model="llama-3.1-8b", gpu="H1000"), "unknown GPU"),
        ("/api/memory", dict(model="llama-3.1-8b", context=200_000), "maximum"),
        ("/api/perf", dict(model="llama-3.1-8b"), "needs a GPU"),
        ("/api/memory", dict(config={"model_type": "bert"}), "not a decoder LLM"),
        ("/api/memory", dict(), "give a model"),
        ("/api/perf", dict(model="llama-3.1-8b", gpu="H100", tp=3), "does not divide"),
        ("/api/simulate", dict(model="llama-3.1-8b", gpu="H100"), "exactly one"),
        ("/api/cost", dict(tokens_per_day=5), "cost needs"),
    ],
)
def test_library_errors_are_400_with_the_message(path, body, message):
    r = client.post(path, json=body)
    assert r.status_code == 400, r.text
    assert message in r.json()["detail"]


def test_oversized_upload_is_413():
    big = {"model_type": "llama", "padding": "x" * (MAX_BODY_BYTES + 10)}
    r = client.post("/api/memory", json=dict(config=big))
    assert r.status_code == 413


def test_malformed_json_is_422():
    r = client.post(
        "/api/memory", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert r.status_code == 422


def test_openapi_and_docs_are_served():
    spec = client.get("/openapi.json").json()
    assert {"/api/memory", "/api/perf", "/api/simulate", "/api/plan", "/api/cost"} <= spec[
        "paths"
    ].keys()
    assert "/api/memory" in client.get("/api/docs").text


def test_page_and_assets_are_local_compressed_and_cached():
    r = client.get("/")
    page = r.text
    assert '<script src="/static/app.js?v=' in page and " defer>" in page  # no blocking script
    assert "plotly" not in page and "http" not in page.split("<footer>")[0]
    assert r.headers["content-encoding"] == "gzip" and r.headers["cache-control"] == "no-cache"
    js = client.get("/static/app.js")
    assert js.status_code == 200 and js.headers["content-encoding"] == "gzip"
    assert "immutable" in js.headers["cache-control"] and js.headers["etag"]
    again = client.get("/static/app.js", headers={"if-none-match": js.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    plain = client.get("/static/style.css", headers={"accept-encoding": "identity"})
    assert "content-encoding" not in plain.headers and plain.text.startswith("*")
    assert client.get("/static/../app.py").status_code == 404
    assert client.get("/static/plotly.min.js").status_code == 404


def test_head_is_answered():
    for path in ("/", "/api/health", "/static/app.js"):
        r = client.head(path)
        assert r.status_code == 200, path
        assert r.content == b""


def test_api_answers_are_not_cached_and_gzipped_when_asked():
    body = dict(model="llama-3.1-8b", gpu="H100", sweep=[1, 2, 4, 8, 16, 32])
    r = client.post("/api/perf", json=body, headers={"accept-encoding": "gzip"})
    assert r.status_code == 200 and r.headers["content-encoding"] == "gzip"
    assert r.headers["cache-control"] == "no-store" and len(r.json()) == 6


def test_model_search_takes_words_as_people_write_them():
    rows = client.get("/api/models/search", params={"q": "Llama 3.1 70B"}).json()
    assert rows[0]["id"] == "meta-llama/Meta-Llama-3.1-70B"
    assert client.get("/api/models/search", params={"q": "zzzz-no-such"}).json() == []
    assert client.get("/api/models/search", params={"q": "x" * 10_000}).json() == []


def test_impossible_plan_explains_itself():
    r = client.post(
        "/api/plan", json=dict(model="llama-3.1-70b", users=10, slo="tpot_p99=0.1ms", gpu="H100")
    )
    assert r.status_code == 200
    d = r.json()
    assert d["plans"] == [] and "no configuration" in d["notes"][0] and "TPOT" in d["notes"][0]
