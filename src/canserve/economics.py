"""Economics: self-hosted cost per 1M tokens, total cost of ownership, break-even against APIs.

Model (all monthly, 730 hours):

* compute: cloud ``usd_per_hour x 730``, or on-prem hardware amortized over 36 months (GPUs plus
  50% for the host) plus power ``TDP x GPUs x PUE x 730 h x usd_per_kwh``;
* hidden costs: engineering (a fraction of an engineer, fully loaded), monitoring, storage
  (``catalog/data/economics.toml``, each sourced; every one can be overridden);
* self-hosted cost per 1M tokens: the month's total over the tokens the deployment serves at the
  given utilization of its capacity;
* an API's monthly bill for the same traffic: input and output tokens at its list prices (from
  the genai-prices package's bundled data, no network); break-even daily volume: where the two
  monthly costs meet.
"""

from __future__ import annotations

import tomllib
from dataclasses import asdict, dataclass, field
from functools import cache
from typing import Any

from canserve.catalog.loader import data_path
from canserve.errors import InvalidInputError

__all__ = ["ApiCost", "CostEstimate", "HiddenCosts", "api_prices", "estimate_cost"]

DAYS_PER_MONTH = 365 / 12


@dataclass(frozen=True)
class HiddenCosts:
    engineering_fte: float
    engineer_usd_per_year: float
    overhead_multiplier: float
    monitoring_usd_per_month: float
    storage_usd_per_month: float
    pue: float
    usd_per_kwh: float
    hours_per_month: float
    amortization_months: float
    host_overhead_fraction: float

    @property
    def engineering_usd_per_month(self) -> float:
        return self.engineering_fte * self.engineer_usd_per_year * self.overhead_multiplier / 12


@dataclass(frozen=True)
class ApiPrice:
    name: str
    usd_per_million_input_tokens: float
    usd_per_million_output_tokens: float
    article_usd_per_million_input_tokens: float | None
    article_usd_per_million_output_tokens: float | None
    source: str


@dataclass(frozen=True)
class ApiCost:
    name: str
    usd_per_million_input_tokens: float
    usd_per_million_output_tokens: float
    monthly_usd: float
    break_even_tokens_per_day: float | None  # None: self-hosting never costs less at capacity
    source: str


@dataclass
class CostEstimate:
    tokens_per_day: float
    input_share: float
    utilization: float
    capacity_tokens_per_day: float | None
    self_hosted_usd_per_million_tokens: float
    monthly_total_usd: float
    monthly_usd: dict[str, float]
    apis: list[ApiCost]
    recommendation: str
    recommendation_reason: str
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@cache
def _doc() -> dict[str, Any]:
    with data_path("economics.toml").open("rb") as fh:
        return tomllib.load(fh)


def default_hidden_costs() -> HiddenCosts:
    table = {k: v for k, v in _doc()["hidden_costs"].items() if k not in ("source", "source_date")}
    return HiddenCosts(**table)


@cache
def api_prices() -> tuple[ApiPrice, ...]:
    """List prices per 1M tokens of the APIs in economics.toml, from genai-prices' bundled data
    (priced on 1,000-token requests so long-context surcharges do not apply)."""
    from importlib.metadata import version

    from genai_prices import Usage, calc_price

    source = f"genai-prices {version('genai-prices')} bundled price data"
    prices = []
    for row in _doc()["api"]:

        def per_million(
            usage: Any, ref: str = row["model_ref"], pid: str = row["provider"]
        ) -> float:
            return float(calc_price(usage, model_ref=ref, provider_id=pid).total_price) * 1000

        prices.append(
            ApiPrice(
                name=row["name"],
                usd_per_million_input_tokens=per_million(Usage(input_tokens=1000)),
                usd_per_million_output_tokens=per_million(Usage(output_tokens=1000)),
                article_usd_per_million_input_tokens=row.get(
                    "article_usd_per_million_input_tokens"
                ),
                article_usd_per_million_output_tokens=row.get(
                    "article_usd_per_million_output_tokens"
                ),
                source=source,
            )
        )
    return tuple(prices)


def _check(name: str, value: float, low: float, high: float) -> None:
    if not low <= value <= high:
        raise InvalidInputError(f"{name} must be between {low:g} and {high:g}, got {value:g}")


