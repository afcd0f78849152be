"""Economics: self-hosted cost per 1M tokens, total cost of ownership, break-even against APIs.

Model (all monthly, 730 hours):

* a deployment is ``units`` identical units (a cloud instance with its replicas, or a bought
  replica): enough that the daily volume uses at most ``utilization`` (the target, 60% by
  default) of their capacity, unless the unit count is fixed;
* compute: cloud ``units x usd_per_hour x 730``, or on-prem hardware amortized over 36 months
  (GPUs plus 50% for the host) plus power ``TDP x GPUs x PUE x 730 h x usd_per_kwh``;
* hidden costs: engineering (a fraction of an engineer, fully loaded), monitoring, storage
  (``catalog/data/economics.toml``, each sourced; every one can be overridden);
* self-hosted cost per 1M tokens: the month's total over the tokens of the user's volume (the
  headline), and over the tokens served at the target utilization of the capacity bought;
* an API's monthly bill for the same traffic: input and output tokens at its list prices (from
  the genai-prices package's bundled data, no network); break-even daily volume: the smallest
  volume from which self-hosting (with units added as the volume grows) costs no more;
* recommendation: against the cheapest API of the quality tier compared (or of the APIs
  named), self-host only when it costs no more than that API at the user's volume, hybrid up to
  twice that (the article's "half the break-even" band), else the API.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import asdict, dataclass, field, replace
from functools import cache
from typing import Any

from canserve.catalog.loader import data_path
from canserve.errors import InvalidInputError

__all__ = [
    "ApiCost",
    "CostEstimate",
    "HiddenCosts",
    "Unit",
    "api_prices",
    "default_hidden_costs",
    "estimate_cost",
    "tiers",
]

DAYS_PER_MONTH = 365 / 12
HYBRID_FACTOR = 2.0  # the article's hybrid band: from half the break-even volume (linear bills)
CURVE_POINTS = 40


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

    def with_overrides(self, **values: float | None) -> HiddenCosts:
        """A copy with the given (not None) values replaced, each range-checked."""
        given = {k: v for k, v in values.items() if v is not None}
        for name, value in given.items():
            _check(name.replace("_", " "), value, 0.0, _LIMITS.get(name, 1e9))
        return replace(self, **given)


_LIMITS = {"engineering_fte": 100.0, "pue": 5.0, "usd_per_kwh": 10.0}


@dataclass(frozen=True)
class ApiPrice:
    name: str
    tier: str
    usd_per_million_input_tokens: float
    usd_per_million_output_tokens: float
    article_usd_per_million_input_tokens: float | None
    article_usd_per_million_output_tokens: float | None
    source: str

    def blended_usd_per_token(self, input_share: float) -> float:
        return (
            input_share * self.usd_per_million_input_tokens
            + (1 - input_share) * self.usd_per_million_output_tokens
        ) / 1e6


@dataclass(frozen=True)
class ApiCost:
    name: str
    tier: str
    usd_per_million_input_tokens: float
    usd_per_million_output_tokens: float
    monthly_usd: float
    break_even_tokens_per_day: float | None  # None: self-hosting never costs less
    compared: bool  # one of the APIs the recommendation weighs
    source: str


@dataclass(frozen=True)
class Unit:
    """One scalable piece of a deployment: its monthly compute cost, the tokens per second it
    serves flat out (None: unknown), its GPUs."""

    monthly_usd: float
    capacity_tokens_per_s: float | None
    gpus: int
    label: str = ""


@dataclass
class CostEstimate:
    tokens_per_day: float
    input_share: float
    utilization: float  # the target: units are added so the volume uses at most this share
    units: int
    unit: Unit  # one unit; its monthly_usd includes power and cooling (on-prem)
    capacity_tokens_per_day: float | None
    utilization_at_volume: float | None
    self_hosted_usd_per_million_tokens: float  # at the user's volume (the headline)
    self_hosted_usd_per_million_tokens_at_target_utilization: float | None
    monthly_total_usd: float
    monthly_usd: dict[str, float]
    apis: list[ApiCost]
    compared_with: list[str]
    cheapest_api: str | None
    recommendation: str
    recommendation_reason: str
    curve: list[dict[str, float]] = field(default_factory=list)
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


def tiers() -> dict[str, str]:
    """Quality tier id -> description (economics.toml, sourced)."""
    return {row["id"]: row["description"] for row in _doc()["tier"]}


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
                tier=row["tier"],
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


def _normalize(name: str) -> str:
    return "".join(c for c in name.lower() if c.isalnum())


def select_apis(names: list[str] | None, tier: str | None) -> list[ApiPrice]:
    """The APIs the recommendation compares with: those named (matched ignoring case and
    punctuation: ``gpt-4o-mini`` is "GPT-4o mini"), else the tier's (default: all)."""
    prices = api_prices()
    if names:
        chosen = []
        for name in names:
            match = [p for p in prices if _normalize(p.name) == _normalize(name)]
            if not match:
                known = ", ".join(p.name for p in prices)
                raise InvalidInputError(f"unknown API {name!r} (known: {known})")
            chosen.append(match[0])
        return chosen
    if tier is not None:
        if tier not in tiers():
            raise InvalidInputError(f"unknown tier {tier!r} (known: {', '.join(tiers())})")
        return [p for p in prices if p.tier == tier]
    return list(prices)


