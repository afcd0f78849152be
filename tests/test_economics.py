"""Economics: TCO arithmetic, API prices and tiers, capacity that grows with the volume, the
cost at the user's volume, break-even, a recommendation that never favours self-hosting above
the cheapest API compared, the hidden costs as inputs."""

import pytest

from canserve import InvalidInputError
from canserve.economics import (
    DAYS_PER_MONTH,
    api_prices,
    default_hidden_costs,
    estimate_cost,
    tiers,
)
from canserve.queries import CostQuery
from canserve.services import run_cost


def test_article_api_prices_match_the_price_library():
    by_name = {p.name: p for p in api_prices()}
    for name in ("GPT-4o", "GPT-4o mini", "Claude 3.5 Sonnet", "Claude 3.5 Haiku"):
        p = by_name[name]
        assert p.usd_per_million_input_tokens == pytest.approx(
            p.article_usd_per_million_input_tokens
        )
        assert p.usd_per_million_output_tokens == pytest.approx(
            p.article_usd_per_million_output_tokens
        )


def test_every_api_has_a_defined_tier():
    known = tiers()
    assert set(known) == {"small", "frontier"}
    assert {p.tier for p in api_prices()} == set(known)


def test_monthly_total_is_the_sum_of_its_parts():
    est = estimate_cost(tokens_per_day=1e6, usd_per_hour=2.0)
    assert est.monthly_usd["gpu_compute_usd"] == pytest.approx(2.0 * 730)
    assert est.monthly_total_usd == pytest.approx(sum(est.monthly_usd.values()))
    h = default_hidden_costs()
    assert est.monthly_usd["engineering_usd"] == pytest.approx(0.25 * 133_080 * 1.3 / 12)
    assert est.monthly_usd["monitoring_usd"] == h.monitoring_usd_per_month


def test_on_prem_power_and_amortization():
    est = estimate_cost(tokens_per_day=1e6, purchase_usd=30_000, gpu_count=1, gpu_tdp_watts=700)
    assert est.monthly_usd["hardware_amortized_usd"] == pytest.approx(30_000 * 1.5 / 36)
    assert est.monthly_usd["power_and_cooling_usd"] == pytest.approx(0.7 * 1.58 * 730 * 0.13)


def test_hidden_costs_are_inputs():
    base = run_cost(CostQuery(model="llama-3.1-8b", gpu="H100", on_prem=True)).estimate
    changed = run_cost(
        CostQuery(
            model="llama-3.1-8b",
            gpu="H100",
            on_prem=True,
            engineering_fte=0.5,
            engineer_usd_per_year=200_000,
            monitoring_usd_per_month=0,
            storage_usd_per_month=50,
            usd_per_kwh=0.26,
            pue=1.2,
        )
    ).estimate
    assert changed.monthly_usd["engineering_usd"] == pytest.approx(0.5 * 200_000 * 1.3 / 12)
    assert changed.monthly_usd["monitoring_usd"] == 0
    assert changed.monthly_usd["storage_usd"] == 50
    power = base.monthly_usd["power_and_cooling_usd"]
    assert changed.monthly_usd["power_and_cooling_usd"] == pytest.approx(power * 2 * 1.2 / 1.58)
    with pytest.raises(InvalidInputError, match="pue"):
        CostQuery(model="llama-3.1-8b", pue=0.5)


def test_break_even_equates_the_two_bills_for_a_fixed_deployment():
    est = estimate_cost(tokens_per_day=5e6, usd_per_hour=2.0)
    for api in est.apis:
        be = api.break_even_tokens_per_day
        blended = (
            0.4 * api.usd_per_million_input_tokens + 0.6 * api.usd_per_million_output_tokens
        ) / 1e6
        assert be * DAYS_PER_MONTH * blended == pytest.approx(est.monthly_total_usd)
        assert api.monthly_usd == pytest.approx(5e6 * DAYS_PER_MONTH * blended)


def test_capacity_grows_with_the_volume():
    """3e9 tokens/day used to price one H100 with a note."""
    small = run_cost(CostQuery(model="llama-3.1-8b", gpu="H100", tokens_per_day=5e6))
    big = run_cost(CostQuery(model="llama-3.1-8b", gpu="H100", tokens_per_day=3e9))
    assert small.deployment.replicas == 1
    assert big.deployment.replicas > 1 and big.estimate.units > 1
    assert big.estimate.utilization_at_volume <= 0.6  # the target utilization
    assert big.estimate.monthly_total_usd > small.estimate.monthly_total_usd
    fixed = run_cost(CostQuery(model="llama-3.1-8b", gpu="H100", gpus=1, tokens_per_day=3e9))
    assert fixed.deployment.gpu_count == 1 and "above the 60% target" in fixed.estimate.notes[0]


