"""How the command line shows results: tables that fit the terminal, strict JSON. No formulas.

Every printed size says its unit (GB = 1e9 bytes, GiB = 2**30 bytes, via
:mod:`canserve.units`); narrow terminals (under 100 columns) get compact tables.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from rich.console import Console
from rich.table import Table

from canserve import jsonable
from canserve.catalog.prices import InstancePrice
from canserve.memory import MemoryEstimate
from canserve.perf import PerfEstimate
from canserve.units import GB, GIB, TB, format_bytes, format_params

if TYPE_CHECKING:  # the bench modules load when a bench command runs
    from canserve.bench.compare import CompareRow, Comparison
    from canserve.bench.summary import BenchSummary
    from canserve.bench.sweep import Sweep
    from canserve.catalog.frameworks import Framework
    from canserve.catalog.gpus import GPU
    from canserve.catalog.models import CatalogModel
    from canserve.catalog.quant import QuantFormat
    from canserve.plan import Plan, PlanResult
    from canserve.plan.requirements import Target
    from canserve.services import CostReport, SimulateReport
    from canserve.sim.capacity import Capacity

__all__ = ["err", "out"]

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)
NARROW_COLUMNS = 100


def narrow() -> bool:
    return out.width < NARROW_COLUMNS


def print_json(data: Any) -> None:
    sys.stdout.write(jsonable.dumps(data) + "\n")


def gb_gib(num_bytes: int) -> tuple[str, str]:
    return format_bytes(num_bytes, "GB"), format_bytes(num_bytes, "GiB")


def ms(seconds: float | None) -> str:
    return "-" if seconds is None or seconds != seconds else f"{seconds * 1e3:,.1f} ms"


def print_memory(est: MemoryEstimate) -> None:
    group = est.tensor_parallel_size * est.pipeline_parallel_size
    title = (
        f"{est.model} · {est.quantization} weights · KV {est.kv_cache_dtype} · {est.framework} · "
        f"batch {est.batch} x {est.context:,} tokens"
    )
    table = Table(title=title, title_justify="left")
    table.add_column("component")
    per_gpu = group > 1
    if per_gpu:
        table.add_column(f"per GPU (of {group}) GB", justify="right")
        table.add_column("per GPU GiB", justify="right")
    table.add_column("GB", justify="right")
    table.add_column("GiB", justify="right")
    rows = [
        ("weights", "weights_bytes"),
        ("KV cache", "kv_cache_bytes"),
        ("activations (peak)", "activation_bytes"),
        ("framework overhead", "overhead_bytes"),
        ("total", "total_bytes"),
    ]
    for label, key in rows:
        cells = [*(gb_gib(est.per_gpu[key]) if per_gpu else ()), *gb_gib(getattr(est, key))]
        table.add_row(label, *cells, style="bold" if key == "total_bytes" else None)
    out.print(table)
    load = est.per_gpu["weights_bytes"] + est.per_gpu["overhead_bytes"]
    out.print(
        f"params {format_params(est.params_total)} total, "
        f"{format_params(est.params_active)} active · "
        f"KV {est.kv_bytes_per_token:,} bytes/token, {format_bytes(est.kv_bytes_per_sequence)} "
        f"per {est.context:,}-token sequence"
    )
    out.print(
        f"to load: {format_bytes(load)} per GPU (weights + overhead); to serve {est.batch} x "
        f"{est.context:,} tokens: {format_bytes(est.per_gpu['total_bytes'])} per GPU"
    )
    if est.gpu is not None and est.gpu_memory_bytes is not None:
        print_verdict(est)
    for note in est.notes:
        out.print(f"note: {note}", style="dim")


def print_verdict(est: MemoryEstimate) -> None:
    assert est.gpu_memory_bytes is not None and est.usable_bytes_per_gpu is not None
    verdict = "[green]FITS[/green]" if est.fits else "[red]DOES NOT FIT[/red]"
    out.print(
        f"{verdict} on {est.gpus} x {est.gpu} ({format_bytes(est.gpu_memory_bytes)} = "
        f"{format_bytes(est.gpu_memory_bytes, 'GiB')} each; {est.headroom:.0%} headroom leaves "
        f"{format_bytes(est.usable_bytes_per_gpu)} usable per GPU)"
    )
    out.print(
        f"max concurrent sequences at {est.context:,} tokens: {est.max_concurrent_sequences:,} "
        f"per replica; longest context at batch {est.batch}: {est.max_context_tokens:,} tokens"
    )
    if est.engine_max_concurrent_sequences is not None:
        out.print(
            f"{est.framework} with its default memory fraction would hold "
            f"{est.engine_max_concurrent_sequences:,} such sequences"
        )
    for alloc in est.allocation:
        out.print(
            f"  {alloc.scheme:6s} KV allocation: {format_bytes(alloc.reserved_bytes_per_sequence)}"
            f" reserved per sequence, {alloc.waste_fraction:.1%} wasted, "
            f"max {alloc.max_concurrent_sequences:,} sequences"
        )


def print_perf(est: PerfEstimate) -> None:
    out.print(
        f"{est.model} · {est.quantization} · KV {est.kv_cache_dtype} · {est.framework} · "
        f"{est.gpu} x{est.tensor_parallel_size * est.pipeline_parallel_size} (tp "
        f"{est.tensor_parallel_size}, pp {est.pipeline_parallel_size}) · batch {est.batch} at "
        f"{est.context:,} tokens"
    )
    if not est.fits:
        out.print(f"does not fit: {est.fits_reason}")
        return
    table = Table(show_header=True)
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_row("decode step (whole batch)", ms(est.decode_step_s))
    table.add_row("TPOT (per sequence)", ms(est.tpot_s))
    table.add_row("decode throughput", f"{est.decode_tokens_per_s:,.0f} tok/s")
    table.add_row("bound", est.bound)
    table.add_row("prefill throughput", f"{est.prefill_tokens_per_s:,.0f} tok/s")
    table.add_row("TTFT (prompt alone)", ms(est.ttft_s))
    if est.ttft_with_decodes_s is not None:
        table.add_row(f"TTFT beside {est.batch - 1} decodes", ms(est.ttft_with_decodes_s))
    if est.e2e_s is not None:
        table.add_row(f"end-to-end ({est.prompt} in, {est.output} out)", f"{est.e2e_s:,.2f} s")
    table.add_row(
        "article's bound (HBM / weights)", f"{est.bandwidth_bound_tokens_per_s:,.0f} tok/s"
    )
    out.print(table)
    parts = ", ".join(f"{k.removesuffix('_s')} {ms(v)}" for k, v in est.breakdown_s.items())
    out.print(f"decode step: {parts}")
    out.print(f"kernel costs: {est.calibration_basis}", style="dim")
    for note in est.notes:
        out.print(f"note: {note}", style="dim")


def print_curve(curve: list[PerfEstimate], plot: Path | None) -> None:
    first = curve[0]
    table = Table(
        title=f"{first.model} on {first.gpu} · {first.quantization} · {first.framework} · "
        f"context {first.context:,}",
        title_justify="left",
    )
    for col in ("batch", "decode step", "TPOT", "tok/s", "tok/s per seq", "bound"):
        table.add_column(col, justify="right")
    for e in curve:
        if not e.fits:
            table.add_row(str(e.batch), "does not fit", "", "", "", "")
            continue
        table.add_row(
            str(e.batch),
            ms(e.decode_step_s),
            ms(e.tpot_s),
            f"{e.decode_tokens_per_s:,.0f}",
            f"{1 / e.tpot_s:,.1f}",
            e.bound,
        )
    out.print(table)
    misfit = [e for e in curve if not e.fits]
    if misfit:
        out.print(
            f"batch {', '.join(str(e.batch) for e in misfit)} does not fit: {misfit[0].fits_reason}"
        )
    out.print(f"kernel costs: {first.calibration_basis}", style="dim")
    if plot is not None:
        out.print(f"plot written to {plot}")


def print_sim(report: SimulateReport) -> None:
    r = report.result
    out.print(
        f"{r.model} on {r.replicas} x {r.gpu} (tp {r.tensor_parallel_size}"
        + (f", pp {r.pipeline_parallel_size}" if r.pipeline_parallel_size > 1 else "")
        + ") · "
        f"{r.framework} {r.scheduler} batching · {r.requests:,} requests in "
        f"{r.duration_s:,.1f} s"
    )
    if report.capacity is not None:
        _print_capacity(report.capacity)
    elif report.max_rate_requests_per_s is not None:
        out.print(f"highest rate meeting the SLOs: {report.max_rate_requests_per_s:.2f} requests/s")
    if not r.stable:
        out.print(
            f"[red]unstable[/red]: {r.offered_rate_requests_per_s:,.3g} requests/s arrive but "
            f"the deployment keeps up with {r.saturation_throughput_requests_per_s:,.3g} "
            "requests/s: the queue grows without bound, so latency percentiles depend only on "
            "the run's length (not shown; --json has them)"
        )
        return
    table = Table()
    table.add_column("latency")
    for col in ("p50", "p90", "p95", "p99", "mean"):
        table.add_column(col, justify="right")
    for stats, label in (
        (r.ttft_s, "TTFT"),
        (r.tpot_s, "TPOT"),
        (r.itl_s, "ITL"),
        (r.e2e_s, "end-to-end"),
        (r.queue_s, "queueing"),
    ):
        table.add_row(label, *(ms(stats[c]) for c in ("p50", "p90", "p95", "p99", "mean")))
    out.print(table)
    out.print(
        f"throughput {r.throughput_requests_per_s:,.2f} requests/s, "
        f"{r.throughput_output_tokens_per_s:,.0f} output tokens/s · mean batch "
        f"{r.mean_batch:,.1f} · KV used {r.mean_kv_utilization:.0%} of "
        f"{r.kv_capacity_tokens:,} tokens · GPU busy {r.gpu_utilization:.0%} · "
        f"preemptions {r.preemptions:,}"
    )
    for row in r.slo:
        mark = "[green]met[/green]" if row.met else "[red]missed[/red]"
        out.print(f"SLO {row.name} <= {ms(row.target_s)}: {ms(row.value_s)} {mark}")
    if r.goodput is not None:
        out.print(f"goodput (requests meeting every SLO): {r.goodput:.1%}")
    for note in r.notes:
        out.print(f"note: {note}", style="dim")


def _print_capacity(cap: Capacity) -> None:
    """The steady-state capacity line and how far to trust it."""
    high = cap.bracket[1]
    if cap.mode == "users":
        answer = f"most users meeting the SLOs in steady state: {cap.max_users:,}"
        above = f"{high:,.0f} users" if high is not None else "none found"
    else:
        answer = (
            f"highest steady-state rate meeting the SLOs: {cap.max_rate_requests_per_s:.2f} "
            "requests/s"
        )
        above = f"{high:.2f} requests/s" if high is not None else "none found"
    trust = "converged" if cap.converged else "[yellow]not converged[/yellow]"
    out.print(answer)
    out.print(
        f"  missed at {above} ({cap.limiting_slo or '-'}) · {trust} (halves within "
        f"{cap.spread:.0%}) · {cap.probes} runs, {cap.simulated_requests:,} requests · "
        f"throughput under overload {cap.saturation_throughput_requests_per_s:.2f} requests/s"
    )


def usd(value: float) -> str:
    return f"${value:,.2f}" if value < 100 else f"${value:,.0f}"


def _money_per_m(value: float | None) -> str:
    return "-" if value is None else usd(value)


def print_cost(report: CostReport) -> None:
    est, dep, price = report.estimate, report.deployment, report.price
    if dep is not None:
        if isinstance(price, InstancePrice):
            where = price.offering.cloud + (" spot" if price.spot else "")
            shape = f"{price.instances} x {price.offering.instance}"
        else:
            where, shape = "on-prem", "bought"
        out.print(
            f"{dep.model} on {dep.gpu_count} x {dep.gpu} (tp "
            f"{dep.tensor_parallel_size}, {dep.replicas} replica(s); {shape}) · {where} · "
            f"capacity {dep.capacity_tokens_per_s:,.0f} tokens/s",
            markup=False,
            highlight=False,
        )
    table = Table(title=f"monthly cost, {est.tokens_per_day:,.0f} tokens/day", title_justify="left")
    table.add_column("item")
    table.add_column("USD / month", justify="right")
    for key, value in est.monthly_usd.items():
        table.add_row(key.removesuffix("_usd").replace("_", " "), usd(value))
    table.add_row("total", usd(est.monthly_total_usd), style="bold")
    out.print(table)
    used = est.utilization_at_volume
    out.print(
        f"self-hosted: {usd(est.self_hosted_usd_per_million_tokens)} per 1M tokens at your "
        f"volume"
        + (f" ({used:.0%} of capacity)" if used is not None else "")
        + f"; {_money_per_m(est.self_hosted_usd_per_million_tokens_at_target_utilization)} "
        f"at the {est.utilization:.0%} target utilization"
    )
    apis = Table(title="APIs for the same traffic", title_justify="left")
    for col in ("API", "tier", "$/1M in", "$/1M out", "USD / month", "break-even tokens/day"):
        apis.add_column(col, justify="left" if col in ("API", "tier") else "right")
    for a in est.apis:
        be = a.break_even_tokens_per_day
        apis.add_row(
            a.name + ("" if a.compared else " (not compared)"),
            a.tier,
            usd(a.usd_per_million_input_tokens),
            usd(a.usd_per_million_output_tokens),
            usd(a.monthly_usd),
            f"{be:,.0f}" if be is not None else "never",
        )
    out.print(apis)
    out.print(f"recommendation: [bold]{est.recommendation}[/bold] — {est.recommendation_reason}")
    for alt in report.alternatives[:3]:
        out.print(
            f"  alternative: {alt.gpu_count} x {alt.gpu} ({alt.cloud or 'on-prem'}) "
            f"{usd(alt.monthly_total_usd)}/month",
            style="dim",
        )
    for note in est.notes:
        out.print(f"note: {note}", style="dim")


Row = TypeVar("Row")
Column = tuple[str, str, Callable[[Row], object], bool]  # header, justify, cell, kept when narrow


def table_of(rows: Sequence[Row], columns: list[Column[Row]], **kwargs: Any) -> Table:
    """A table of ``rows``; in a narrow terminal only the columns marked to keep, and numbers
    never wrap (a figure split over two lines reads as two figures)."""
    cols = [c for c in columns if c[3] or not narrow()]
    table = Table(**kwargs)
    for header, justify, _, _ in cols:
        table.add_column(header, justify=justify, no_wrap=justify == "right")  # type: ignore[arg-type]
    for row in rows:
        table.add_row(*(str(cell(row)) for _, _, cell, _ in cols))
    return table


def _plan_columns(several_models: bool) -> list[Column[tuple[int, Plan]]]:
    """Columns of ``(rank, plan)`` rows."""

    def cell(show: Callable[[Plan], object]) -> Callable[[tuple[int, Plan]], object]:
        return lambda row: show(row[1])

    model: list[Column[tuple[int, Plan]]] = (
        [("model", "left", cell(lambda p: p.model.split("/")[-1]), True)] if several_models else []
    )
    return [
        ("#", "right", lambda row: row[0], True),
        *model,
        ("GPUs", "left", cell(lambda p: f"{p.gpu_count} x {p.gpu}"), True),
        (  # tensor x pipeline parallel x replicas
            "layout",
            "right",
            cell(lambda p: f"{p.tensor_parallel_size}x{p.pipeline_parallel_size}x{p.replicas}"),
            True,
        ),
        ("format", "left", cell(lambda p: p.quantization), True),
        ("seqs", "right", cell(lambda p: p.max_num_seqs), False),
        ("$/hour", "right", cell(lambda p: usd(p.cost_usd_per_hour)), True),
        ("$/1M", "right", cell(lambda p: usd(p.cost_usd_per_million_output_tokens)), False),
        ("TTFT p95", "right", cell(lambda p: ms(p.predicted.ttft_s["p95"])), True),
        ("TPOT p99", "right", cell(lambda p: ms(p.predicted.tpot_s["p99"])), False),
        ("e2e p95", "right", cell(lambda p: f"{p.predicted.e2e_s['p95']:,.2f} s"), True),
        ("util", "right", cell(lambda p: f"{p.utilization:.0%}"), False),
    ]


def _target_text(t: Target) -> str:
    value, unit = t.value, t.unit
    if value is None:
        return f"{t.name}: none"
    if unit == "s":
        shown = f"<= {value * 1e3:,.3g} ms" if value < 1 else f"<= {value:,.3g} s"
    elif unit == "fraction":
        shown = f"{value:.0%}"
    elif unit == "x":
        shown = f"{value:g}x"
    else:
        shown = f"{value:,} {unit}"
    return f"{t.name} {shown} ({t.origin}{': ' + t.note if t.note else ''})"


def print_targets(targets: list[Target]) -> None:
    out.print("targets and assumptions:")
    for t in targets:
        out.print(f"  {_target_text(t)}", markup=False, highlight=False)


def _print_plan_one(best: Plan) -> None:
    price = best.price
    out.print(
        f"plan 1: {best.instances} x {best.instance_type}, "
        f"${price.offering.usd_per_instance_hour(price.spot):,.2f}/h each "
        f"({price.offering.source_date}); max_model_len {best.max_model_len:,} "
        f"({best.max_model_len_source})",
        markup=False,
        highlight=False,
    )
    out.print("checklist for plan 1:")
    for item in best.checklist:
        colour = {"pass": "green", "fail": "red", "warn": "yellow"}.get(item.verdict, "cyan")
        out.print(f"  [{colour}]{item.verdict:6s}[/{colour}] {item.item}: {item.detail}")
    if best.prepare_command:
        out.print("prepare the weights first:")
        out.print(best.prepare_command, markup=False, highlight=False)
    out.print("deploy plan 1:")
    out.print(best.vllm_command, markup=False, highlight=False)


def print_plan(result: PlanResult, report: Path | None) -> None:
    r = result.requirements
    who = f"{r.users} users" if r.users is not None else f"{r.rate:g} requests/s"
    required = result.required_output_tokens_per_s
    sizing = (
        f"required {required:,.0f} output tokens/s"
        if required is not None
        else "sized for concurrency (no latency target)"
    )
    out.print(
        f"{result.model}: {who}, {r.prompt} in + {r.output} out tokens -> {sizing} "
        f"({result.searched} layouts searched)"
    )
    print_targets(result.targets)
    table = table_of(
        list(enumerate(result.plans, 1)),
        _plan_columns("," in result.model),
        title="plans, cheapest first",
        title_justify="left",
    )
    out.print(table)
    if result.plans:
        _print_plan_one(result.plans[0])
    if result.rejected:
        out.print(f"rejected (sample of {len(result.rejected)}):")
        for rj in result.rejected[:8]:
            out.print(
                f"  {rj.gpu} {rj.quantization} tp{rj.tensor_parallel_size}: {rj.reason}",
                style="dim",
            )
    if report is not None:
        out.print(f"report written to {report}")
    for note in result.notes:
        out.print(f"note: {note}", style="dim")


def print_bench(d: BenchSummary) -> None:
    state = "" if d.complete else " (stopped early: partial results)"
    out.print(
        f"{d.url} · {d.model} · {d.succeeded}/{d.requests} requests succeeded "
        f"in {d.duration_s:.1f} s{state}"
    )
    table = Table()
    table.add_column("latency")
    for col in ("p50", "p90", "p95", "p99", "mean"):
        table.add_column(col, justify="right")
    for p, label in (
        (d.ttft_s, "TTFT"),
        (d.tpot_s, "TPOT"),
        (d.itl_s, "ITL"),
        (d.e2e_s, "end-to-end"),
    ):
        table.add_row(label, *(ms(v) for v in (p.p50, p.p90, p.p95, p.p99, p.mean)))
    out.print(table)
    out.print(
        f"throughput {d.throughput_requests_per_s:.2f} requests/s, "
        f"{d.throughput_output_tokens_per_s:.1f} output tokens/s · mean output "
        f"{d.mean_output_tokens:.1f} tokens · errors {d.errors}"
    )
    for e in d.error_samples:
        out.print(f"error: {e}", style="red")
    if d.goodput is not None:
        out.print(f"goodput: {d.goodput:.1%}")


def print_sweep(d: Sweep, saved: list[str]) -> None:
    """``bench --sweep``: one row per point, then the measured SLO capacity; ``saved``: the
    files the points were saved to."""
    table = Table(title="bench sweep")
    for col in (
        "run",
        "sent",
        "req/s",
        "tok/s",
        "TTFT p50",
        "TTFT p95",
        "TPOT p50",
        "e2e p50",
        "e2e p95",
        "errors",
        "SLOs met",
    ):
        table.add_column(col, justify="left" if col == "run" else "right")
    for p in d.points:
        s = p.summary
        sent = f"{p.rate:.3g}/s" if p.rate is not None else f"{p.concurrency} in flight"
        met = "-" if p.slo_met is None else ("yes" if p.slo_met else "no")
        table.add_row(
            p.kind,
            sent,
            f"{s.throughput_requests_per_s:.3g}",
            f"{s.throughput_output_tokens_per_s:.1f}",
            ms(s.ttft_s.p50),
            ms(s.ttft_s.p95),
            ms(s.tpot_s.p50),
            ms(s.e2e_s.p50),
            ms(s.e2e_s.p95),
            str(s.errors),
            met,
        )
    out.print(table)
    out.print(
        f"saturation throughput {d.saturation_throughput_requests_per_s:.3g} requests/s "
        f"(synchronous {d.synchronous_throughput_requests_per_s:.3g})"
    )
    if d.slo:
        cap, miss = d.slo_capacity_requests_per_s, d.first_missing_rate_requests_per_s
        if cap is None:
            out.print(f"measured SLO capacity: below the lowest rate tried ({d.slo})")
        else:
            above = f"; {miss:.3g} requests/s misses" if miss is not None else ""
            out.print(f"measured SLO capacity: {cap:.3g} requests/s ({d.slo}{above})")
    for path in saved:
        out.print(f"saved {path}")


def print_models(rows: list[CatalogModel]) -> None:
    columns: list[Column[CatalogModel]] = [
        ("id", "left", lambda r: r.id, True),
        ("aliases", "left", lambda r: ", ".join(r.aliases), False),
        ("type", "left", lambda r: r.spec.model_type, False),
        ("params", "right", lambda r: format_params(r.spec.params_total), True),
        ("active", "right", lambda r: format_params(r.spec.params_active), True),
        ("max context", "right", lambda r: f"{r.spec.max_position_embeddings:,}", False),
    ]
    out.print(table_of(rows, columns, title=f"{len(rows)} models (params in billions)"))


def print_gpus(rows: list[GPU]) -> None:
    def flops(r: GPU, dtype: str) -> str:
        value = r.peak_flops.get(dtype)
        return f"{value / TB:,.0f}" if value else "-"

    columns: list[Column[GPU]] = [
        ("id", "left", lambda r: r.id, True),
        ("alias", "left", lambda r: r.aliases[0] if r.aliases else "", False),
        ("memory GB", "right", lambda r: f"{r.memory_bytes / GB:,.1f}", True),
        ("memory GiB", "right", lambda r: f"{r.memory_bytes / GIB:,.1f}", False),
        ("HBM TB/s", "right", lambda r: f"{r.hbm_bytes_per_s / TB:.2f}", True),
        (
            "16-bit TFLOP/s",
            "right",
            lambda r: flops(r, "bf16" if "bf16" in r.peak_flops else "fp16"),
            True,
        ),
        ("fp8 TFLOP/s", "right", lambda r: flops(r, "fp8"), False),
        ("link GB/s", "right", lambda r: f"{r.interconnect_bytes_per_s / GB:,.0f}", False),
        ("TDP W", "right", lambda r: f"{r.tdp_watts:,.0f}", False),
    ]
    out.print(table_of(rows, columns, title=f"{len(rows)} GPUs (dense peaks, decimal units)"))


def print_quants(rows: list[QuantFormat]) -> None:
    columns: list[Column[QuantFormat]] = [
        ("id", "left", lambda r: r.id, True),
        ("aliases", "left", lambda r: ", ".join(r.aliases), False),
        ("description", "left", lambda r: r.description, True),
    ]
    out.print(table_of(rows, columns, title="quantization formats"))


def print_frameworks(rows: list[Framework]) -> None:
    columns: list[Column[Framework]] = [
        ("id", "left", lambda r: r.id, True),
        ("name", "left", lambda r: r.name, False),
        ("KV allocation", "left", lambda r: r.kv_allocation, True),
        ("block", "right", lambda r: r.kv_block_size_tokens, True),
        ("memory knob", "left", lambda r: r.memory_knob, False),
        ("overhead GiB", "right", lambda r: f"{r.fixed_overhead_bytes / GIB:.2f}", True),
    ]
    out.print(table_of(rows, columns, title="framework profiles"))


def print_compare(result: Comparison) -> None:
    def value(r: CompareRow, v: float) -> str:
        timed = r.metric.split()[0] in ("ttft", "tpot", "e2e")
        if v != v:
            return "-"
        return ms(v) if timed else f"{v:,.2f}"

    columns: list[Column[CompareRow]] = [
        ("metric", "left", lambda r: r.metric, True),
        ("measured", "right", lambda r: value(r, r.measured), True),
        ("predicted", "right", lambda r: value(r, r.predicted), True),
        ("error", "right", lambda r: "-" if r.error != r.error else f"{r.error:+.1%}", True),
    ]
    out.print(
        table_of(
            result.rows,
            columns,
            title=f"{result.model} on {result.gpu} ({result.framework}), "
            f"calibration: {result.calibration}",
            title_justify="left",
        )
    )
    mae = result.median_abs_error
    out.print("median absolute error " + ("-" if mae != mae else f"{mae:.1%}"))
