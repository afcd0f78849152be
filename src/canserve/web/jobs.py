"""What a worker process computes: one use case of :mod:`canserve.services` per endpoint, the
answer encoded as strict JSON (the same bytes the CLI's ``--json`` prints, less indentation)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from canserve import jsonable, services
from canserve.queries import CostQuery, MemoryQuery, PerfQuery, PlanQuery, SimulateQuery

__all__ = ["JOBS", "run_job"]


def _perf(query: PerfQuery) -> Any:
    curve = [e.to_dict() for e in services.run_perf(query)]
    return curve if query.sweep is not None else curve[0]


JOBS: dict[str, tuple[type[Any], Callable[[Any], Any]]] = {
    "memory": (MemoryQuery, lambda q: services.run_memory(q).to_dict()),
    "perf": (PerfQuery, _perf),
    "simulate": (SimulateQuery, lambda q: services.run_simulate(q).to_dict()),
    "plan": (PlanQuery, lambda q: services.run_plan(q).to_dict()),
    "cost": (CostQuery, lambda q: services.run_cost(q).to_dict()),
}


def run_job(name: str, query: Any) -> bytes:
    """The JSON answer of endpoint ``name`` for ``query`` (canserve errors propagate)."""
    kind, function = JOBS[name]
    if not isinstance(query, kind):
        raise TypeError(f"{name} takes a {kind.__name__}, got {type(query).__name__}")
    return jsonable.dumps(function(query), indent=None).encode("utf-8")
