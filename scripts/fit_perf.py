"""Fit the performance model's kernel efficiencies to the H100 measurements; publish the errors.

    .venv/bin/python scripts/fit_perf.py           # refit, rewrite calibration.toml and the doc
    .venv/bin/python scripts/fit_perf.py --check   # exit 1 if docs/perf-accuracy.md is stale

Data: calibration/h100-2026-11-26 (one H100 SXM, Llama-3.1-8B-shaped bf16 model, CUDA graphs;
see its README). Rows are split into a FIT set and a HELD-OUT set before fitting: the fit sees
decode at a 1,024-token context (batch 1-256), two 32K-context rows (to pin the attention
parallelism term), two prefill lengths and the batch-1 transformers row; every other row
(other contexts, other prefill shapes, other transformers batches) is held out, and the doc
reports the held-out errors separately. Needs scipy (``pip install -e '.[dev]'``).
"""

from __future__ import annotations

import csv
import json
import re
import statistics
import sys
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from canserve import get_model, get_quant
from canserve.catalog.gpus import get_gpu
from canserve.perf.calibration import Calibration, FrameworkCosts, load_calibration
from canserve.perf.step import Hardware, Step, step_time

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "calibration" / "h100-2026-11-26"
TOML = ROOT / "src" / "canserve" / "catalog" / "data" / "calibration.toml"
DOC = ROOT / "docs" / "perf-accuracy.md"
SPEC = get_model("llama-3.1-8b")
BF16 = get_quant("bf16")
HW = Hardware(get_gpu("H100-SXM-80GB"), 1, 1)
FITTED = [
    "weight_bw_fraction",
    "kv_bw_fraction",
    "kv_parallel_half",
    "compute_efficiency",
    "step_overhead_s",
]


@dataclass(frozen=True)
class Row:
    kind: str  # decode | prefill | hf-decode | hf-prefill
    batch: int
    tokens: int  # context (decode) or prompt length (prefill)
    measured_s: float
    fit: bool
    source: str

    def step(self) -> Step:
        if self.kind in ("decode", "hf-decode"):
            return Step(decode_seqs=self.batch, context=self.tokens)
        return Step(prefill_tokens=self.tokens, prefill_seqs=self.batch)

    @property
    def framework(self) -> str:
        """The measurement harness has no scheduler: its rows are predicted without one."""
        return "transformers" if self.kind.startswith("hf") else "harness"


def _csv(name: str) -> list[dict[str, str]]:
    with (DATA / name).open() as fh:
        return list(csv.DictReader(fh))


