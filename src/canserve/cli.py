"""The ``canserve`` command line: parse, call the library, format. No formulas live here.

Any :class:`~canserve.errors.CanserveError` becomes one line on stderr and exit status 2.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from canserve import __version__
from canserve.catalog.frameworks import list_frameworks
from canserve.catalog.models import load_model
from canserve.catalog.quant import list_quants
from canserve.errors import CanserveError, InvalidInputError
from canserve.memory import MemoryEstimate, estimate_memory
from canserve.perf import PerfEstimate, estimate_perf, sweep_batch
from canserve.services import gpu_rows, model_rows
from canserve.units import format_bytes

app = typer.Typer(
    name="canserve",
    help="Will this LLM deployment serve my traffic? Memory sizing for self-hosted inference.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console(highlight=False)

ModelArg = Annotated[
    str | None, typer.Argument(help="Catalog name or Hugging Face id (see: canserve models).")
]
ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", help="A config.json (or a folder holding one) instead of MODEL."),
]
HubOpt = Annotated[
    bool,
    typer.Option("--hub", help="Fetch MODEL's config.json from the Hugging Face Hub (cached)."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of tables.")]
GgufOpt = Annotated[
    Path | None, typer.Option("--gguf", help="A GGUF file: its architecture and real tensor sizes.")
]


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2) + "\n")


def _gb_gib(num_bytes: int) -> tuple[str, str]:
    return format_bytes(num_bytes, "GB"), format_bytes(num_bytes, "GiB")


@app.command()
def memory(
    model: ModelArg = None,
    config: ConfigOpt = None,
    hub: HubOpt = False,
    gguf: GgufOpt = None,
    quant: Annotated[
        str | None,
        typer.Option("--quant", "--dtype", help="Weight format: bf16, fp8, awq, gptq, q4_k_m, ..."),
    ] = None,
    kv_dtype: Annotated[
        str, typer.Option("--kv-dtype", help="KV cache dtype: auto, fp8, int8, q8_0, ...")
    ] = "auto",
    batch: Annotated[int, typer.Option(help="Concurrent sequences.")] = 1,
    context: Annotated[
        int | None, typer.Option(help="Tokens per sequence (prompt + output); default 8192.")
    ] = None,
    avg_context: Annotated[
        int | None, typer.Option(help="Typical real length, for allocation waste.")
    ] = None,
    gpu: Annotated[str | None, typer.Option(help="GPU name (see: canserve gpus).")] = None,
    gpus: Annotated[int | None, typer.Option(help="GPU count (default tp x pp).")] = None,
    tp: Annotated[int | None, typer.Option(help="Tensor-parallel size.")] = None,
    pp: Annotated[int, typer.Option(help="Pipeline-parallel size.")] = 1,
    framework: Annotated[str, typer.Option(help="vllm, sglang, tensorrt-llm, tgi, ...")] = "vllm",
    headroom: Annotated[float, typer.Option(help="Memory kept free (checklist: 0.2).")] = 0.2,
    max_num_seqs: Annotated[int | None, typer.Option(help="Default: --batch.")] = None,
    max_num_batched_tokens: Annotated[int | None, typer.Option(help="Prefill chunk.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Weights + KV cache + activations + overhead, and whether it fits a GPU."""
    spec = load_model(model, config, hub=hub, gguf=gguf)
    est = estimate_memory(
        spec,
        quant,
        kv_dtype=kv_dtype,
        batch=batch,
        context=context,
        gpu=gpu,
        gpus=gpus,
        tp=tp,
        pp=pp,
        framework=framework,
        headroom=headroom,
        max_num_seqs=max_num_seqs,
        max_num_batched_tokens=max_num_batched_tokens,
        avg_context=avg_context,
    )
    if as_json:
        _print_json(est.to_dict())
    else:
        _print_memory(est)


def _print_memory(est: MemoryEstimate) -> None:
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
        cells = [*(_gb_gib(est.per_gpu[key]) if per_gpu else ()), *_gb_gib(getattr(est, key))]
        table.add_row(label, *cells, style="bold" if key == "total_bytes" else None)
    out.print(table)
    load = est.per_gpu["weights_bytes"] + est.per_gpu["overhead_bytes"]
    out.print(
        f"params {est.params_total / 1e9:,.2f} B total, {est.params_active / 1e9:,.2f} B active · "
        f"KV {est.kv_bytes_per_token:,} bytes/token, {format_bytes(est.kv_bytes_per_sequence)} "
        f"per {est.context:,}-token sequence"
    )
    out.print(
        f"to load: {format_bytes(load)} per GPU (weights + overhead); to serve {est.batch} x "
        f"{est.context:,} tokens: {format_bytes(est.per_gpu['total_bytes'])} per GPU"
    )
    if est.gpu is not None and est.gpu_memory_bytes is not None:
        _print_verdict(est)
    for note in est.notes:
        out.print(f"note: {note}", style="dim")


def _print_verdict(est: MemoryEstimate) -> None:
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


def _parse_sweep(text: str) -> list[int]:
    """``batch=1,8,32`` -> [1, 8, 32]."""
    name, _, values = text.partition("=")
    if name.strip() != "batch" or not values:
        raise InvalidInputError(f"--sweep takes batch=1,8,32,..., got {text!r}")
    try:
        batches = [int(v) for v in values.split(",") if v.strip()]
    except ValueError:
        raise InvalidInputError(f"--sweep values must be integers, got {values!r}") from None
    if not batches:
        raise InvalidInputError("--sweep needs at least one batch size")
    return batches