def _check(name: str, value: float, low: float, high: float) -> None:
    if not (math.isfinite(value) and low <= value <= high):
        raise InvalidInputError(f"{name} must be between {low:g} and {high:g}, got {value:g}")


def _fixed_parts(h: HiddenCosts) -> dict[str, float]:
    return {
        "engineering_usd": h.engineering_usd_per_month,
        "monitoring_usd": h.monitoring_usd_per_month,
        "storage_usd": h.storage_usd_per_month,
    }


def _units_for(tokens_per_day: float, unit: Unit, utilization: float) -> int:
    if not unit.capacity_tokens_per_s:
        return 1
    per_unit_day = unit.capacity_tokens_per_s * 86_400 * utilization
    return max(1, math.ceil(tokens_per_day / per_unit_day))


def _break_even(
    fixed: float, unit: Unit, utilization: float, blended: float, units: int | None
) -> float | None:
    """Smallest daily volume from which the self-hosted bill is at most the API's (units grow
    with the volume unless fixed); None when self-hosting never costs less."""
    if blended <= 0:
        return None
    per_day_usd = DAYS_PER_MONTH * blended  # the API's monthly bill per daily token
    cap = unit.capacity_tokens_per_s * 86_400 * utilization if unit.capacity_tokens_per_s else None
    if units is not None or cap is None:
        n = units or 1
        volume = (fixed + n * unit.monthly_usd) / per_day_usd
        limit = n * unit.capacity_tokens_per_s * 86_400 if unit.capacity_tokens_per_s else None
        return volume if limit is None or volume <= limit else None
    margin = cap * per_day_usd - unit.monthly_usd  # what one more unit's volume saves
    if margin <= 0:
        return None
    n = max(1, math.ceil(fixed / margin))
    return max((fixed + n * unit.monthly_usd) / per_day_usd, (n - 1) * cap)


def _recommend(self_monthly: float, compared: list[ApiCost]) -> tuple[str, str, str | None]:
    """(recommendation, reason, cheapest API): self-host only at or below the cheapest API."""
    if not compared:
        return "api", "no API to compare with", None
    cheapest = min(compared, key=lambda a: a.monthly_usd)
    bill = cheapest.monthly_usd
    where = f"{cheapest.name} (${bill:,.0f}/month for this volume)"
    if self_monthly <= bill:
        return (
            "self-host",
            f"self-hosting (${self_monthly:,.0f}/month) costs no more than {where}",
            cheapest.name,
        )
    if self_monthly <= HYBRID_FACTOR * bill:
        return (
            "hybrid",
            f"self-hosting (${self_monthly:,.0f}/month) costs up to {HYBRID_FACTOR:g}x {where}: "
            "serve simple queries locally, send the rest to the API",
            cheapest.name,
        )
    return (
        "api",
        f"self-hosting (${self_monthly:,.0f}/month) costs more than {HYBRID_FACTOR:g}x {where}",
        cheapest.name,
    )


