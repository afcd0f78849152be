"""Economics: TCO arithmetic, API prices, break-even, recommendation bands."""

import pytest

from canserve import InvalidInputError
from canserve.economics import DAYS_PER_MONTH, api_prices, default_hidden_costs, estimate_cost


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


def test_break_even_equates_the_two_bills():
    est = estimate_cost(tokens_per_day=5e6, usd_per_hour=2.0)
    for api in est.apis:
        be = api.break_even_tokens_per_day
        blended = (
            0.4 * api.usd_per_million_input_tokens + 0.6 * api.usd_per_million_output_tokens
        ) / 1e6
        assert be * DAYS_PER_MONTH * blended == pytest.approx(est.monthly_total_usd)
        assert api.monthly_usd == pytest.approx(5e6 * DAYS_PER_MONTH * blended)


def test_capacity_limits_break_even_and_sets_cost_per_token():
    est = estimate_cost(tokens_per_day=1e6, usd_per_hour=2.0, capacity_tokens_per_s=100)
    mini = next(a for a in est.apis if a.name == "GPT-4o mini")
    assert mini.break_even_tokens_per_day is None  # 8.6M tokens/day can never pay for it
    served_month = 100 * 86_400 * 0.6 * DAYS_PER_MONTH
    assert est.self_hosted_usd_per_million_tokens == pytest.approx(
        est.monthly_total_usd / served_month * 1e6
    )


def test_recommendation_bands():
    low = estimate_cost(tokens_per_day=1e4, usd_per_hour=0.5, capacity_tokens_per_s=1e6)
    assert low.recommendation == "api"
    cheapest_be = max(a.break_even_tokens_per_day for a in low.apis)  # the cheapest API
    high = estimate_cost(
        tokens_per_day=cheapest_be * 1.01, usd_per_hour=0.5, capacity_tokens_per_s=1e6
    )
    assert high.recommendation == "self-host"
    mid = estimate_cost(
        tokens_per_day=cheapest_be * 0.7, usd_per_hour=0.5, capacity_tokens_per_s=1e6
    )
    assert mid.recommendation == "hybrid"


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
