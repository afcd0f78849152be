"""Replicas behind a load balancer, driven by arrivals in time order.

The loop is the classic discrete-event one: take the earliest thing that happens next (an
arrival, or the next event of the least-advanced busy replica), let it happen, repeat. Replicas
never run past the next arrival, so a least-loaded balancer sees each replica's true state and
closed-loop users send their next request at the right time.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
from collections.abc import Callable, Iterator

from canserve.sim.replica import Replica
from canserve.sim.workload import Request

__all__ = ["LOAD_BALANCERS", "closed_loop", "run"]


def _round_robin() -> Callable[[list[Replica]], Replica]:
    turn = itertools.count()
    return lambda replicas: replicas[next(turn) % len(replicas)]


def _least_loaded() -> Callable[[list[Replica]], Replica]:
    return lambda replicas: min(replicas, key=lambda r: r.outstanding)


LOAD_BALANCERS: dict[str, Callable[[], Callable[[list[Replica]], Replica]]] = {
    "round-robin": _round_robin,
    "least-loaded": _least_loaded,
}


def run(
    replicas: list[Replica],
    arrivals: Iterator[Request],
    balancer: str = "least-loaded",
    *,
    think: Callable[[Request], Request | None] | None = None,
    fast: bool = True,
) -> list[Request]:
    """Serve ``arrivals`` (sorted by time) on ``replicas``; return every finished request.

    ``think(finished)`` (closed loop) returns that user's next request, or None to stop.
    ``fast``: one replica in open loop takes the hot path (decode jumps run through
    completions); False runs the general event loop (the tests check that they agree).
    """
    if fast and len(replicas) == 1 and think is None:
        return _run_single(replicas[0], arrivals)
    choose = LOAD_BALANCERS[balancer]()
    seq = itertools.count()
    feed = iter(arrivals)
    # (time, tie-breaker, request, came from the feed): the heap always holds the feed's next
    # request, plus any closed-loop follow-ups already scheduled.
    pending: list[tuple[float, int, Request, bool]] = []

    def pull() -> None:
        nxt = next(feed, None)
        if nxt is not None:
            heapq.heappush(pending, (nxt.arrival_s, next(seq), nxt, True))

    finished: list[Request] = []
    single, first = len(replicas) == 1, replicas[0]
    pull()
    while True:
        next_arrival = pending[0][0] if pending else math.inf
        if single:
            replica = None if first.idle else first
        else:
            replica = None
            for r in replicas:
                if not r.idle and (replica is None or r.clock < replica.clock):
                    replica = r
        if replica is not None and replica.clock < next_arrival:
            for req in replica.advance(next_arrival):
                finished.append(req)
                if think is not None:
                    follow = think(req)
                    if follow is not None:
                        heapq.heappush(pending, (follow.arrival_s, next(seq), follow, False))
            continue
        if not pending:
            return finished
        _, _, req, from_feed = heapq.heappop(pending)
        choose(replicas).submit(req)
        if from_feed:
            pull()


def _run_single(replica: Replica, arrivals: Iterator[Request]) -> list[Request]:
    """The open-loop, one-replica case without the event heap (the simulator's hot path)."""
    finished: list[Request] = []
    advance, submit = replica.advance, replica.submit
    for req in arrivals:
        t = req.arrival_s
        while replica.clock < t and (replica.waiting or replica.running or replica.prefill):
            finished += advance(t, True)
        submit(req)
    while not replica.idle:
        finished += advance(math.inf, True)
    return finished


def closed_loop(
    users: int,
    think_s: float,
    make: Callable[[int, float], Request | None],
    rng: random.Random,
) -> tuple[Iterator[Request], Callable[[Request], Request | None]]:
    """First requests of ``users`` users (spread over one think time) and the follow-up rule:
    after each answer the user thinks an exponential time with mean ``think_s``."""
    first = sorted(
        (r for u in range(users) if (r := make(u, rng.uniform(0, think_s))) is not None),
        key=lambda r: r.arrival_s,
    )

    def follow(done: Request) -> Request | None:
        pause = rng.expovariate(1 / think_s) if think_s > 0 else 0.0
        return make(done.user, done.finish_s + pause)

    return iter(first), follow