def estimate_cost(
    *,
    tokens_per_day: float,
    usd_per_hour: float | None = None,
    purchase_usd: float | None = None,
    gpu_count: int = 1,
    gpu_tdp_watts: float = 0.0,
    capacity_tokens_per_s: float | None = None,
    utilization: float = 0.6,
    input_share: float = 0.4,
    hidden: HiddenCosts | None = None,
) -> CostEstimate:
    """Monthly cost of self-hosting ``tokens_per_day`` and of each API for the same traffic.

    Give ``usd_per_hour`` (cloud: everything the instances cost) or ``purchase_usd`` (on-prem:
    the GPUs' price; host, power and amortization are added). ``capacity_tokens_per_s`` is what
    the deployment serves flat out; at ``utilization`` of it, it sets the cost per 1M tokens.
    ``input_share`` is the fraction of the tokens that are prompt tokens (the article's chat: 200
    in + 300 out = 0.4).
    """
    _check("tokens per day", tokens_per_day, 0, 1e15)
    _check("utilization", utilization, 0.01, 1.0)
    _check("input share", input_share, 0.0, 1.0)
    if (usd_per_hour is None) == (purchase_usd is None):
        raise InvalidInputError("give a price: --usd-per-hour (cloud) or a GPU to price")
    h = hidden or default_hidden_costs()
    monthly: dict[str, float] = {}
    if usd_per_hour is not None:
        _check("usd per hour", usd_per_hour, 0, 1e6)
        monthly["gpu_compute_usd"] = usd_per_hour * h.hours_per_month
    else:
        assert purchase_usd is not None
        _check("purchase price", purchase_usd, 0, 1e9)
        monthly["hardware_amortized_usd"] = (
            purchase_usd * (1 + h.host_overhead_fraction) / h.amortization_months
        )
        kwh = gpu_tdp_watts * gpu_count * h.pue * h.hours_per_month / 1000
        monthly["power_and_cooling_usd"] = kwh * h.usd_per_kwh
    monthly["engineering_usd"] = h.engineering_usd_per_month
    monthly["monitoring_usd"] = h.monitoring_usd_per_month
    monthly["storage_usd"] = h.storage_usd_per_month
    total = sum(monthly.values())
    notes = []
    capacity_day = capacity_tokens_per_s * 86_400 if capacity_tokens_per_s else None
    served_day = capacity_day * utilization if capacity_day else tokens_per_day
    if capacity_day is None:
        notes.append(
            "no capacity known: the cost per 1M tokens is at your volume, not at "
            "a utilization of the deployment"
        )
    if capacity_day and tokens_per_day > served_day:
        notes.append(
            f"{tokens_per_day:,.0f} tokens/day exceeds {utilization:.0%} of this deployment's "
            f"capacity ({served_day:,.0f} tokens/day): add replicas"
        )
    per_million = total / max(served_day * DAYS_PER_MONTH, 1.0) * 1e6
    apis = [_api_cost(p, tokens_per_day, input_share, total, capacity_day) for p in api_prices()]
    recommendation, reason = _recommend(tokens_per_day, apis)
    return CostEstimate(
        tokens_per_day=tokens_per_day,
        input_share=input_share,
        utilization=utilization,
        capacity_tokens_per_day=capacity_day,
        self_hosted_usd_per_million_tokens=per_million,
        monthly_total_usd=total,
        monthly_usd=monthly,
        apis=apis,
        recommendation=recommendation,
        recommendation_reason=reason,
        notes=notes,
    )


def _api_cost(
    p: ApiPrice,
    tokens_per_day: float,
    input_share: float,
    self_monthly: float,
    capacity_day: float | None,
) -> ApiCost:
    blended = (
        input_share * p.usd_per_million_input_tokens
        + (1 - input_share) * p.usd_per_million_output_tokens
    ) / 1e6
    monthly = tokens_per_day * DAYS_PER_MONTH * blended
    break_even = self_monthly / (DAYS_PER_MONTH * blended) if blended > 0 else None
    if break_even is not None and capacity_day is not None and break_even > capacity_day:
        break_even = None  # one deployment cannot serve enough tokens to pay for itself
    return ApiCost(
        name=p.name,
        usd_per_million_input_tokens=p.usd_per_million_input_tokens,
        usd_per_million_output_tokens=p.usd_per_million_output_tokens,
        monthly_usd=monthly,
        break_even_tokens_per_day=break_even,
        source=p.source,
    )


def _recommend(tokens_per_day: float, apis: list[ApiCost]) -> tuple[str, str]:
    """The article's three bands, recomputed: API below half the break-even volume against the
    cheapest API, hybrid between half and the full break-even, self-host above it."""
    reachable = [a for a in apis if a.break_even_tokens_per_day is not None]
    if not reachable:
        return "api", "self-hosting costs more than every API even at full capacity"
    cheapest = min(reachable, key=lambda a: a.monthly_usd)
    be = cheapest.break_even_tokens_per_day
    assert be is not None
    if tokens_per_day >= be:
        return "self-host", f"at or above break-even with {cheapest.name} ({be:,.0f} tokens/day)"
    if tokens_per_day >= be / 2:
        return "hybrid", (
            f"between half and the full break-even with {cheapest.name} ({be:,.0f} tokens/day): "
            "serve simple queries locally, send the rest to the API"
        )
    return "api", f"below half the break-even with {cheapest.name} ({be:,.0f} tokens/day)"