def _monthly(
    tokens_per_day: float,
    unit: Unit,
    units: int | None,
    utilization: float,
    fixed: dict[str, float],
    compute_key: str,
    extra: dict[str, float],
) -> tuple[int, dict[str, float]]:
    n = units if units is not None else _units_for(tokens_per_day, unit, utilization)
    parts = {compute_key: n * unit.monthly_usd}
    parts.update({k: n * v for k, v in extra.items()})
    parts.update(fixed)
    return n, parts


def _curve(
    top: float,
    unit: Unit,
    units: int | None,
    utilization: float,
    fixed: float,
    apis: list[ApiPrice],
    input_share: float,
) -> list[dict[str, float]]:
    """Monthly cost against daily volume, from 1e4 tokens/day to ``top``: self-hosted (units
    grow with the volume) and each API."""
    low = 1e4
    top = max(top, low * 10)
    points = []
    for i in range(CURVE_POINTS):
        v = low * (top / low) ** (i / (CURVE_POINTS - 1))
        n = units if units is not None else _units_for(v, unit, utilization)
        row = {"tokens_per_day": v, "self_hosted_usd": fixed + n * unit.monthly_usd, "units": n}
        for p in apis:
            row[p.name] = v * DAYS_PER_MONTH * p.blended_usd_per_token(input_share)
        points.append(row)
    return points


