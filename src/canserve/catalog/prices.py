"""GPU prices (rows in ``data/prices.toml``): cloud per GPU-hour, on-demand and spot, and
purchase prices, each with its source and date.

By default a price comes from the cheapest provider that sells with a service level (hyperscalers
and GPU clouds); marketplace tiers (Vast.ai, RunPod Community Cloud: host-dependent, no SLA) are
used only when their cloud is asked for by name.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from canserve.catalog.loader import load_rows
from canserve.errors import InvalidInputError

__all__ = ["CloudPrice", "PurchasePrice", "cloud_prices", "gpu_hour_price", "purchase_price"]


@dataclass(frozen=True)
class CloudPrice:
    gpu: str
    cloud: str
    instance: str
    usd_per_gpu_hour: float
    usd_per_gpu_hour_spot: float | None
    source: str
    source_date: str

    @property
    def marketplace(self) -> bool:
        return self.cloud == "vast" or "community" in self.instance.lower()


@dataclass(frozen=True)
class PurchasePrice:
    gpu: str
    usd: float
    kind: str
    source: str
    source_date: str


@cache
def cloud_prices() -> tuple[CloudPrice, ...]:
    return tuple(
        CloudPrice(
            gpu=r["gpu"],
            cloud=r["cloud"],
            instance=r.get("instance", ""),
            usd_per_gpu_hour=float(r["usd_per_gpu_hour"]),
            usd_per_gpu_hour_spot=r.get("usd_per_gpu_hour_spot"),
            source=r["source"],
            source_date=str(r["source_date"]),
        )
        for r in load_rows("prices.toml", "cloud_price")
        if "usd_per_gpu_hour" in r
    )


@cache
def _purchases() -> tuple[PurchasePrice, ...]:
    return tuple(
        PurchasePrice(
            r["gpu"], float(r["usd"]), r.get("kind", ""), r["source"], str(r["source_date"])
        )
        for r in load_rows("prices.toml", "purchase_price")
    )


def gpu_hour_price(gpu_id: str, cloud: str | None = None, spot: bool = False) -> CloudPrice:
    """The cheapest sourced price per GPU-hour for ``gpu_id`` (on ``cloud`` if given)."""
    rows = [
        p
        for p in cloud_prices()
        if p.gpu == gpu_id and (p.cloud == cloud if cloud is not None else not p.marketplace)
    ]
    if spot:
        rows = [p for p in rows if p.usd_per_gpu_hour_spot is not None]
    if not rows:
        where = f" on {cloud}" if cloud else ""
        kind = "spot " if spot else ""
        known = sorted({p.cloud for p in cloud_prices() if p.gpu == gpu_id})
        hint = f" (priced on: {', '.join(known)})" if known else ""
        raise InvalidInputError(f"no {kind}price for {gpu_id}{where} in the catalog{hint}")

    def key(p: CloudPrice) -> float:
        return p.usd_per_gpu_hour_spot if spot and p.usd_per_gpu_hour_spot else p.usd_per_gpu_hour

    return min(rows, key=key)


def purchase_price(gpu_id: str) -> PurchasePrice:
    rows = [p for p in _purchases() if p.gpu == gpu_id]
    if not rows:
        raise InvalidInputError(f"no purchase price for {gpu_id} in the catalog")
    return min(rows, key=lambda p: p.usd)
