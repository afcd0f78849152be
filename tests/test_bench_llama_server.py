"""canserve's simulation checked against a real continuous-batching server (issue 12): calibrated
on closed-loop benches of llama-server (4 slots) at concurrency 1 and 4, the simulation of
open-loop Poisson runs at 50% and 85% of the capacity it predicts must match the measurements:
output throughput within 15%, p50 TTFT, p50 TPOT, p50 and p95 end-to-end latency within 25%
(``scripts/llama_server_check.py`` runs the steps and writes the same table into
docs/simulate.md). A miss is an expected failure (see the marker: issue 12 is open on a miss
without drift); where the server's own speed moved by more than ``DRIFT_MAX`` across the run
(concurrency 1 before and after it) or inside it (its prompt steps alone, from its log), the
expected failure names the drift, since the measurement then no longer tests the model."""

import pytest

from tests.conftest import load_script
from tests.llama_server import llama_server, smollm2_gguf

check_script = load_script("llama_server_check")


@pytest.fixture(scope="module")
def four_slots(tmp_path_factory):
    with llama_server(tmp_path_factory.mktemp("llama4"), slots=check_script.SLOTS) as srv:
        yield srv


# Issue 12 stays open on this: on 2026-12-06 a fresh clone's run missed TTFT p50 at 85% load by
# -39.2% (and e2e p95 by -25.7%) with no drift measured around or inside the run (all within 5%),
# benchmarks/llama_server/2026-12-06/fresh-clone-miss/; of the other five full runs that day three
# passed and two missed at 85% with a slowdown inside the run. A miss is reported as an expected
# failure (the table is printed), so the gap stays visible without blocking the suite; a bench or
# calibrate step that fails (pytest.fail) still fails the test.
@pytest.mark.xfail(
    raises=AssertionError,
    strict=False,
    reason="issue 12: 85% load TTFT p50 missed by -39% without measured drift on 2026-12-06",
)
def test_llama_server_open_loop_matches_the_calibrated_simulation(four_slots, tmp_path):
    try:
        check = check_script.run_check(
            four_slots.url, smollm2_gguf(), tmp_path, server_log=four_slots.log
        )
    except RuntimeError as exc:  # a bench or calibrate step failed: say why, with the server's log
        pytest.fail(f"{exc}\n{four_slots.status()}", pytrace=False)
    print(f"\ncalibrations {check.calibration}; capacities {check.capacity_requests_per_s}")
    print(check_script.table(check.rows))
    print(f"drift: {check.drift}")
    assert all(c > 0 for c in check.capacity_requests_per_s)
    misses = check.failures()
    if misses and check.drifted():
        # The server itself served a lone request more than DRIFT_MAX slower or faster after a
        # run than before it, or ran a prompt alone that much slower or faster during the run:
        # the machine changed under the check, so the miss measures the machine, not the model.
        # Reported as such (xfail), never as a pass.
        pytest.xfail("; ".join(check.drifted() + misses))
    assert not misses, "\n".join(misses)