@app.command()
def perf(
    model: ModelArg = None,
    config: ConfigOpt = None,
    hub: HubOpt = False,
    gguf: GgufOpt = None,
    gpu: Annotated[str | None, typer.Option(help="GPU name (see: canserve gpus).")] = None,
    quant: Annotated[
        str | None,
        typer.Option("--quant", "--dtype", help="Weight format: bf16, fp8, awq, gptq, q4_k_m, ..."),
    ] = None,
    kv_dtype: Annotated[
        str, typer.Option("--kv-dtype", help="KV cache dtype: auto, fp8, int8, q8_0, ...")
    ] = "auto",
    batch: Annotated[int, typer.Option(help="Concurrent sequences decoding together.")] = 1,
    context: Annotated[
        int | None, typer.Option(help="Tokens in each sequence's KV cache (default 8192).")
    ] = None,
    prompt: Annotated[int | None, typer.Option(help="Prompt tokens (for TTFT and e2e).")] = None,
    output: Annotated[int | None, typer.Option(help="Output tokens (for e2e).")] = None,
    tp: Annotated[int, typer.Option(help="Tensor-parallel size.")] = 1,
    pp: Annotated[int, typer.Option(help="Pipeline-parallel size.")] = 1,
    framework: Annotated[str, typer.Option(help="vllm, sglang, tensorrt-llm, tgi, ...")] = "vllm",
    max_num_batched_tokens: Annotated[int | None, typer.Option(help="Prefill chunk.")] = None,
    calibration: Annotated[
        Path | None, typer.Option(help="A calibration TOML that overrides the built-in one.")
    ] = None,
    sweep: Annotated[
        str | None, typer.Option(help="Batch-size curve, e.g. batch=1,8,32,128.")
    ] = None,
    plot: Annotated[
        Path | None, typer.Option(help="Write the batch curve as PNG or SVG (with --sweep).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Decode step, TPOT, prefill, TTFT and end-to-end latency on one replica."""
    if gpu is None:
        raise InvalidInputError("perf needs --gpu NAME (see: canserve gpus)")
    spec = load_model(model, config, hub=hub, gguf=gguf)
    kwargs: dict[str, Any] = dict(
        model=spec,
        gpu=gpu,
        quant=quant,
        kv_dtype=kv_dtype,
        context=context,
        prompt=prompt,
        output=output,
        tp=tp,
        pp=pp,
        framework=framework,
        max_num_batched_tokens=max_num_batched_tokens,
        calibration=calibration,
    )
    if sweep is None:
        if plot is not None:
            raise InvalidInputError("--plot needs --sweep batch=...")
        est = estimate_perf(batch=batch, **kwargs)
        _print_json(est.to_dict()) if as_json else _print_perf(est)
        return
    curve = sweep_batch(_parse_sweep(sweep), **kwargs)
    if plot is not None:
        from canserve.report.plots import plot_batch_curve

        plot_batch_curve(curve, plot)
    if as_json:
        _print_json([e.to_dict() for e in curve])
    else:
        _print_curve(curve, plot)


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:,.2f} ms"


def _print_perf(est: PerfEstimate) -> None:
    out.print(
        f"{est.model} · {est.quantization} · KV {est.kv_cache_dtype} · {est.framework} · "
        f"{est.gpu} x{est.tensor_parallel_size * est.pipeline_parallel_size} (tp "
        f"{est.tensor_parallel_size}, pp {est.pipeline_parallel_size}) · batch {est.batch} at "
        f"{est.context:,} tokens"
    )
    table = Table(show_header=True)
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_row("decode step (whole batch)", _ms(est.decode_step_s))
    table.add_row("TPOT (per sequence)", _ms(est.tpot_s))
    table.add_row("decode throughput", f"{est.decode_tokens_per_s:,.0f} tok/s")
    table.add_row("bound", est.bound)
    table.add_row("prefill throughput", f"{est.prefill_tokens_per_s:,.0f} tok/s")
    table.add_row("TTFT (prompt alone)", _ms(est.ttft_s))
    if est.ttft_with_decodes_s is not None:
        table.add_row(f"TTFT beside {est.batch - 1} decodes", _ms(est.ttft_with_decodes_s))
    if est.e2e_s is not None:
        table.add_row(f"end-to-end ({est.prompt} in, {est.output} out)", f"{est.e2e_s:,.2f} s")
    table.add_row(
        "article's bound (HBM / weights)", f"{est.bandwidth_bound_tokens_per_s:,.0f} tok/s"
    )
    out.print(table)
    parts = ", ".join(f"{k.removesuffix('_s')} {_ms(v)}" for k, v in est.breakdown_s.items())
    out.print(f"decode step: {parts}")
    for note in est.notes:
        out.print(f"note: {note}", style="dim")


def _print_curve(curve: list[PerfEstimate], plot: Path | None) -> None:
    first = curve[0]
    table = Table(
        title=f"{first.model} on {first.gpu} · {first.quantization} · {first.framework} · "
        f"context {first.context:,}",
        title_justify="left",
    )
    for col in ("batch", "decode step", "TPOT", "tok/s", "tok/s per seq", "bound"):
        table.add_column(col, justify="right")
    for e in curve:
        table.add_row(
            str(e.batch),
            _ms(e.decode_step_s),
            _ms(e.tpot_s),
            f"{e.decode_tokens_per_s:,.0f}",
            f"{1 / e.tpot_s:,.1f}",
            e.bound,
        )
    out.print(table)
    if plot is not None:
        out.print(f"plot written to {plot}")


@app.command()
def simulate(
    model: ModelArg = None,
    config: ConfigOpt = None,
    hub: HubOpt = False,
    gguf: GgufOpt = None,
    gpu: Annotated[str | None, typer.Option(help="GPU name (see: canserve gpus).")] = None,
    quant: Annotated[
        str | None, typer.Option("--quant", "--dtype", help="Weight format (default: checkpoint).")
    ] = None,
    kv_dtype: Annotated[str, typer.Option("--kv-dtype", help="KV cache dtype.")] = "auto",
    tp: Annotated[int, typer.Option(help="Tensor-parallel size of each replica.")] = 1,
    replicas: Annotated[int, typer.Option(help="Data-parallel replicas.")] = 1,
    framework: Annotated[str, typer.Option(help="vllm, sglang, transformers, ...")] = "vllm",
    rate: Annotated[float | None, typer.Option(help="Open loop: requests per second.")] = None,
    cv: Annotated[float, typer.Option(help="Burstiness: gap coefficient of variation.")] = 1.0,
    users: Annotated[int | None, typer.Option(help="Closed loop: concurrent users.")] = None,
    think_s: Annotated[float, typer.Option(help="Closed loop: mean think time (s).")] = 5.0,
    trace: Annotated[Path | None, typer.Option(help="CSV/JSONL trace to replay.")] = None,
    prompt: Annotated[
        str, typer.Option(help="Prompt tokens: 512, uniform:a-b, lognormal:mean,cv, file:PATH")
    ] = "512",
    output: Annotated[str, typer.Option(help="Output tokens (same forms as --prompt).")] = "256",
    duration_s: Annotated[float | None, typer.Option(help="Seconds of arrivals.")] = None,
    requests: Annotated[int | None, typer.Option(help="Number of requests (default 1000).")] = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    slo: Annotated[str | None, typer.Option(help="e.g. ttft_p95=1s,tpot_p99=50ms")] = None,
    max_num_seqs: Annotated[int | None, typer.Option(help="Scheduler batch limit.")] = None,
    max_num_batched_tokens: Annotated[int | None, typer.Option(help="Step token budget.")] = None,
    max_model_len: Annotated[int | None, typer.Option(help="Longest sequence.")] = None,
    static: Annotated[bool, typer.Option("--static", help="Static batching instead.")] = False,
    lb: Annotated[str, typer.Option(help="least-loaded or round-robin.")] = "least-loaded",
    find_max_rate: Annotated[
        bool, typer.Option("--find-max-rate", help="Search the highest rate meeting --slo.")
    ] = False,
    calibration: Annotated[Path | None, typer.Option(help="Calibration TOML.")] = None,
    plot_cdf: Annotated[Path | None, typer.Option(help="Latency CDF plot (PNG/SVG).")] = None,
    plot_timeline: Annotated[
        Path | None, typer.Option(help="Batch size and KV use over time (PNG/SVG).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Latency percentiles under load: a continuous-batching simulation of the deployment."""
    from canserve import sim

    if gpu is None:
        raise InvalidInputError("simulate needs --gpu NAME (see: canserve gpus)")
    spec = load_model(model, config, hub=hub, gguf=gguf)
    kwargs: dict[str, Any] = dict(
        quant=quant,
        kv_dtype=kv_dtype,
        tp=tp,
        replicas=replicas,
        framework=framework,
        prompt=prompt,
        output=output,
        seed=seed,
        max_num_seqs=max_num_seqs,
        max_num_batched_tokens=max_num_batched_tokens,
        max_model_len=max_model_len,
        static_batching=True if static else None,
        load_balancer=lb,
        calibration=calibration,
    )
    max_rate = None
    if find_max_rate:
        if slo is None:
            raise InvalidInputError("--find-max-rate needs --slo")
        max_rate, result = sim.find_max_rate(spec, gpu, slo, cv=cv, **kwargs)
    else:
        result = sim.simulate(
            spec,
            gpu,
            rate=rate,
            cv=cv,
            users=users,
            think_s=think_s,
            trace=trace,
            duration_s=duration_s,
            requests=requests,
            slo=slo,
            **kwargs,
        )
    if plot_cdf is not None or plot_timeline is not None:
        from canserve.report.plots import plot_latency_cdf
        from canserve.report.plots import plot_timeline as draw_timeline

        if plot_cdf is not None:
            plot_latency_cdf(result, plot_cdf)
        if plot_timeline is not None:
            draw_timeline(result, plot_timeline)
    data = result.to_dict()
    if max_rate is not None:
        data["max_rate_requests_per_s"] = max_rate
    if as_json:
        _print_json(data)
    else:
        _print_sim(data)


def _print_sim(d: dict[str, Any]) -> None:
    out.print(
        f"{d['model']} on {d['replicas']} x {d['gpu']} (tp {d['tensor_parallel_size']}) · "
        f"{d['framework']} {d['scheduler']} batching · {d['requests']:,} requests in "
        f"{d['duration_s']:,.1f} s"
    )
    if "max_rate_requests_per_s" in d:
        out.print(f"highest rate meeting the SLOs: {d['max_rate_requests_per_s']:.2f} requests/s")
    table = Table()
    table.add_column("latency")
    for col in ("p50", "p90", "p95", "p99", "mean"):
        table.add_column(col, justify="right")
    for key, label in (
        ("ttft_s", "TTFT"),
        ("tpot_s", "TPOT"),
        ("itl_s", "ITL"),
        ("e2e_s", "end-to-end"),
        ("queue_s", "queueing"),
    ):
        table.add_row(label, *(_ms(d[key][c]) for c in ("p50", "p90", "p95", "p99", "mean")))
    out.print(table)
    out.print(
        f"throughput {d['throughput_requests_per_s']:,.2f} requests/s, "
        f"{d['throughput_output_tokens_per_s']:,.0f} output tokens/s · mean batch "
        f"{d['mean_batch']:,.1f} · KV used {d['mean_kv_utilization']:.0%} of "
        f"{d['kv_capacity_tokens']:,} tokens · GPU busy {d['gpu_utilization']:.0%} · "
        f"preemptions {d['preemptions']:,}"
    )
    for row in d["slo"]:
        mark = "[green]met[/green]" if row["met"] else "[red]missed[/red]"
        out.print(f"SLO {row['name']} <= {_ms(row['target_s'])}: {_ms(row['value_s'])} {mark}")
    if d["goodput"] is not None:
        out.print(f"goodput (requests meeting every SLO): {d['goodput']:.1%}")
    for note in d["notes"]:
        out.print(f"note: {note}", style="dim")


@app.command()
def cost(
    model: ModelArg = None,
    config: ConfigOpt = None,
    hub: HubOpt = False,
    gpu: Annotated[str | None, typer.Option(help="GPU to price (see: canserve gpus).")] = None,
    gpus: Annotated[int | None, typer.Option(help="GPU count (default: fewest that fit).")] = None,
    quant: Annotated[str | None, typer.Option("--quant", "--dtype", help="Weight format.")] = None,
    usd_per_hour: Annotated[
        float | None, typer.Option(help="Instead of MODEL/--gpu: the deployment's $/hour.")
    ] = None,
    tokens_per_day: Annotated[float, typer.Option(help="Tokens per day (input + output).")] = 1e6,
    utilization: Annotated[float, typer.Option(help="Share of capacity used (0-1).")] = 0.6,
    input_share: Annotated[float, typer.Option(help="Share of tokens that are input.")] = 0.4,
    prompt: Annotated[int, typer.Option(help="Prompt tokens per request (capacity).")] = 200,
    output: Annotated[int, typer.Option(help="Output tokens per request (capacity).")] = 300,
    cloud: Annotated[
        str | None, typer.Option(help="Price on this cloud (default: cheapest).")
    ] = None,
    spot: Annotated[bool, typer.Option("--spot", help="Spot / preemptible prices.")] = False,
    on_prem: Annotated[bool, typer.Option("--on-prem", help="Buy the GPUs instead.")] = False,
    plot: Annotated[Path | None, typer.Option(help="Monthly cost vs tokens/day (PNG/SVG).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Self-hosted cost per 1M tokens, total cost of ownership, break-even against APIs."""
    from canserve.services import cost_report

    spec = load_model(model, config, hub=hub) if (model or config) else None
    est, data = cost_report(
        spec,
        gpu,
        tokens_per_day=tokens_per_day,
        gpus=gpus,
        quant=quant,
        usd_per_hour=usd_per_hour,
        utilization=utilization,
        input_share=input_share,
        prompt=prompt,
        output=output,
        cloud=cloud,
        spot=spot,
        on_prem=on_prem,
    )
    if plot is not None:
        from canserve.report.plots import plot_cost

        plot_cost(est, plot)
    if as_json:
        _print_json(data)
    else:
        _print_cost(data)


def _usd(value: float) -> str:
    return f"${value:,.2f}" if value < 100 else f"${value:,.0f}"


def _print_cost(d: dict[str, Any]) -> None:
    if "deployment" in d:
        dep, price = d["deployment"], d["price"]
        where = price.get("cloud", "on-prem") + (" spot" if price.get("spot") else "")
        out.print(
            f"{dep['model']} on {dep['gpu_count']} x {dep['gpu']} (tp "
            f"{dep['tensor_parallel_size']}, {dep['replicas']} replica(s)) · {where} · capacity "
            f"{dep['capacity_tokens_per_s']:,.0f} tokens/s"
        )
    table = Table(
        title=f"monthly cost, {d['tokens_per_day']:,.0f} tokens/day", title_justify="left"
    )
    table.add_column("item")
    table.add_column("USD / month", justify="right")
    for key, value in d["monthly_usd"].items():
        table.add_row(key.removesuffix("_usd").replace("_", " "), _usd(value))
    table.add_row("total", _usd(d["monthly_total_usd"]), style="bold")
    out.print(table)
    out.print(
        f"self-hosted: {_usd(d['self_hosted_usd_per_million_tokens'])} per 1M tokens at "
        f"{d['utilization']:.0%} utilization"
    )
    apis = Table(title="APIs for the same traffic", title_justify="left")
    for col in ("API", "$/1M in", "$/1M out", "USD / month", "break-even tokens/day"):
        apis.add_column(col, justify="left" if col == "API" else "right")
    for a in d["apis"]:
        be = a["break_even_tokens_per_day"]
        apis.add_row(
            a["name"],
            _usd(a["usd_per_million_input_tokens"]),
            _usd(a["usd_per_million_output_tokens"]),
            _usd(a["monthly_usd"]),
            f"{be:,.0f}" if be is not None else "never (capacity)",
        )
    out.print(apis)
    out.print(f"recommendation: [bold]{d['recommendation']}[/bold] — {d['recommendation_reason']}")
    for note in d["notes"]:
        out.print(f"note: {note}", style="dim")


def _csv_list(text: str | None) -> list[str] | None:
    return [t.strip() for t in text.split(",") if t.strip()] if text else None


@app.command()
def plan(
    model: ModelArg = None,
    config: ConfigOpt = None,
    hub: HubOpt = False,
    users: Annotated[int | None, typer.Option(help="Concurrent users (peak).")] = None,
    rate: Annotated[float | None, typer.Option(help="Or: requests per second.")] = None,
    prompt: Annotated[int, typer.Option(help="Prompt tokens per request.")] = 200,
    output: Annotated[int, typer.Option(help="Output tokens per request.")] = 300,
    latency_s: Annotated[
        float | None, typer.Option(help="End-to-end target per request, at P95 (s).")
    ] = None,
    ttft_p95_s: Annotated[float | None, typer.Option(help="TTFT target at P95 (s).")] = None,
    tpot_p99_s: Annotated[float | None, typer.Option(help="TPOT target at P99 (s).")] = None,
    think_s: Annotated[float, typer.Option(help="Users' think time between requests (s).")] = 0.0,
    peak_factor: Annotated[
        float, typer.Option(help="Size for this multiple of the traffic.")
    ] = 1.0,
    max_context: Annotated[int | None, typer.Option(help="max_model_len to deploy.")] = None,
    gpus: Annotated[
        str | None, typer.Option(help="GPU types to consider, comma-separated.")
    ] = None,
    quant: Annotated[str | None, typer.Option(help="Formats to consider, comma-separated.")] = None,
    cloud: Annotated[str | None, typer.Option(help="Only this cloud's prices.")] = None,
    spot: Annotated[bool, typer.Option("--spot", help="Spot prices.")] = False,
    top: Annotated[int, typer.Option(help="Plans to show.")] = 3,
    headroom: Annotated[float, typer.Option(help="Memory kept free (checklist: 0.2).")] = 0.2,
    budget_usd_per_hour: Annotated[
        float | None, typer.Option(help="Drop layouts that cost more per hour.")
    ] = None,
    rank: Annotated[str, typer.Option(help="cost (default) or latency.")] = "cost",
    calibration: Annotated[
        Path | None, typer.Option(help="A calibration TOML (from canserve calibrate).")
    ] = None,
    report: Annotated[Path | None, typer.Option(help="Write a self-contained HTML report.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """The cheapest GPU layout that serves the traffic within the latency targets."""
    from canserve.plan import Requirements
    from canserve.services import plan_models

    names: list[str | None] = [m.strip() for m in (model or "").split(",") if m.strip()]
    specs = [load_model(name, config, hub=hub) for name in names or [None]]
    if not (1 <= top <= 20):
        raise InvalidInputError("--top must be between 1 and 20")
    if not 1 <= peak_factor <= 100:
        raise InvalidInputError("--peak-factor must be between 1 and 100")
    for name, value in (("prompt", prompt), ("output", output)):
        if not 1 <= value <= min(s.max_position_embeddings for s in specs):
            raise InvalidInputError(f"--{name} must be between 1 and the model's context")
    targets: tuple[tuple[str, float | None], ...] = (
        ("latency-s", latency_s),
        ("ttft-p95-s", ttft_p95_s),
        ("tpot-p99-s", tpot_p99_s),
    )
    for name, target in targets:
        if target is not None and not 0 < target <= 3600:
            raise InvalidInputError(f"--{name} must be between 0 and 3600 s")
    if users is not None and not 1 <= users <= 1_000_000:
        raise InvalidInputError("--users must be between 1 and 1,000,000")
    if rate is not None and not 0 < rate <= 1e6:
        raise InvalidInputError("--rate must be between 0 and 1e6 requests/s")
    if latency_s is None and ttft_p95_s is None and tpot_p99_s is None:
        latency_s = 5.0  # the article's chat target
    req = Requirements(
        prompt=prompt,
        output=output,
        users=users,
        rate=rate,
        think_s=think_s,
        latency_s=latency_s,
        ttft_p95_s=ttft_p95_s,
        tpot_p99_s=tpot_p99_s,
        peak_factor=peak_factor,
        max_context=max_context,
        headroom=headroom,
    )
    if budget_usd_per_hour is not None and budget_usd_per_hour <= 0:
        raise InvalidInputError("--budget-usd-per-hour must be positive")
    result = plan_models(
        specs,
        req,
        top=top,
        rank=rank,
        gpus=_csv_list(gpus),
        quants=_csv_list(quant),
        cloud=cloud,
        spot=spot,
        budget_usd_per_hour=budget_usd_per_hour,
        calibration=calibration,
    )
    data = result.to_dict()
    if report is not None:
        from canserve.report.html import write_report

        write_report(result, report)
    if as_json:
        _print_json(data)
    else:
        _print_plan(data, report)
    if not result.plans:
        raise InvalidInputError(result.notes[0] if result.notes else "no plan meets the targets")


def _print_plan(d: dict[str, Any], report: Path | None) -> None:
    r = d["requirements"]
    who = f"{r['users']} users" if r["users"] is not None else f"{r['rate']:g} requests/s"
    out.print(
        f"{d['model']}: {who}, {r['prompt']} in + {r['output']} out tokens"
        + (f", {r['latency_s']:g} s target" if r["latency_s"] else "")
        + f" -> required {d['required_output_tokens_per_s']:,.0f} output tokens/s "
        f"({d['searched']} layouts searched)"
    )
    table = Table(title="plans, cheapest first", title_justify="left")
    for col in (
        "#",
        "model",
        "GPUs",
        "tp x pp x replicas",
        "format",
        "batch",
        "$/hour",
        "$/1M out",
        "TTFT p95",
        "TPOT p99",
        "e2e p95",
        "GPU busy",
    ):
        table.add_column(col, justify="left" if col in ("model", "GPUs", "format") else "right")
    for i, p in enumerate(d["plans"], 1):
        pr = p["predicted"]
        table.add_row(
            str(i),
            p["model"].split("/")[-1],
            f"{p['gpu_count']} x {p['gpu']}",
            f"{p['tensor_parallel_size']} x {p['pipeline_parallel_size']} x {p['replicas']}",
            p["quantization"],
            str(p["max_num_seqs"]),
            _usd(p["cost_usd_per_hour"]),
            _usd(p["cost_usd_per_million_output_tokens"]),
            _ms(pr["ttft_s"]["p95"]),
            _ms(pr["tpot_s"]["p99"]),
            f"{pr['e2e_s']['p95']:.2f} s",
            f"{pr['gpu_utilization']:.0%}",
        )
    out.print(table)
    if d["plans"]:
        best = d["plans"][0]
        out.print("checklist for plan 1:")
        for item in best["checklist"]:
            colour = {"pass": "green", "fail": "red", "warn": "yellow"}.get(item["verdict"], "cyan")
            out.print(
                f"  [{colour}]{item['verdict']:6s}[/{colour}] {item['item']}: {item['detail']}"
            )
        out.print("deploy plan 1:")
        out.print(best["vllm_command"], markup=False, highlight=False)
    if d["rejected"]:
        out.print(f"rejected (sample of {len(d['rejected'])}):")
        for rj in d["rejected"][:8]:
            out.print(
                f"  {rj['gpu']} {rj['quantization']} tp{rj['tensor_parallel_size']}: "
                f"{rj['reason']}",
                style="dim",
            )
    if report is not None:
        out.print(f"report written to {report}")
    for note in d["notes"]:
        out.print(f"note: {note}", style="dim")


@app.command()
def models(
    filter: Annotated[str | None, typer.Argument(help="Substring to filter on.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """The built-in model catalog."""
    rows = model_rows(filter)
    if as_json:
        _print_json(rows)
        return
    table = Table(title=f"{len(rows)} models")
    for col in ("id", "aliases", "type", "params (B)", "active (B)", "max context"):
        table.add_column(col, justify="right" if "(" in col or "context" in col else "left")
    for r in rows:
        table.add_row(
            r["id"],
            ", ".join(r["aliases"]),
            r["model_type"],
            f"{r['params_total'] / 1e9:,.2f}",
            f"{r['params_active'] / 1e9:,.2f}",
            f"{r['max_position_embeddings']:,}",
        )
    out.print(table)


@app.command()
def gpus(
    filter: Annotated[str | None, typer.Argument(help="Substring to filter on.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """The built-in GPU catalog (dense peak FLOP/s, decimal units)."""
    rows = gpu_rows(filter)
    if as_json:
        _print_json(rows)
        return
    table = Table(title=f"{len(rows)} GPUs")
    for col in (
        "id",
        "alias",
        "memory GB",
        "memory GiB",
        "HBM TB/s",
        "bf16 TFLOP/s",
        "fp8 TFLOP/s",
        "link GB/s",
        "TDP W",
    ):
        table.add_column(col, justify="left" if col in ("id", "alias") else "right")
    for r in rows:
        fp8 = r["peak_flops"].get("fp8")
        table.add_row(
            r["id"],
            r["aliases"][0] if r["aliases"] else "",
            f"{r['memory_bytes'] / 1e9:,.1f}",
            f"{r['memory_bytes'] / 2**30:,.1f}",
            f"{r['hbm_bytes_per_s'] / 1e12:.2f}",
            f"{r['peak_flops']['bf16'] / 1e12:,.0f}",
            f"{fp8 / 1e12:,.0f}" if fp8 else "-",
            f"{r['interconnect_bytes_per_s'] / 1e9:,.0f}",
            f"{r['tdp_watts']:,.0f}",
        )
    out.print(table)


@app.command()
def quants(as_json: JsonOpt = False) -> None:
    """Weight quantization formats canserve sizes."""
    rows: list[dict[str, Any]] = [
        dict(id=q.id, aliases=list(q.aliases), description=q.description, source=q.source)
        for q in list_quants()
    ]
    if as_json:
        _print_json(rows)
        return
    table = Table(title="quantization formats")
    for col in ("id", "aliases", "description"):
        table.add_column(col)
    for r in rows:
        table.add_row(r["id"], ", ".join(r["aliases"]), r["description"])
    out.print(table)


@app.command()
def frameworks(as_json: JsonOpt = False) -> None:
    """Serving-framework memory profiles."""
    rows: list[dict[str, Any]] = [
        dict(
            id=f.id,
            name=f.name,
            kv_allocation=f.kv_allocation,
            kv_block_size_tokens=f.kv_block_size_tokens,
            memory_fraction=f"{f.memory_fraction_key}={f.memory_fraction_default}",
            overhead_bytes=f.cuda_context_bytes + f.cuda_graph_bytes + f.workspace_bytes,
        )
        for f in list_frameworks()
    ]
    if as_json:
        _print_json(rows)
        return
    table = Table(title="framework profiles")
    for col in ("id", "name", "KV allocation", "block", "memory knob", "overhead GiB"):
        table.add_column(col)
    for r in rows:
        table.add_row(
            r["id"],
            r["name"],
            r["kv_allocation"],
            str(r["kv_block_size_tokens"]),
            r["memory_fraction"],
            f"{r['overhead_bytes'] / 2**30:.2f}",
        )
    out.print(table)


@app.command()
def bench(
    url: Annotated[str, typer.Argument(help="Base URL of an OpenAI-compatible server.")],
    model: Annotated[str, typer.Option(help="Model name the server serves.")],
    rate: Annotated[float | None, typer.Option(help="Open loop: requests per second.")] = None,
    concurrency: Annotated[
        int | None, typer.Option(help="Closed loop: requests in flight.")
    ] = None,
    prompt: Annotated[str, typer.Option(help="Prompt tokens: 128, uniform:a-b, ...")] = "128",
    output: Annotated[str, typer.Option(help="Output tokens (max_tokens): 64, ...")] = "64",
    duration_s: Annotated[float | None, typer.Option(help="Stop after this many seconds.")] = None,
    requests: Annotated[int | None, typer.Option(help="Stop after this many requests.")] = None,
    endpoint: Annotated[str, typer.Option(help="completions or chat.")] = "completions",
    slo: Annotated[str | None, typer.Option(help="e.g. ttft_p95=1s,tpot_p99=50ms")] = None,
    timeout_s: Annotated[float, typer.Option(help="Per-request timeout (s).")] = 120.0,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    save: Annotated[Path | None, typer.Option(help="Save the run (for compare/calibrate).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Load-test a live OpenAI-compatible endpoint: TTFT, ITL, TPOT, end-to-end percentiles."""
    from rich.progress import Progress

    from canserve.bench.client import BenchConfig, run_bench, validate_config
    from canserve.bench.summary import save_bench, summarize

    if requests is None and duration_s is None:
        requests = 100
    cfg = BenchConfig(
        url=url,
        model=model,
        rate=rate,
        concurrency=concurrency,
        prompt=prompt,
        output=output,
        requests=requests,
        duration_s=duration_s,
        endpoint=endpoint,
        seed=seed,
        timeout_s=timeout_s,
        slo=slo,
    )
    from canserve.sim.metrics import parse_slos
    from canserve.sim.workload import parse_length

    parse_slos(slo), parse_length(prompt), parse_length(output)  # fail fast on bad input
    validate_config(cfg)
    quiet = as_json or not sys.stderr.isatty()
    with Progress(console=Console(stderr=True), transient=True, disable=quiet) as bar:
        task = bar.add_task("requests", total=requests)
        records, complete = run_bench(cfg, lambda n: bar.advance(task, n))
    summary = summarize(cfg, records, complete)
    if save is not None:
        save_bench(save, cfg, summary, records)
    if as_json:
        _print_json(summary)
    else:
        _print_bench(summary)
    if not summary["succeeded"]:
        raise InvalidInputError(
            "no request succeeded: " + ("; ".join(summary["error_samples"]) or "no requests sent")
        )


def _print_bench(d: dict[str, Any]) -> None:
    state = "" if d["complete"] else " (stopped early: partial results)"
    out.print(
        f"{d['url']} · {d['model']} · {d['succeeded']}/{d['requests']} requests succeeded "
        f"in {d['duration_s']:.1f} s{state}"
    )
    table = Table()
    table.add_column("latency")
    for col in ("p50", "p90", "p95", "p99", "mean"):
        table.add_column(col, justify="right")
    for key, label in (
        ("ttft_s", "TTFT"),
        ("tpot_s", "TPOT"),
        ("itl_s", "ITL"),
        ("e2e_s", "end-to-end"),
    ):
        table.add_row(label, *(_ms(d[key][c]) for c in ("p50", "p90", "p95", "p99", "mean")))
    out.print(table)
    out.print(
        f"throughput {d['throughput_requests_per_s']:.2f} requests/s, "
        f"{d['throughput_output_tokens_per_s']:.1f} output tokens/s · mean output "
        f"{d['mean_output_tokens']:.1f} tokens · errors {d['errors']}"
    )
    for e in d["error_samples"]:
        out.print(f"error: {e}", style="red")
    if d["goodput"] is not None:
        out.print(f"goodput: {d['goodput']:.1%}")


def _bench_input(bench_file: Path) -> Any:
    from canserve.bench.summary import load_bench

    return load_bench(bench_file)


@app.command()
def compare(
    bench_file: Annotated[
        str, typer.Argument(help="A run saved by canserve bench --save, or a server URL to bench.")
    ],
    model: Annotated[
        str | None, typer.Option(help="Catalog model (or Hub id) the server ran.")
    ] = None,
    config: ConfigOpt = None,
    gguf: GgufOpt = None,
    gpu: Annotated[
        str, typer.Option(help="The device the server ran on (cpu for the host).")
    ] = "cpu",
    quant: Annotated[str | None, typer.Option("--quant", "--dtype", help="Weight format.")] = None,
    tp: Annotated[int, typer.Option(help="Tensor-parallel size.")] = 1,
    framework: Annotated[str, typer.Option(help="The server's engine profile.")] = "vllm",
    calibration: Annotated[Path | None, typer.Option(help="A calibration TOML.")] = None,
    max_num_seqs: Annotated[
        int | None, typer.Option(help="Sequences the server runs at once (1: serial).")
    ] = None,
    served_model: Annotated[
        str | None, typer.Option(help="With a URL: the model name the server serves.")
    ] = None,
    concurrency: Annotated[int, typer.Option(help="With a URL: requests in flight.")] = 1,
    prompt: Annotated[str, typer.Option(help="With a URL: prompt tokens.")] = "128",
    output: Annotated[str, typer.Option(help="With a URL: output tokens.")] = "64",
    requests: Annotated[int, typer.Option(help="With a URL: requests to send.")] = 20,
    as_json: JsonOpt = False,
) -> None:
    """Benchmark (a saved run, or a server URL) side by side with canserve's prediction."""
    from canserve.bench.compare import compare as run_compare
    from canserve.catalog.gpus import get_gpu

    if bench_file.startswith(("http://", "https://")):
        from canserve.bench.client import BenchConfig, run_bench, validate_config
        from canserve.bench.summary import summarize

        cfg = BenchConfig(
            url=bench_file,
            model=served_model or model or "default",
            concurrency=concurrency,
            prompt=prompt,
            output=output,
            requests=requests,
        )
        validate_config(cfg)
        records, complete = run_bench(cfg)
        summary = summarize(cfg, records, complete)
    else:
        cfg, summary, _ = _bench_input(Path(bench_file))
    if not summary["succeeded"]:
        raise InvalidInputError(
            f"{bench_file}: no successful request to compare with "
            + "; ".join(summary.get("error_samples", []))
        )
    spec = load_model(model, config, gguf=gguf)
    result = run_compare(
        cfg,
        summary,
        spec,
        get_gpu(gpu),
        framework=framework,
        quant=quant,
        tp=tp,
        calibration=calibration,
        max_num_seqs=max_num_seqs,
    )
    if as_json:
        _print_json(result)
        return
    table = Table(
        title=f"{result['model']} on {result['gpu']} ({result['framework']}), "
        f"calibration: {result['calibration']}",
        title_justify="left",
    )
    for col in ("metric", "measured", "predicted", "error"):
        table.add_column(col, justify="left" if col == "metric" else "right")
    for r in result["rows"]:
        unit = "ms" if r["metric"].split()[0] in ("ttft", "tpot", "e2e") else ""
        scale = 1e3 if unit else 1
        table.add_row(
            r["metric"],
            f"{r['measured'] * scale:,.2f} {unit}",
            f"{r['predicted'] * scale:,.2f} {unit}",
            f"{r['error']:+.1%}",
        )
    out.print(table)
    out.print(f"median absolute error {result['median_abs_error']:.1%}")


@app.command()
def calibrate(
    bench_files: Annotated[list[Path], typer.Argument(help="Runs saved by canserve bench --save.")],
    model: Annotated[str | None, typer.Option(help="Catalog model the server ran.")] = None,
    config: ConfigOpt = None,
    gguf: GgufOpt = None,
    gpu: Annotated[str, typer.Option(help="The device the server ran on.")] = "cpu",
    quant: Annotated[str | None, typer.Option("--quant", "--dtype", help="Weight format.")] = None,
    tp: Annotated[int, typer.Option(help="Tensor-parallel size.")] = 1,
    framework: Annotated[str, typer.Option(help="The server's engine profile.")] = "vllm",
    out_file: Annotated[Path, typer.Option("--out", help="Calibration TOML to write.")] = Path(
        "canserve-calibration.toml"
    ),
    max_num_seqs: Annotated[
        int | None, typer.Option(help="Sequences the server runs at once (1: serial).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Fit device and framework efficiencies to saved benchmarks; write a calibration file."""
    from canserve.bench.compare import calibrate as fit
    from canserve.bench.compare import compare as run_compare
    from canserve.bench.compare import write_calibration
    from canserve.catalog.gpus import get_gpu

    device = get_gpu(gpu)
    spec = load_model(model, config, gguf=gguf)
    runs = []
    for path in bench_files:
        cfg, summary, _ = _bench_input(path)
        if summary["succeeded"]:
            runs.append((cfg, summary))
    if not runs:
        raise InvalidInputError("no benchmark with successful requests to calibrate from")
    try:
        _, values = fit(
            runs, spec, device, framework=framework, quant=quant, tp=tp, max_num_seqs=max_num_seqs
        )
    except ValueError as exc:
        raise InvalidInputError(str(exc)) from None
    write_calibration(out_file, device, framework, values, [str(p) for p in bench_files])
    common: dict[str, Any] = dict(
        framework=framework, quant=quant, tp=tp, max_num_seqs=max_num_seqs
    )
    before = [run_compare(c, s, spec, device, **common)["median_abs_error"] for c, s in runs]
    after = [
        run_compare(c, s, spec, device, calibration=out_file, **common)["median_abs_error"]
        for c, s in runs
    ]
    data = dict(
        calibration_file=str(out_file),
        values=values,
        median_abs_error_before=before,
        median_abs_error_after=after,
    )
    if as_json:
        _print_json(data)
        return
    out.print(f"wrote {out_file}: " + ", ".join(f"{k} = {v:.4g}" for k, v in values.items()))
    for path, b, a in zip(bench_files, before, after, strict=False):
        out.print(f"  {path}: median abs error {b:.1%} before -> {a:.1%} after")
    out.print(f"use it: canserve perf ... --calibration {out_file}")


@app.command()
def web(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
) -> None:
    """Serve the web calculator and the HTTP API (GET / and /api/...)."""
    if not 1 <= port <= 65535:
        raise InvalidInputError(f"port must be between 1 and 65535, got {port}")
    try:
        import uvicorn

        from canserve.web.app import create_app
    except ImportError:
        raise InvalidInputError("the web calculator needs: pip install 'canserve[web]'") from None
    out.print(f"canserve web calculator on http://{host}:{port}/ (API docs: /api/docs)")
    uvicorn.run(create_app(), host=host, port=port, log_level="warning")


def _version(value: bool) -> None:
    if value:
        out.print(f"canserve {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show version.")
    ] = False,
) -> None:
    """canserve: memory, throughput, latency and cost sizing for self-hosted LLM inference."""


def main() -> None:
    """Console entry point: errors are one line on stderr and exit status 2."""
    if len(sys.argv) == 1:
        sys.argv.append("--help")
    try:
        app(standalone_mode=False)
    except CanserveError as exc:
        sys.stderr.write(f"error: {exc}\n")
        sys.exit(2)
    except typer.TyperException as exc:  # usage errors: bad flag, wrong type, missing value
        format_message = getattr(exc, "format_message", None)
        message = format_message() if callable(format_message) else str(exc)
        sys.stderr.write(f"error: {message} (see: canserve --help)\n")
        sys.exit(2)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        sys.stderr.write("aborted\n")
        sys.exit(130)