def estimate_cost(
    *,
    tokens_per_day: float,
    usd_per_hour: float | None = None,
    purchase_usd: float | None = None,
    gpu_count: int = 1,
    gpu_tdp_watts: float = 0.0,
    capacity_tokens_per_s: float | None = None,
    units: int | None = None,
    utilization: float = 0.6,
    input_share: float = 0.4,
    hidden: HiddenCosts | None = None,
    apis: list[str] | None = None,
    tier: str | None = None,
    label: str = "",
) -> CostEstimate:
    """Monthly cost of self-hosting ``tokens_per_day`` and of each API for the same traffic.

    One *unit* costs ``usd_per_hour`` (cloud: the instance) or ``purchase_usd`` (on-prem: its
    ``gpu_count`` GPUs; host, power and amortization are added) and serves
    ``capacity_tokens_per_s`` flat out (None: unknown; the deployment is then one fixed unit).
    Units are added until the volume uses at most ``utilization`` of their capacity, unless
    ``units`` fixes the count. ``input_share`` is the fraction of prompt tokens (the article's
    chat: 200 in + 300 out = 0.4). ``apis`` (names) or ``tier`` choose the APIs the
    recommendation weighs (default: all listed).
    """
    _check("tokens per day", tokens_per_day, 0, 1e15)
    _check("utilization", utilization, 0.01, 1.0)
    _check("input share", input_share, 0.0, 1.0)
    if (usd_per_hour is None) == (purchase_usd is None):
        raise InvalidInputError("give a price: --usd-per-hour (cloud) or a GPU to price")
    if units is not None:
        _check("units", units, 1, 1e6)
    h = hidden or default_hidden_costs()
    extra: dict[str, float] = {}
    if usd_per_hour is not None:
        _check("usd per hour", usd_per_hour, 0, 1e6)
        unit = Unit(usd_per_hour * h.hours_per_month, capacity_tokens_per_s, gpu_count, label)
        compute_key = "gpu_compute_usd"
    else:
        assert purchase_usd is not None
        _check("purchase price", purchase_usd, 0, 1e9)
        amortized = purchase_usd * (1 + h.host_overhead_fraction) / h.amortization_months
        kwh = gpu_tdp_watts * gpu_count * h.pue * h.hours_per_month / 1000
        extra["power_and_cooling_usd"] = kwh * h.usd_per_kwh
        unit = Unit(amortized, capacity_tokens_per_s, gpu_count, label)
        compute_key = "hardware_amortized_usd"
    fixed_parts = _fixed_parts(h)
    fixed = sum(fixed_parts.values())
    full_unit = replace(unit, monthly_usd=unit.monthly_usd + sum(extra.values()))
    n, monthly = _monthly(tokens_per_day, unit, units, utilization, fixed_parts, compute_key, extra)
    total = sum(monthly.values())
    capacity_day = n * capacity_tokens_per_s * 86_400 if capacity_tokens_per_s else None
    compared_prices = select_apis(apis, tier)
    compared_names = {p.name for p in compared_prices}
    api_rows = []
    for p in api_prices():
        blended = p.blended_usd_per_token(input_share)
        api_rows.append(
            ApiCost(
                name=p.name,
                tier=p.tier,
                usd_per_million_input_tokens=p.usd_per_million_input_tokens,
                usd_per_million_output_tokens=p.usd_per_million_output_tokens,
                monthly_usd=tokens_per_day * DAYS_PER_MONTH * blended,
                break_even_tokens_per_day=_break_even(
                    fixed, full_unit, utilization, blended, units
                ),
                compared=p.name in compared_names,
                source=p.source,
            )
        )
    recommendation, reason, cheapest = _recommend(total, [a for a in api_rows if a.compared])
    notes = _notes(tokens_per_day, capacity_day, units, n, utilization, capacity_tokens_per_s)
    per_volume = total / max(tokens_per_day * DAYS_PER_MONTH, 1.0) * 1e6
    at_target = (
        total / (capacity_day * utilization * DAYS_PER_MONTH) * 1e6 if capacity_day else None
    )
    finite = [a.break_even_tokens_per_day for a in api_rows if a.break_even_tokens_per_day]
    top = 3 * max([tokens_per_day, *finite]) if finite else 10 * max(tokens_per_day, 1e6)
    return CostEstimate(
        tokens_per_day=tokens_per_day,
        input_share=input_share,
        utilization=utilization,
        units=n,
        unit=full_unit,
        capacity_tokens_per_day=capacity_day,
        utilization_at_volume=tokens_per_day / capacity_day if capacity_day else None,
        self_hosted_usd_per_million_tokens=per_volume,
        self_hosted_usd_per_million_tokens_at_target_utilization=at_target,
        monthly_total_usd=total,
        monthly_usd=monthly,
        apis=api_rows,
        compared_with=[p.name for p in compared_prices],
        cheapest_api=cheapest,
        recommendation=recommendation,
        recommendation_reason=reason,
        curve=_curve(top, full_unit, units, utilization, fixed, compared_prices, input_share),
        notes=notes,
    )


def _notes(
    tokens_per_day: float,
    capacity_day: float | None,
    units: int | None,
    n: int,
    utilization: float,
    capacity_tokens_per_s: float | None,
) -> list[str]:
    if capacity_tokens_per_s is None:
        return ["no capacity known: one fixed deployment; the cost per 1M tokens is at your volume"]
    notes = []
    assert capacity_day is not None
    if units is not None and tokens_per_day > capacity_day * utilization:
        notes.append(
            f"{tokens_per_day:,.0f} tokens/day is {tokens_per_day / capacity_day:.0%} of the "
            f"fixed deployment's capacity ({capacity_day:,.0f} tokens/day): above the "
            f"{utilization:.0%} target"
        )
    elif units is None and n > 1:
        notes.append(
            f"{n} units so that {tokens_per_day:,.0f} tokens/day uses at most {utilization:.0%} "
            "of the capacity"
        )
    return notes
