"""GPU prices (rows in ``data/prices.toml``): cloud instances as sold (GPUs per instance, the
instance's price per GPU-hour, on-demand and spot), and purchase prices, each with its source
and date.

A deployment is priced on whole instances: one replica (tensor x pipeline parallel) must fit in
one instance, and replicas fill the instances they are given (:func:`price_layout`). By default
a price comes from the cheapest provider that sells with a service level (hyperscalers and GPU
clouds); marketplace tiers (Vast.ai, RunPod Community Cloud: host-dependent, no SLA) are used
only when their cloud is asked for by name.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

from canserve.catalog.loader import load_rows
from canserve.errors import InvalidInputError

__all__ = [
    "CloudPrice",
    "InstancePrice",
    "PurchasePrice",
    "cloud_prices",
    "gpu_hour_price",
    "has_purchase_price",
    "offerings",
    "price_layout",
    "purchase_price",
]


@dataclass(frozen=True)
class CloudPrice:
    """One instance shape as sold: ``gpus_per_instance`` GPUs at ``usd_per_gpu_hour`` each."""

    gpu: str
    cloud: str
    instance: str
    gpus_per_instance: int
    usd_per_gpu_hour: float
    usd_per_gpu_hour_spot: float | None
    source: str
    source_date: str
    region: str = ""

    @property
    def marketplace(self) -> bool:
        return self.cloud == "vast" or "community" in self.instance.lower()

    def rate(self, spot: bool) -> float:
        """USD per GPU-hour (spot when asked for and published)."""
        return (self.usd_per_gpu_hour_spot if spot else None) or self.usd_per_gpu_hour

    def usd_per_instance_hour(self, spot: bool = False) -> float:
        return self.rate(spot) * self.gpus_per_instance


@dataclass(frozen=True)
class InstancePrice:
    """A layout priced on real instances: ``instances`` x ``offering``, each holding
    ``replicas_per_instance`` replicas of ``gpus_per_replica`` GPUs, or (a pipeline-parallel
    replica across nodes) each replica spanning ``instances_per_replica`` whole instances."""

    offering: CloudPrice
    spot: bool
    gpus_per_replica: int
    replicas_per_instance: int
    instances: int
    instances_per_replica: int = 1

    @property
    def replicas(self) -> int:
        if self.instances_per_replica > 1:
            return self.instances // self.instances_per_replica
        return self.instances * self.replicas_per_instance

    @property
    def gpu_count(self) -> int:
        return self.instances * self.offering.gpus_per_instance

    @property
    def usd_per_hour(self) -> float:
        return self.instances * self.offering.usd_per_instance_hour(self.spot)

    def to_dict(self) -> dict[str, object]:
        o = self.offering
        return dict(
            cloud=o.cloud,
            instance=o.instance,
            gpus_per_instance=o.gpus_per_instance,
            instances=self.instances,
            replicas_per_instance=self.replicas_per_instance,
            instances_per_replica=self.instances_per_replica,
            spot=self.spot,
            usd_per_gpu_hour=o.rate(self.spot),
            usd_per_instance_hour=o.usd_per_instance_hour(self.spot),
            usd_per_hour=self.usd_per_hour,
            region=o.region,
            source=o.source,
            source_date=o.source_date,
        )


@dataclass(frozen=True)
class PurchasePrice:
    gpu: str
    usd: float
    kind: str
    source: str
    source_date: str


def _shapes(row: dict[str, object]) -> list[tuple[str, int]]:
    """(instance name, GPU count) for each shape a row sells."""
    counts = row.get("gpu_counts")
    name = str(row.get("instance", ""))
    if not counts:
        return [(name, int(row["gpus_per_instance"]))]  # type: ignore[call-overload]
    assert isinstance(counts, list)
    return [(name if n == 1 else f"{name} ({n} GPUs)", int(n)) for n in counts]


@cache
def cloud_prices() -> tuple[CloudPrice, ...]:
    """Every instance shape in the catalog (a row with ``gpu_counts`` gives one per count)."""
    return tuple(
        CloudPrice(
            gpu=r["gpu"],
            cloud=r["cloud"],
            instance=name,
            gpus_per_instance=count,
            usd_per_gpu_hour=float(r["usd_per_gpu_hour"]),
            usd_per_gpu_hour_spot=r.get("usd_per_gpu_hour_spot"),
            source=r["source"],
            source_date=str(r["source_date"]),
            region=r.get("region", ""),
        )
        for r in load_rows("prices.toml", "cloud_price")
        if "usd_per_gpu_hour" in r
        for name, count in _shapes(r)
    )


@cache
def _purchases() -> tuple[PurchasePrice, ...]:
    return tuple(
        PurchasePrice(
            r["gpu"], float(r["usd"]), r.get("kind", ""), r["source"], str(r["source_date"])
        )
        for r in load_rows("prices.toml", "purchase_price")
    )


def offerings(gpu_id: str, cloud: str | None = None, spot: bool = False) -> list[CloudPrice]:
    """The instance shapes that sell ``gpu_id`` (on ``cloud``; by default not marketplaces)."""
    rows = [
        p
        for p in cloud_prices()
        if p.gpu == gpu_id and (p.cloud == cloud if cloud is not None else not p.marketplace)
    ]
    return [p for p in rows if p.usd_per_gpu_hour_spot is not None] if spot else rows


def _no_price(gpu_id: str, cloud: str | None, spot: bool) -> InvalidInputError:
    where = f" on {cloud}" if cloud else ""
    kind = "spot " if spot else ""
    known = sorted({p.cloud for p in cloud_prices() if p.gpu == gpu_id})
    hint = f" (priced on: {', '.join(known)})" if known else ""
    return InvalidInputError(f"no {kind}price for {gpu_id}{where} in the catalog{hint}")


def gpu_hour_price(gpu_id: str, cloud: str | None = None, spot: bool = False) -> CloudPrice:
    """The cheapest sourced instance shape per GPU-hour for ``gpu_id`` (on ``cloud`` if given)."""
    rows = offerings(gpu_id, cloud, spot)
    if not rows:
        raise _no_price(gpu_id, cloud, spot)
    return min(rows, key=lambda p: (p.rate(spot), p.gpus_per_instance))


def price_layout(
    gpu_id: str,
    gpus_per_replica: int,
    replicas: int,
    *,
    cloud: str | None = None,
    spot: bool = False,
    max_gpus: int | None = None,
    span_instances: bool = False,
) -> InstancePrice:
    """The cheapest whole instances that hold ``replicas`` replicas of ``gpus_per_replica`` GPUs
    (a replica never spans instances, unless ``span_instances``: a pipeline-parallel replica
    may take several whole instances, one or more stages on each), within ``max_gpus`` GPUs in
    all. The instances' spare GPU slots run more replicas (they are paid for). Raises
    InvalidInputError saying why none does.
    """
    shapes = offerings(gpu_id, cloud, spot)
    if not shapes:
        raise _no_price(gpu_id, cloud, spot)
    best: InstancePrice | None = None
    for shape in shapes:
        if shape.gpus_per_instance < gpus_per_replica:
            if not span_instances or gpus_per_replica % shape.gpus_per_instance:
                continue
            span = gpus_per_replica // shape.gpus_per_instance
            option = InstancePrice(shape, spot, gpus_per_replica, 0, replicas * span, span)
        else:
            per_instance = shape.gpus_per_instance // gpus_per_replica
            option = InstancePrice(
                shape, spot, gpus_per_replica, per_instance, math.ceil(replicas / per_instance)
            )
        if max_gpus is not None and option.gpu_count > max_gpus:
            continue
        if best is None or (option.usd_per_hour, option.gpu_count) < (
            best.usd_per_hour,
            best.gpu_count,
        ):
            best = option
    if best is not None:
        return best
    largest = max(s.gpus_per_instance for s in shapes)
    if largest < gpus_per_replica:
        raise InvalidInputError(
            f"no {gpu_id} instance with {gpus_per_replica} GPUs"
            + (f" on {cloud}" if cloud else "")
            + f" (largest sold: {largest}"
            + (", and the stages do not fill whole instances)" if span_instances else ")")
        )
    raise InvalidInputError(
        f"{replicas} replica(s) of {gpus_per_replica} x {gpu_id} need more than "
        f"--gpus {max_gpus} GPUs on the instances sold"
    )


def has_purchase_price(gpu_id: str) -> bool:
    return any(p.gpu == gpu_id for p in _purchases())


def purchase_price(gpu_id: str) -> PurchasePrice:
    rows = [p for p in _purchases() if p.gpu == gpu_id]
    if not rows:
        raise InvalidInputError(f"no purchase price for {gpu_id} in the catalog")
    return min(rows, key=lambda p: p.usd)