def test_headline_cost_is_at_the_users_volume():
    """The old headline ($0.17 per 1M) was at 60% utilization, not at 5M tokens/day."""
    est = run_cost(CostQuery(model="llama-3.1-8b", gpu="H100", tokens_per_day=5e6)).estimate
    per_volume = est.monthly_total_usd / (5e6 * DAYS_PER_MONTH) * 1e6
    assert est.self_hosted_usd_per_million_tokens == pytest.approx(per_volume)
    at_target = est.self_hosted_usd_per_million_tokens_at_target_utilization
    assert at_target == pytest.approx(
        est.monthly_total_usd / (est.capacity_tokens_per_day * 0.6 * DAYS_PER_MONTH) * 1e6
    )
    assert est.self_hosted_usd_per_million_tokens > 10 * at_target


def test_never_recommends_self_hosting_above_the_cheapest_api():
    """8B on L4 at 50M tokens/day: GPT-4o mini costs $639/month; the old recommendation was
    'self-host' (at or above break-even with GPT-4o)."""
    est = run_cost(CostQuery(model="llama-3.1-8b", gpu="L4", tokens_per_day=5e7)).estimate
    assert est.recommendation == "api" and est.cheapest_api == "GPT-4o mini"
    for volume in (1e5, 1e6, 1e7, 1e8, 1e9, 1e10):
        e = estimate_cost(tokens_per_day=volume, usd_per_hour=2.0, capacity_tokens_per_s=2000)
        cheapest = min(a.monthly_usd for a in e.apis if a.compared)
        if e.recommendation == "self-host":
            assert e.monthly_total_usd <= cheapest
        else:
            assert e.monthly_total_usd > cheapest


def test_the_apis_compared_can_be_named_or_a_tier():
    named = run_cost(
        CostQuery(
            model="llama-3.1-8b", gpu="H100", tokens_per_day=3e8, api="gpt-4o,claude-3.5-sonnet"
        )
    ).estimate
    assert named.compared_with == ["GPT-4o", "Claude 3.5 Sonnet"]
    assert named.recommendation == "self-host" and named.cheapest_api == "GPT-4o"
    frontier = estimate_cost(tokens_per_day=1e8, usd_per_hour=2, tier="frontier")
    assert {a.tier for a in frontier.apis if a.compared} == {"frontier"}
    with pytest.raises(InvalidInputError, match="unknown API"):
        estimate_cost(tokens_per_day=1e8, usd_per_hour=2, apis=["gpt-9"])
    with pytest.raises(InvalidInputError, match="unknown tier"):
        estimate_cost(tokens_per_day=1e8, usd_per_hour=2, tier="huge")


def test_without_a_gpu_the_cheapest_setup_is_chosen():
    report = run_cost(CostQuery(model="llama-3.1-8b", tokens_per_day=5e7))
    assert report.deployment is not None and report.alternatives
    assert all(
        report.estimate.monthly_total_usd <= alt.monthly_total_usd for alt in report.alternatives
    )


def test_break_even_with_growing_capacity_is_where_the_bills_meet():
    est = estimate_cost(tokens_per_day=1e6, usd_per_hour=2.0, capacity_tokens_per_s=500)
    fixed = est.monthly_total_usd - est.monthly_usd["gpu_compute_usd"]
    for api in est.apis:
        be = api.break_even_tokens_per_day
        if be is None:
            continue
        at = estimate_cost(tokens_per_day=be * 1.0001, usd_per_hour=2.0, capacity_tokens_per_s=500)
        below = estimate_cost(
            tokens_per_day=be * 0.999, usd_per_hour=2.0, capacity_tokens_per_s=500
        )
        bill = {a.name: a.monthly_usd for a in at.apis}[api.name]
        assert at.monthly_total_usd <= bill * 1.001
        below_bill = {a.name: a.monthly_usd for a in below.apis}[api.name]
        assert below.monthly_total_usd > below_bill or below.units < at.units
        assert fixed > 0


def test_the_curve_covers_the_break_even_points():
    est = estimate_cost(tokens_per_day=1e6, usd_per_hour=2.0, capacity_tokens_per_s=2000)
    finite = [a.break_even_tokens_per_day for a in est.apis if a.break_even_tokens_per_day]
    assert finite and est.curve[-1]["tokens_per_day"] >= max(finite)
    units = [p["units"] for p in est.curve]
    assert units == sorted(units) and units[-1] > 1  # the self-hosted line steps up


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(tokens_per_day=-1, usd_per_hour=1), "tokens per day"),
        (dict(tokens_per_day=1, usd_per_hour=1, utilization=0), "utilization"),
        (dict(tokens_per_day=1), "give a price"),
        (dict(tokens_per_day=1, usd_per_hour=-2), "usd per hour"),
    ],
)
def test_bad_input(kwargs, message):
    with pytest.raises(InvalidInputError, match=message):
        estimate_cost(**kwargs)


def test_article_economics_page_is_current():
    from tests.conftest import ROOT, load_script

    page = load_script("article_economics")
    assert (ROOT / "docs/article-economics.md").read_text() == page.render()
