"""Capacity planning: layout search under memory, latency and cost, with a checklist."""

from canserve.plan.requirements import Requirements
from canserve.plan.results import Plan, PlanResult
from canserve.plan.search import plan_deployment

__all__ = ["Plan", "PlanResult", "Requirements", "plan_deployment"]