def load_rows() -> list[Row]:
    rows: list[Row] = []
    best = {
        (int(r["batch"]), int(r["context_tokens"])): float(r["step_s"])
        for r in _csv("h100_decode_llama-3.1-8b_long_context.csv")
    }
    for r in _csv("h100_decode_llama-3.1-8b.csv"):
        key = (int(r["batch"]), int(r["context_tokens"]))
        if key not in best:
            best[key] = float(r["step_s"])
    fit_long = {(1, 32768), (8, 32768)}
    for (b, ctx), t in sorted(best.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        fit = ctx == 1024 or (b, ctx) in fit_long
        rows.append(Row("decode", b, ctx, t, fit, "decode (best attention kernel)"))
    for r in _csv("h100_prefill_llama-3.1-8b.csv"):
        b, s = int(r["batch"]), int(r["seq_tokens"])
        rows.append(Row("prefill", b, s, float(r["s"]), b == 1 and s <= 2048, "prefill"))
    for r in _csv("h100_hf_transformers_generate_llama-3.1-8b.csv"):
        b, p, n = int(r["batch"]), int(r["prompt_tokens"]), int(r["new_tokens"])
        step = b / float(r["decode_tokens_per_s"])
        rows.append(Row("hf-decode", b, p + n // 2, step, b == 1, "transformers generate()"))
        rows.append(Row("hf-prefill", b, p, float(r["prefill_s"]), b == 1, "transformers prefill"))
    return rows


HARNESS = FrameworkCosts(
    step_overhead_s=0.0,
    decode_overhead_s=0.0,
    per_layer_overhead_s=0.0,
    cuda_graphs=True,
    continuous_batching=False,
)


def predict(row: Row, cal: Calibration) -> float:
    cal = replace(cal, frameworks={**cal.frameworks, "harness": HARNESS})
    return step_time(
        SPEC, BF16, HW, row.step(), kv_bits=16, framework=row.framework, cal=cal
    ).total_s


def _with(cal: Calibration, values: np.ndarray) -> Calibration:
    return replace(cal, kernels=replace(cal.kernels, **dict(zip(FITTED, values, strict=True))))


def fit_gemm_m_half(peak_fraction: float) -> float:
    """m_half from the decode-shaped GEMM sweep: rate(M) = F * M / (M + m_half)."""
    bench = json.loads((DATA / "h100_microbench.json").read_text())
    peak = HW.gpu.peak_flops["bf16"] * peak_fraction
    halves = []
    for row in bench["gemm_4096x14336_by_M"]:
        m, s = row["M"], row["s"]
        flops = 2 * m * 4096 * 14336
        if m >= 512:  # compute-bound rows only
            rate = flops / s
            halves.append(m * (peak / rate - 1))
    return float(statistics.mean(halves))


def fit() -> Calibration:
    from scipy.optimize import least_squares

    base = load_calibration()
    bench = json.loads((DATA / "h100_microbench.json").read_text())
    gemm_fraction = bench["gemm_bf16_8192_flops_per_s"] / HW.gpu.peak_flops["bf16"]
    cal = replace(
        base,
        kernels=replace(
            base.kernels,
            gemm_flops_fraction=round(gemm_fraction, 3),
            gemm_m_half=round(fit_gemm_m_half(gemm_fraction), 1),
        ),
    )
    hf = [r for r in load_rows() if r.kind.startswith("hf") and r.fit]
    prefill_floor = next(r.measured_s for r in hf if r.kind == "hf-prefill")
    decode_step = next(r.measured_s for r in hf if r.kind == "hf-decode")
    frameworks = dict(cal.frameworks)
    frameworks["transformers"] = replace(
        frameworks["transformers"],
        per_layer_overhead_s=round(prefill_floor / SPEC.num_hidden_layers, 6),
        decode_overhead_s=round(decode_step - prefill_floor, 5),
    )
    cal = replace(cal, frameworks=frameworks)
    rows = [r for r in load_rows() if r.fit and not r.kind.startswith("hf")]
    x0 = np.array([getattr(cal.kernels, name) for name in FITTED])

    def residuals(x: np.ndarray) -> np.ndarray:
        c = _with(cal, x)
        return np.array([np.log(predict(r, c) / r.measured_s) for r in rows])

    bounds = ([0.3, 0.3, 0.1, 0.3, 0.0], [1.0, 1.0, 200.0, 1.0, 0.005])
    result = least_squares(residuals, x0, bounds=bounds)
    rounded = [round(float(v), 4 if i != 2 else 2) for i, v in enumerate(result.x)]
    return _with(cal, np.array(rounded))


def write_toml(cal: Calibration) -> None:
    text = TOML.read_text()
    values = {
        **{n: getattr(cal.kernels, n) for n in FITTED},
        "gemm_flops_fraction": cal.kernels.gemm_flops_fraction,
        "gemm_m_half": cal.kernels.gemm_m_half,
    }
    kernels_end = text.index("\n[interconnect]\n")
    head, tail = text[:kernels_end], text[kernels_end:]
    for name, value in values.items():
        head = re.sub(rf"^{name} = [^ #\n]+", f"{name} = {value}", head, flags=re.M)
    hf = cal.frameworks["transformers"]
    start = tail.index("\n[framework.transformers]\n")
    block = tail[start:]
    for name in ("per_layer_overhead_s", "decode_overhead_s"):
        block = re.sub(rf"^{name} = [^ #\n]+", f"{name} = {getattr(hf, name)}", block, flags=re.M)
    TOML.write_text(head + tail[:start] + block)


def render(cal: Calibration) -> str:
    rows = load_rows()
    lines = [
        "# Performance model accuracy",
        "",
        "Generated by `scripts/fit_perf.py` (do not edit by hand; `tests/test_perf.py` fails when "
        "this page is stale). Measured: one H100 SXM 80GB, a Llama-3.1-8B-shaped bf16 model "
        "(`calibration/h100-2026-11-26`). Predicted: `canserve perf` with the calibration in "
        "`catalog/data/calibration.toml`, without a serving framework's scheduler cost (the "
        "harness has none; the transformers rows use the transformers profile). "
        "Error = predicted / measured - 1.",
        "",
        "Fitted parameters: "
        + ", ".join(f"`{n}` = {getattr(cal.kernels, n)}" for n in FITTED)
        + f"; from the GEMM microbenchmark: `gemm_flops_fraction` = "
        f"{cal.kernels.gemm_flops_fraction}, `gemm_m_half` = {cal.kernels.gemm_m_half}.",
        "",
        "| set | kind | batch | context / prompt | measured ms | predicted ms | error |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    errors: dict[bool, list[float]] = {True: [], False: []}
    engine_held: list[float] = []
    for r in rows:
        p = predict(r, cal)
        err = p / r.measured_s - 1
        errors[r.fit].append(abs(err))
        if not r.fit and not r.kind.startswith("hf"):
            engine_held.append(abs(err))
        lines.append(
            f"| {'fit' if r.fit else 'held out'} | {r.kind} | {r.batch} | {r.tokens:,} "
            f"| {r.measured_s * 1e3:.2f} | {p * 1e3:.2f} | {err:+.1%} |"
        )
    lines += [
        "",
        "| set | rows | median abs error | max abs error |",
        "|---|---:|---:|---:|",
    ]
    for label, errs in (
        ("fit", errors[True]),
        ("held out", errors[False]),
        ("held out, optimized engine rows", engine_held),
    ):
        lines.append(f"| {label} | {len(errs)} | {statistics.median(errs):.1%} | {max(errs):.1%} |")
    lines += [
        "",
        "What this does and does not show: the held-out rows test other contexts (4K-64K), batch "
        "shapes and prefill lengths on the same GPU and model. No other GPU or model size has "
        "been measured yet, so the issue's target (<=10% median, <=25% worst on GPUs and models "
        "not used for fitting) is not yet demonstrated: on other GPUs canserve assumes the same "
        "fractions of the datasheet figures. Runs of `calibration/h100-2026-11-26/measure_gpu.py` "
        "on an H200, an A100 or an L40S, and its MoE and FP8 sections, are the next "
        "measurements to take.",
    ]
    return "\n".join(lines) + "\n"


def main() -> int:
    if "--check" in sys.argv:
        return 0 if DOC.exists() and DOC.read_text() == render(load_calibration()) else 1
    cal = fit()
    write_toml(cal)
    DOC.write_text(render(cal))
    print(DOC.read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
