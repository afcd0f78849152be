"""``scripts/llama_server_check.py`` without a server: the table in docs/simulate.md is today's
simulator on the check it was generated from (kept in ``benchmarks/llama_server/``), so a change
to the simulator that moves it shows up here, not only when someone reruns the live check."""

from pathlib import Path

from tests.conftest import load_script
from tests.llama_server import smollm2_gguf

check_script = load_script("llama_server_check")
KEPT = Path(__file__).resolve().parents[1] / "benchmarks/llama_server/2026-12-04/bracket-2"


def _cells(line: str) -> list[str]:
    """metric, measured, predicted, error (the rate is left out: the run file keeps it rounded)."""
    return [c.strip() for c in line.strip("|").split("|")][1:5]


def test_docs_table_is_todays_simulation_of_the_kept_check():
    doc = check_script.DOC.read_text().split(check_script.SECTION, 1)[1]
    documented = [_cells(x) for x in doc.splitlines() if x.startswith(("| 50%", "| 85%"))]
    rows = check_script.recheck(KEPT, smollm2_gguf())
    recomputed = [_cells(x) for x in check_script.table(rows).splitlines()[2:]]
    assert len(recomputed) == 2 * len(check_script.TOLERANCES)
    assert documented == recomputed, (
        "docs/simulate.md's llama-server table no longer matches the simulator: rerun "
        "`python scripts/llama_server_check.py FOLDER`, keep FOLDER under "
        "benchmarks/llama_server/ and point KEPT at it"
    )


def test_a_kept_check_that_missed_reports_its_misses():
    rows = check_script.recheck(KEPT.with_name("one-sided"), smollm2_gguf())
    misses = check_script.Check([], [], rows, {}).failures()
    assert any("85% load, ttft p50" in m for m in misses)
