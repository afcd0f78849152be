"""A self-contained HTML report of a plan: inputs, ranked plans, charts (inline SVG), the
checklist and the deploy commands. No external assets; opens offline."""

from __future__ import annotations

import html
import io
import json
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from canserve.report.plots import _pyplot
from canserve.units import gb

if TYPE_CHECKING:
    from canserve.plan import Plan, PlanResult
    from canserve.plan.requirements import Target
    from canserve.plan.results import Rejection

__all__ = ["write_report"]

_STYLE = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:14px}
td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}
td:first-child,th:first-child{text-align:left}
pre{background:#f5f5f5;padding:1em;overflow-x:auto;font-size:13px}
.pass{color:#080}.fail{color:#b00}.warn{color:#b60}.manual{color:#06c}
.charts{display:flex;flex-wrap:wrap;gap:1em}.charts div{flex:1 1 480px}
"""


def _svg(fig: Any) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg")
    text = buf.getvalue()
    return text[text.index("<svg") :]


def _memory_chart(plan: Plan, headroom: float) -> str:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 1.8), dpi=100)
    used = gb(plan.memory_per_gpu_bytes)
    cap = gb(plan.gpu_memory_bytes)
    ax.barh([0], [used], color="tab:blue", label="planned use")
    limit = 1 - headroom
    label = f"{limit:.0%} ({headroom:.0%} headroom)"
    ax.axvline(cap * limit, color="tab:red", ls="--", label=label)
    ax.set_xlim(0, cap)
    ax.set_yticks([])
    ax.set_xlabel(f"GB per GPU ({plan.gpu}, {cap:,.0f} GB)")
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    text = _svg(fig)
    plt.close(fig)
    return text


def _latency_chart(plan: Plan) -> str:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.2), dpi=100)
    levels = [0.5, 0.9, 0.95, 0.99]
    p = plan.predicted
    for stats, label in ((p.ttft_s, "TTFT"), (p.tpot_s, "TPOT"), (p.e2e_s, "end-to-end")):
        ax.plot([stats[f"p{round(q * 100)}"] for q in levels], levels, "o-", label=label)
    ax.set_xscale("log")
    ax.set_xlabel("latency (s), simulated")
    ax.set_ylabel("fraction of requests")
    ax.legend(fontsize=8)
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    text = _svg(fig)
    plt.close(fig)
    return text


def _cost_chart(plans: list[Plan]) -> str:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.2), dpi=100)
    labels = [f"{p.gpu_count}x {p.gpu}\n{p.quantization}" for p in plans]
    ax.bar(labels, [p.cost_usd_per_hour for p in plans], color="tab:green")
    ax.set_ylabel("USD per hour")
    ax.tick_params(axis="x", labelsize=7)
    fig.tight_layout()
    text = _svg(fig)
    plt.close(fig)
    return text


def _batch_chart(plan: Plan) -> str:
    """Decode throughput and TPOT against batch size for plan 1's replica."""
    plt = _pyplot()
    curve = plan.batch_curve
    batches = [p.batch for p in curve]
    fig, ax = plt.subplots(figsize=(6, 3.2), dpi=100)
    ax.plot(batches, [p.decode_tokens_per_s for p in curve], "o-", color="tab:blue")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("batch (concurrent sequences)")
    ax.set_ylabel("decode tok/s per replica", color="tab:blue")
    right = ax.twinx()
    right.plot(batches, [p.tpot_s * 1e3 for p in curve], "s--", color="tab:red")
    right.set_ylabel("TPOT (ms)", color="tab:red")
    ax.axvline(plan.max_num_seqs, color="grey", ls=":")
    fig.tight_layout()
    text = _svg(fig)
    plt.close(fig)
    return text


def _table(rows: list[dict[str, Any]], cols: list[str]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(r.get(c, '')))}</td>" for c in cols) + "</tr>"
        for r in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _targets_table(targets: list[Target]) -> str:
    rows = [
        dict(
            target=t.name,
            value="none" if t.value is None else f"{t.value:g} {t.unit}",
            origin=t.origin,
            note=t.note,
        )
        for t in targets
    ]
    return _table(rows, ["target", "value", "origin", "note"])


def _rejected_table(rejected: list[Rejection]) -> str:
    rows = [
        dict(
            gpu=r.gpu,
            quantization=r.quantization,
            tensor_parallel_size=r.tensor_parallel_size,
            reason=r.reason,
        )
        for r in rejected
    ]
    return _table(rows, ["gpu", "quantization", "tensor_parallel_size", "reason"])


def _plan_rows(plans: list[Plan]) -> list[dict[str, Any]]:
    return [
        dict(
            rank=i,
            gpus=f"{p.gpu_count} x {p.gpu}",
            instances=f"{p.instances} x {p.instance_type}",
            layout=f"tp {p.tensor_parallel_size}"
            f" / pp {p.pipeline_parallel_size} / {p.replicas} replicas",
            format=p.quantization,
            batch=p.max_num_seqs,
            max_model_len=f"{p.max_model_len:,}",
            usd_per_hour=f"{p.cost_usd_per_hour:,.2f}",
            usd_per_1M_out=f"{p.cost_usd_per_million_output_tokens:,.2f}",
            ttft_p95=f"{p.predicted.ttft_s['p95']:.3f}",
            tpot_p99=f"{p.predicted.tpot_s['p99']:.4f}",
            e2e_p95=f"{p.predicted.e2e_s['p95']:.2f}",
            utilization=f"{p.utilization:.0%}",
        )
        for i, p in enumerate(plans, 1)
    ]


def _plan_one(best: Plan, plans: list[Plan], headroom: float) -> list[str]:
    shape = best.price.offering
    parts = [
        "<h2>Plan 1</h2>",
        f"<p>{best.instances} x {html.escape(best.instance_type)} at "
        f"${shape.usd_per_instance_hour(best.price.spot):,.2f}/h each "
        f"({html.escape(shape.source)}, {html.escape(shape.source_date)}). "
        f"max_model_len {best.max_model_len:,}: {html.escape(best.max_model_len_source)}.</p>",
        "<div class='charts'>",
        f"<div><h3>Memory per GPU</h3>{_memory_chart(best, headroom)}</div>",
        f"<div><h3>Latency percentiles</h3>{_latency_chart(best)}</div>",
        f"<div><h3>Batch-size curve</h3>{_batch_chart(best)}</div>",
        f"<div><h3>Cost of the plans</h3>{_cost_chart(plans)}</div></div>",
    ]
    items = "".join(
        f"<tr><td>{html.escape(c.item)}</td><td class='{c.verdict}'>{c.verdict}</td>"
        f"<td>{html.escape(c.detail)}</td></tr>"
        for c in best.checklist
    )
    parts.append(f"<h3>Production checklist</h3><table>{items}</table>")
    parts.append("<h3>Deploy</h3>")
    if best.prepare_command:
        parts.append(f"<h4>Prepare the weights</h4><pre>{html.escape(best.prepare_command)}</pre>")
    for engine, command in best.commands.items():
        parts.append(f"<h4>{html.escape(engine)}</h4><pre>{html.escape(command)}</pre>")
    parts.append(f"<h4>Kubernetes</h4><pre>{html.escape(best.kubernetes)}</pre>")
    return parts


def write_report(result: PlanResult, path: str | Path) -> Path:
    target = Path(path)
    required = result.required_output_tokens_per_s
    sizing = (
        f"Required throughput: <b>{required:,.0f}</b> output tokens/s."
        if required is not None
        else "No latency target: sized for throughput and concurrency only."
    )
    requirements = json.dumps(asdict(result.requirements))
    parts = [
        f"<h1>canserve plan: {html.escape(result.model)}</h1>",
        f"<p>{sizing}</p><h2>Targets and assumptions</h2>{_targets_table(result.targets)}",
        f"<p>Requirements:</p><pre>{html.escape(requirements)}</pre>",
    ]
    rows = _plan_rows(result.plans)
    parts.append("<h2>Plans, cheapest first</h2>")
    parts.append(_table(rows, list(rows[0]) if rows else ["rank"]))
    if result.plans:
        parts += _plan_one(result.plans[0], result.plans, result.requirements.headroom)
    parts.append("<h2>Rejected configurations (sample)</h2>")
    parts.append(_rejected_table(result.rejected))
    for note in result.notes:
        parts.append(f"<p><i>{html.escape(note)}</i></p>")
    page = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>canserve plan</title>"
        f"<style>{_STYLE}</style></head><body>{''.join(parts)}</body></html>"
    )
    target.write_text(page, encoding="utf-8")
    return target
