"""Request by request: a saved open-loop run of llama-server beside its calibrated simulation.

``python scripts/llama_server_requests.py RUN.json CALIBRATION.toml [UNTIL_S]`` (files written by
``scripts/llama_server_check.py FOLDER``) replays the run's arrivals in the simulator and prints,
per request in arrival order, measured vs. simulated TTFT, TPOT and end-to-end latency; with
``UNTIL_S`` only the requests sent before then (e.g. before the machine slowed down). It reads
the simulator's finished requests through ``canserve.sim.api.request_latencies``, a diagnostic
hook, not public API. The CPU is the probe kept beside the calibration (``cpu_profile.json``, the
one it was fitted against) where there is one, else this machine's.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def main(argv: list[str]) -> int:
    from tests.llama_server import smollm2_gguf

    import canserve.sim.api as api
    from canserve import load_model, serving_config
    from canserve.bench.compare import predict
    from canserve.bench.summary import load_bench, summarize
    from canserve.catalog.cpu import cpu_profile_path, read_cpu_profile

    run, calibration = argv[0], argv[1]
    until_s = float(argv[2]) if len(argv) > 2 else float("inf")
    cfg, _, records = load_bench(run)
    records = sorted((r for r in records if r.start_s < until_s), key=lambda r: r.start_s)
    finished: list[Any] = []
    original = api.request_latencies

    def keep(done: Any) -> Any:
        finished.extend(sorted(done, key=lambda r: r.arrival_s))
        return original(done)

    api.request_latencies = keep
    kept = cpu_profile_path(Path(calibration).parent)
    serving = serving_config(
        load_model(gguf=smollm2_gguf()),
        gpu=read_cpu_profile(kept) if kept.exists() else "cpu",
        framework="llama.cpp",
        max_num_seqs=4,
        calibration=calibration,
    )
    predict(cfg, summarize(cfg, records, True), serving, records)
    print("sent_s  TTFT measured/simulated  TPOT ms measured/simulated  e2e measured/simulated")
    for m, p in zip(records, finished, strict=True):
        if not m.ok:
            continue
        assert m.first_token_s is not None and m.end_s is not None
        tpot_m = (m.end_s - m.first_token_s) / max(1, m.output_tokens - 1) * 1e3
        tpot_p = (p.finish_s - p.first_token_s) / max(1, p.output - 1) * 1e3
        print(
            f"{m.start_s:6.2f}  {m.first_token_s - m.start_s:5.2f} / "
            f"{p.first_token_s - p.arrival_s:5.2f}        {tpot_m:6.1f} / {tpot_p:6.1f}"
            f"            {m.end_s - m.start_s:5.2f} / {p.finish_s - p.arrival_s:5.2f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
