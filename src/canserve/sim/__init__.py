"""Request-level simulation of serving engines: workloads, scheduler, replicas, metrics."""

from canserve.sim.api import SimResult, find_max_rate, simulate

__all__ = ["SimResult", "find_max_rate", "simulate"]
