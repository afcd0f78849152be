"""Request-level simulation of serving engines: workloads, scheduler, replicas, metrics, and the
steady-state SLO capacity."""

from canserve.sim.api import SimResult, find_max_rate, saturation_throughput, simulate
from canserve.sim.capacity import Capacity, slo_capacity

__all__ = [
    "Capacity",
    "SimResult",
    "find_max_rate",
    "saturation_throughput",
    "simulate",
    "slo_capacity",
]
