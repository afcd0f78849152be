"""The planner: required throughput, ranked plans that meet targets, reasons for rejections."""

import pytest

from canserve import get_model, list_models, replica_capacity, serving_config
from canserve.catalog.prices import cloud_prices, gpu_hour_price
from canserve.plan import Requirements, plan_deployment
from canserve.sim.metrics import parse_slos

LLAMA_70B = get_model("llama-3.1-70b")


def slo(text):
    return tuple(parse_slos(text))


def test_required_throughput_is_the_article_equation():
    req = Requirements(prompt=200, output=300, users=50, slos=slo("e2e_p95=5s"))
    assert req.required_output_tokens_per_s == 3000
    assert (
        Requirements(prompt=200, output=300, rate=2, peak_factor=1.5).required_output_tokens_per_s
        == 900
    )


def test_article_case_plans_meet_targets_and_are_ranked_by_cost():
    req = Requirements(prompt=200, output=300, users=50, slos=slo("e2e_p95=5s"))
    result = plan_deployment(LLAMA_70B, req, gpus=["A100-80GB", "H100", "H200"])
    assert result.plans
    costs = [p.cost_usd_per_hour for p in result.plans]
    assert costs == sorted(costs)
    for p in result.plans:
        assert p.predicted["e2e_s"]["p95"] <= 5
        assert p.memory_per_gpu_bytes <= 0.8 * p.gpu_memory_bytes
        assert p.gpu_count == p.tensor_parallel_size * p.pipeline_parallel_size * p.replicas
        assert "vllm serve" in p.vllm_command and p.kubernetes.startswith("apiVersion")
        assert {c["verdict"] for c in p.checklist} <= {"pass", "fail", "warn", "manual"}
    assert any("does not fit" in r["reason"] for r in result.rejected)


def test_plan_cost_uses_catalog_prices():
    req = Requirements(prompt=200, output=300, rate=1, slos=slo("e2e_p95=10s"))
    result = plan_deployment(get_model("llama-3.1-8b"), req, gpus=["H100"])
    best = result.plans[0]
    price = gpu_hour_price("H100-SXM-80GB")
    assert best.cost_usd_per_hour == pytest.approx(best.gpu_count * price.usd_per_gpu_hour)


def test_impossible_targets_say_why():
    req = Requirements(prompt=200, output=300, users=10, slos=slo("tpot_p99=1ms"))
    result = plan_deployment(LLAMA_70B, req, gpus=["H100"])
    assert not result.plans
    assert "TPOT" in result.notes[0] or any("TPOT" in r["reason"] for r in result.rejected)


def test_tpot_target_caps_the_batch():
    cfg = serving_config(LLAMA_70B, gpu="H100", quant="fp8", tp=2)
    loose = replica_capacity(cfg, prompt=200, output=300)
    tight = replica_capacity(cfg, prompt=200, output=300, tpot_target_s=0.02)
    assert tight.batch < loose.batch and tight.tpot_s <= 0.02


def test_marketplace_prices_only_on_request():
    rows = [p for p in cloud_prices() if p.gpu == "H100-SXM-80GB"]
    assert any(p.marketplace for p in rows)
    assert not gpu_hour_price("H100-SXM-80GB").marketplace
    assert gpu_hour_price("H100-SXM-80GB", cloud="vast").marketplace


def test_every_price_row_is_sourced():
    for p in cloud_prices():
        assert p.source and p.source_date and p.usd_per_gpu_hour > 0


@pytest.mark.parametrize("entry", list_models(), ids=lambda m: m.id)
def test_every_catalog_model_gets_a_plan(entry):
    req = Requirements(prompt=500, output=200, rate=0.5, slos=slo("e2e_p95=30s"))
    result = plan_deployment(
        entry.spec, req, gpus=["H200", "B200"], top=1, finalists=2, simulate_requests=100
    )
    assert result.plans, result.notes


def test_budget_and_latency_ranking():
    req = Requirements(prompt=200, output=300, users=50, slos=slo("e2e_p95=5s"))
    spec = get_model("llama-3.1-8b")
    budget = plan_deployment(spec, req, budget_usd_per_hour=2.0)
    assert all(p.cost_usd_per_hour <= 2.0 for p in budget.plans)
    assert any("over budget" in r["reason"] for r in budget.rejected)
    fast = plan_deployment(spec, req, rank="latency", budget_usd_per_hour=5.0)
    e2e = [p.predicted["e2e_s"]["p95"] for p in fast.plans]
    assert e2e == sorted(e2e)
    assert e2e[0] <= min(p.predicted["e2e_s"]["p95"] for p in budget.plans)
