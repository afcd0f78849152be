"""canserve's simulation checked against a real continuous-batching server (issue 12): calibrated
on closed-loop benches of llama-server (4 slots) at concurrency 1 and 4, the simulation of
open-loop Poisson runs at 50% and 85% of the capacity it predicts must match the measurements:
output throughput within 15%, p50 TTFT, p50 TPOT, p50 and p95 end-to-end latency within 25%
(``scripts/llama_server_check.py`` runs the steps and writes the same table into
docs/simulate.md)."""

import pytest

from tests.conftest import load_script
from tests.llama_server import llama_server, smollm2_gguf

check_script = load_script("llama_server_check")


@pytest.fixture(scope="module")
def four_slots(tmp_path_factory):
    with llama_server(tmp_path_factory.mktemp("llama4"), slots=check_script.SLOTS) as srv:
        yield srv


@pytest.mark.xfail(
    reason="known gap, issue 12 open: with the server warmed up before calibrating and "
    "split_mixed_steps (2026-12-04, 2-core host), 50% load passed in 3 of 3 runs but 85% load "
    "passed in 1 of 3 (TTFT p50 -17% with TPOT p50 +31%; TTFT p50 -36% with the server's ITL "
    "+27% after the run): at 85% the queueing amplifies a service-time error about 7x. Kept "
    "running so the gap stays visible.",
    strict=False,
)
def test_llama_server_open_loop_matches_the_calibrated_simulation(four_slots, tmp_path):
    try:
        check = check_script.run_check(four_slots.url, smollm2_gguf(), tmp_path)
    except RuntimeError as exc:  # a bench or calibrate step failed: say why, with the server's log
        pytest.fail(f"{exc}\n{four_slots.status()}", pytrace=False)
    print(f"\ncalibrations {check.calibration}; capacities {check.capacity_requests_per_s}")
    print(check_script.table(check.rows))
    print(f"drift: {check.drift}")
    assert all(c > 0 for c in check.capacity_requests_per_s)
    # the machine's drift is reported beside any miss: it explains, it does not excuse
    assert not check.failures(), "\n".join(check.failures() + check.drifted())
