"""The ``canserve`` commands: parse the flags into a query, call the use case, print the result.

Any :class:`~canserve.errors.CanserveError` becomes one ``error:`` line on stderr and exit
status 2 (see :func:`main`).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from canserve import __version__, services
from canserve.arch.spec import ModelSpec
from canserve.catalog.frameworks import list_frameworks
from canserve.catalog.models import load_model
from canserve.catalog.quant import list_quants
from canserve.cli import options as o
from canserve.cli import output
from canserve.cli.output import err, out, print_json
from canserve.errors import CanserveError, InvalidInputError
from canserve.queries import (
    CompareQuery,
    CostQuery,
    MemoryQuery,
    PerfQuery,
    PlanQuery,
    ServingOptions,
    SimulateQuery,
)
from canserve.sim.api import DEFAULT_MAX_SIM_REQUESTS
from canserve.units import GB, TB
from canserve.validation import check_float, check_optional_int

if TYPE_CHECKING:  # the bench modules load when a bench command runs
    from canserve.bench.client import BenchConfig, RequestRecord
    from canserve.bench.sweep import SweepPoint

__all__ = ["app", "main", "run"]

app = typer.Typer(
    name="canserve",
    help="Will this LLM deployment serve my traffic? Memory, throughput, latency and cost "
    "sizing for self-hosted inference.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _spec(
    model: str | None, config: Path | None, hub: bool = False, gguf: Path | None = None
) -> ModelSpec | None:
    """The model the interface must read itself (a file, the Hub); None: the query names it."""
    if config is None and gguf is None and not hub:
        return None
    return load_model(model, config, hub=hub, gguf=gguf)


def _deprecated(old: str, new: str) -> None:
    err.print(f"warning: {old} is deprecated and will be removed; use {new}", style="yellow")


def _writable(path: Path | None, what: str) -> Path | None:
    """Check an output file's folder before any work is done (nothing computed is lost)."""
    if path is None:
        return None
    if path.is_dir():
        raise InvalidInputError(f"{what} {path} is a folder; give a file name")
    if not path.parent.is_dir():
        raise InvalidInputError(f"{what} {path}: folder {path.parent} does not exist")
    return path


def _serving(**kwargs: Any) -> dict[str, Any]:
    """The ServingOptions fields from a command's flags (calibration as a path string)."""
    cal = kwargs.pop("calibration", None)
    return {**kwargs, "calibration": str(cal) if cal is not None else None}


@app.command()
def memory(
    model: o.Model = None,
    config: o.Config = None,
    hub: o.Hub = False,
    gguf: o.Gguf = None,
    quant: o.Quant = None,
    kv_dtype: o.KvDtype = "auto",
    batch: Annotated[int, typer.Option(help="Concurrent sequences.")] = 1,
    context: Annotated[
        int | None,
        typer.Option(
            "--context",
            "--max-model-len",
            help="Tokens per sequence (prompt + output); default 8192 or the model's maximum.",
        ),
    ] = None,
    avg_context: Annotated[
        int | None, typer.Option(help="Typical real length, for allocation waste.")
    ] = None,
    gpu: o.Gpu = None,
    gpus: o.Gpus = None,
    tp: o.Tp = None,
    pp: o.Pp = 1,
    replicas: o.Replicas = None,
    framework: o.Framework = "vllm",
    headroom: o.Headroom = 0.2,
    max_num_seqs: o.MaxNumSeqs = None,
    max_num_batched_tokens: o.MaxNumBatchedTokens = None,
    exact: Annotated[
        bool,
        typer.Option(
            "--exact",
            help="Also count the parameters with transformers on the meta device "
            "(pip install 'canserve[exact]').",
        ),
    ] = False,
    as_json: o.Json = False,
) -> None:
    """Weights + KV cache + activations + overhead, and whether it fits a GPU."""
    query = MemoryQuery(
        model=model,
        **_serving(
            gpu=gpu,
            gpus=gpus,
            tp=tp,
            pp=pp,
            replicas=replicas,
            quant=quant,
            kv_dtype=kv_dtype,
            framework=framework,
            context=context,
            max_num_seqs=max_num_seqs,
            max_num_batched_tokens=max_num_batched_tokens,
            headroom=headroom,
        ),
        batch=batch,
        avg_context=avg_context,
    )
    spec = _spec(model, config, hub, gguf)
    est = services.run_memory(query, spec)
    check = _exact(model, config, spec) if exact else None
    if as_json:
        print_json({**est.to_dict(), **(check or {})})
        return
    output.print_memory(est)
    if check is not None:
        same = (
            "equal"
            if check["exact_difference"] == 0
            else f"differ by {check['exact_difference']:+,}"
        )
        out.print(
            f"exact check: transformers counts {check['exact_params_total']:,} parameters, "
            f"canserve {check['params_total']:,} ({same})"
        )


def _exact(model: str | None, config: Path | None, spec: ModelSpec | None) -> dict[str, Any]:
    """transformers' parameter count of a config.json or a catalog model (not a GGUF file)."""
    from canserve.arch import read_config_file
    from canserve.catalog.models import get_model, model_config

    if config is not None:
        raw = read_config_file(config)
    elif model is not None and spec is None:
        raw = model_config(model)
    else:
        raise InvalidInputError("--exact needs MODEL (a catalog name) or --config PATH")
    return services.exact_check(spec or get_model(model or ""), raw)


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
    model: o.Model = None,
    config: o.Config = None,
    hub: o.Hub = False,
    gguf: o.Gguf = None,
    gpu: o.Gpu = None,
    quant: o.Quant = None,
    kv_dtype: o.KvDtype = "auto",
    batch: Annotated[int, typer.Option(help="Concurrent sequences decoding together.")] = 1,
    context: Annotated[
        int | None,
        typer.Option(
            "--context",
            "--max-model-len",
            help="Tokens in each sequence's KV cache (default: prompt + output).",
        ),
    ] = None,
    prompt: o.PromptInt = o.PROMPT,
    output_tokens: Annotated[
        int, typer.Option("--output", help="Output tokens per request.")
    ] = o.OUTPUT,
    tp: o.Tp = None,
    pp: o.Pp = 1,
    framework: o.Framework = "vllm",
    max_num_batched_tokens: o.MaxNumBatchedTokens = None,
    calibration: o.Calibration = None,
    sweep: Annotated[
        str | None, typer.Option(help="Batch-size curve, e.g. batch=1,8,32,128.")
    ] = None,
    plot: Annotated[
        Path | None, typer.Option(help="Write the batch curve as PNG or SVG (with --sweep).")
    ] = None,
    as_json: o.Json = False,
) -> None:
    """Decode step, TPOT, prefill, TTFT and end-to-end latency on one replica."""
    if plot is not None and sweep is None:
        raise InvalidInputError("--plot needs --sweep batch=...")
    _writable(plot, "--plot")
    query = PerfQuery(
        model=model,
        **_serving(
            gpu=gpu,
            tp=tp,
            pp=pp,
            quant=quant,
            kv_dtype=kv_dtype,
            framework=framework,
            context=context,
            max_num_batched_tokens=max_num_batched_tokens,
            calibration=calibration,
        ),
        batch=batch,
        prompt=prompt,
        output=output_tokens,
        sweep=_parse_sweep(sweep) if sweep is not None else None,
    )
    curve = services.run_perf(query, _spec(model, config, hub, gguf))
    if sweep is None:
        print_json(curve[0].to_dict()) if as_json else output.print_perf(curve[0])
        return
    if plot is not None:
        from canserve.report.plots import plot_batch_curve

        plot_batch_curve(curve, plot)
    if as_json:
        print_json([e.to_dict() for e in curve])
    else:
        output.print_curve(curve, plot)


@app.command()
def simulate(
    model: o.Model = None,
    config: o.Config = None,
    hub: o.Hub = False,
    gguf: o.Gguf = None,
    gpu: o.Gpu = None,
    gpus: o.Gpus = None,
    quant: o.Quant = None,
    kv_dtype: o.KvDtype = "auto",
    tp: o.Tp = None,
    pp: o.Pp = 1,
    replicas: o.Replicas = None,
    framework: o.Framework = "vllm",
    rate: Annotated[float | None, typer.Option(help="Open loop: requests per second.")] = None,
    cv: Annotated[float, typer.Option(help="Burstiness: gap coefficient of variation.")] = 1.0,
    users: Annotated[int | None, typer.Option(help="Closed loop: concurrent users.")] = None,
    think_s: Annotated[
        float, typer.Option(help="Closed loop: mean think time between requests (s).")
    ] = 0.0,
    trace: Annotated[Path | None, typer.Option(help="CSV/JSONL trace to replay.")] = None,
    prompt: o.PromptSpec = str(o.PROMPT),
    output_spec: Annotated[
        str, typer.Option("--output", help="Output tokens per request (same forms as --prompt).")
    ] = str(o.OUTPUT),
    duration_s: Annotated[float | None, typer.Option(help="Seconds of arrivals.")] = None,
    requests: Annotated[int | None, typer.Option(help="Number of requests (default 1000).")] = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    slo: o.Slo = None,
    max_num_seqs: o.MaxNumSeqs = None,
    max_num_batched_tokens: o.MaxNumBatchedTokens = None,
    context: o.Context = None,
    static: Annotated[bool, typer.Option("--static", help="Static batching instead.")] = False,
    lb: Annotated[str, typer.Option(help="least-loaded or round-robin.")] = "least-loaded",
    find_max_rate: Annotated[
        bool,
        typer.Option(
            "--find-max-rate",
            help="Steady-state capacity: the highest rate (with --users: the most users) at "
            "which a long run meets every --slo. --requests/--duration-s fix each probe's "
            "length (default: until the percentiles converge).",
        ),
    ] = False,
    warmup_s: Annotated[
        float,
        typer.Option(help="Leave requests arriving in the first S seconds out of the statistics."),
    ] = 0.0,
    max_sim_requests: Annotated[
        int,
        typer.Option(help="Most requests to simulate (a bound on work; raise it for long runs)."),
    ] = DEFAULT_MAX_SIM_REQUESTS,
    calibration: o.Calibration = None,
    plot_cdf: Annotated[Path | None, typer.Option(help="Latency CDF plot (PNG/SVG).")] = None,
    plot_timeline: Annotated[
        Path | None, typer.Option(help="Batch size and KV use over time (PNG/SVG).")
    ] = None,
    as_json: o.Json = False,
) -> None:
    """Latency percentiles under load: a continuous-batching simulation of the deployment."""
    _writable(plot_cdf, "--plot-cdf")
    _writable(plot_timeline, "--plot-timeline")
    query = SimulateQuery(
        model=model,
        **_serving(
            gpu=gpu,
            gpus=gpus,
            tp=tp,
            pp=pp,
            replicas=replicas,
            quant=quant,
            kv_dtype=kv_dtype,
            framework=framework,
            context=context,
            max_num_seqs=max_num_seqs,
            max_num_batched_tokens=max_num_batched_tokens,
            calibration=calibration,
        ),
        prompt=prompt,
        output=output_spec,
        rate=rate,
        users=users,
        think_s=think_s,
        cv=cv,
        trace=str(trace) if trace is not None else None,
        requests=requests,
        duration_s=duration_s,
        seed=seed,
        slo=slo,
        static=static,
        lb=lb,
        find_max_rate=find_max_rate,
        warmup_s=warmup_s,
        max_sim_requests=max_sim_requests,
    )
    report = services.run_simulate(query, _spec(model, config, hub, gguf))
    if plot_cdf is not None or plot_timeline is not None:
        from canserve.report.plots import plot_latency_cdf
        from canserve.report.plots import plot_timeline as draw_timeline

        if plot_cdf is not None:
            plot_latency_cdf(report.result, plot_cdf)
        if plot_timeline is not None:
            draw_timeline(report.result, plot_timeline)
    print_json(report.to_dict()) if as_json else output.print_sim(report)


@app.command()
def cost(
    model: o.Model = None,
    config: o.Config = None,
    hub: o.Hub = False,
    gpu: Annotated[
        str | None,
        typer.Option(help="GPU type to price (default: the cheapest that serves the model)."),
    ] = None,
    gpus: Annotated[
        int | None, typer.Option(help="Fix the GPU count (default: grows with the volume).")
    ] = None,
    tp: o.Tp = None,
    quant: o.Quant = None,
    kv_dtype: o.KvDtype = "auto",
    framework: o.Framework = "vllm",
    usd_per_hour: Annotated[
        float | None, typer.Option(help="Instead of MODEL/--gpu: the deployment's $/hour.")
    ] = None,
    tokens_per_day: Annotated[float, typer.Option(help="Tokens per day (input + output).")] = 1e6,
    utilization: Annotated[
        float,
        typer.Option(help="Target share of capacity used (0-1); replicas grow to keep it."),
    ] = 0.6,
    input_share: Annotated[float, typer.Option(help="Share of tokens that are input.")] = 0.4,
    prompt: o.PromptInt = o.PROMPT,
    output_tokens: Annotated[
        int, typer.Option("--output", help="Output tokens per request.")
    ] = o.OUTPUT,
    cloud: Annotated[
        str | None, typer.Option(help="Price on this cloud (default: cheapest).")
    ] = None,
    spot: Annotated[bool, typer.Option("--spot", help="Spot / preemptible prices.")] = False,
    on_prem: Annotated[bool, typer.Option("--on-prem", help="Buy the GPUs instead.")] = False,
    api: Annotated[
        str | None,
        typer.Option(
            help="APIs to compare with, comma-separated (e.g. gpt-4o-mini,claude-haiku-4.5)."
        ),
    ] = None,
    tier: Annotated[
        str | None, typer.Option(help="Compare with this quality tier's APIs: small or frontier.")
    ] = None,
    engineering_fte: Annotated[
        float | None, typer.Option(help="Engineers' share of time (default 0.25 FTE).")
    ] = None,
    engineer_usd_per_year: Annotated[
        float | None, typer.Option(help="Engineer's salary (default: BLS median $133,080).")
    ] = None,
    monitoring_usd_per_month: Annotated[
        float | None, typer.Option(help="Monitoring per month (default $350).")
    ] = None,
    storage_usd_per_month: Annotated[
        float | None, typer.Option(help="Storage per month (default $200).")
    ] = None,
    usd_per_kwh: Annotated[
        float | None, typer.Option(help="Power price, on-prem (default $0.13/kWh).")
    ] = None,
    pue: Annotated[
        float | None, typer.Option(help="Power usage effectiveness (default 1.58).")
    ] = None,
    plot: Annotated[Path | None, typer.Option(help="Monthly cost vs tokens/day (PNG/SVG).")] = None,
    as_json: o.Json = False,
) -> None:
    """Self-hosted cost at your volume (replicas grow with it), hidden costs, break-even
    against APIs, and a recommendation that never favours self-hosting above the cheapest API
    compared."""
    _writable(plot, "--plot")
    query = CostQuery(
        model=model,
        gpu=gpu,
        gpus=gpus,
        tp=tp,
        quant=quant,
        kv_dtype=kv_dtype,
        framework=framework,
        usd_per_hour=usd_per_hour,
        tokens_per_day=tokens_per_day,
        utilization=utilization,
        input_share=input_share,
        prompt=prompt,
        output=output_tokens,
        cloud=cloud,
        spot=spot,
        on_prem=on_prem,
        api=api,
        tier=tier,
        engineering_fte=engineering_fte,
        engineer_usd_per_year=engineer_usd_per_year,
        monitoring_usd_per_month=monitoring_usd_per_month,
        storage_usd_per_month=storage_usd_per_month,
        usd_per_kwh=usd_per_kwh,
        pue=pue,
    )
    report = services.run_cost(query, _spec(model, config, hub))
    if plot is not None:
        from canserve.report.plots import plot_cost

        plot_cost(report.estimate, plot)
    print_json(report.to_dict()) if as_json else output.print_cost(report)


def _plan_slo(
    slo: str | None, latency_s: float | None, ttft_p95_s: float | None, tpot_p99_s: float | None
) -> str | None:
    """``--slo``, with the deprecated single-target flags folded in."""
    parts = [slo] if slo else []
    for flag, name, value in (
        ("--latency-s", "e2e_p95", latency_s),
        ("--ttft-p95-s", "ttft_p95", ttft_p95_s),
        ("--tpot-p99-s", "tpot_p99", tpot_p99_s),
    ):
        if value is not None:
            _deprecated(flag, f"--slo {name}={value:g}s")
            parts.append(f"{name}={value!r}s")
    return ",".join(parts) or None


@app.command()
def plan(
    model: Annotated[
        str | None,
        typer.Argument(help="Catalog name or Hugging Face id; several, comma-separated."),
    ] = None,
    config: o.Config = None,
    hub: o.Hub = False,
    users: Annotated[int | None, typer.Option(help="Concurrent users (peak).")] = None,
    rate: Annotated[float | None, typer.Option(help="Or: requests per second.")] = None,
    prompt: o.PromptInt = o.PROMPT,
    output_tokens: Annotated[
        int, typer.Option("--output", help="Output tokens per request.")
    ] = o.OUTPUT,
    slo: o.Slo = None,
    think_s: Annotated[float, typer.Option(help="Users' think time between requests (s).")] = 0.0,
    peak_factor: Annotated[
        float, typer.Option(help="Size for this multiple of the traffic.")
    ] = 1.0,
    context: o.Context = None,
    gpu: Annotated[
        str | None,
        typer.Option("--gpu", help="GPU types to consider, comma-separated (default: all)."),
    ] = None,
    gpus: Annotated[
        str | None, typer.Option("--gpus", help="At most this many GPUs in all.")
    ] = None,
    quant: Annotated[
        str | None, typer.Option("--quant", "--dtype", help="Formats to consider, comma-separated.")
    ] = None,
    kv_dtype: o.KvDtype = "auto",
    framework: o.Framework = "vllm",
    cloud: Annotated[str | None, typer.Option(help="Only this cloud's prices.")] = None,
    spot: Annotated[bool, typer.Option("--spot", help="Spot prices.")] = False,
    top: Annotated[int, typer.Option(help="Plans to show.")] = 3,
    headroom: o.Headroom = 0.2,
    budget_usd_per_hour: Annotated[
        float | None, typer.Option(help="Drop layouts that cost more per hour.")
    ] = None,
    rank: Annotated[str, typer.Option(help="cost (default) or latency.")] = "cost",
    calibration: o.Calibration = None,
    report: Annotated[Path | None, typer.Option(help="Write a self-contained HTML report.")] = None,
    latency_s: Annotated[
        float | None, typer.Option(hidden=True, help="Deprecated: --slo e2e_p95=Xs.")
    ] = None,
    ttft_p95_s: Annotated[
        float | None, typer.Option(hidden=True, help="Deprecated: --slo ttft_p95=Xs.")
    ] = None,
    tpot_p99_s: Annotated[
        float | None, typer.Option(hidden=True, help="Deprecated: --slo tpot_p99=Xs.")
    ] = None,
    max_context: Annotated[
        int | None, typer.Option(hidden=True, help="Deprecated: --context.")
    ] = None,
    as_json: o.Json = False,
) -> None:
    """The cheapest GPU layout that serves the traffic within the latency targets."""
    _writable(report, "--report")
    if max_context is not None:
        _deprecated("--max-context", "--context")
        context = context or max_context
    count: int | None = None
    if gpus is not None:
        if gpus.strip().isdigit():
            count = int(gpus)
        else:  # the old spelling: a list of GPU types
            _deprecated("--gpus NAME,...", "--gpu NAME,... (--gpus is now a count)")
            gpu = ",".join(filter(None, (gpu, gpus)))
    query = PlanQuery(
        model=model,
        users=users,
        rate=rate,
        prompt=prompt,
        output=output_tokens,
        think_s=think_s,
        slo=_plan_slo(slo, latency_s, ttft_p95_s, tpot_p99_s),
        peak_factor=peak_factor,
        context=context,
        gpu=gpu,
        gpus=count,
        quant=quant,
        framework=framework,
        kv_dtype=kv_dtype,
        cloud=cloud,
        spot=spot,
        top=top,
        headroom=headroom,
        budget_usd_per_hour=budget_usd_per_hour,
        rank=rank,
        calibration=str(calibration) if calibration is not None else None,
    )
    spec = _spec(model, config, hub)
    result = services.run_plan(query, [spec] if spec is not None else None)
    if report is not None:
        from canserve.report.html import write_report

        write_report(result, report)
    print_json(result.to_dict()) if as_json else output.print_plan(result, report)
    if not result.plans:
        raise InvalidInputError(result.notes[0] if result.notes else "no plan meets the targets")


@app.command()
def models(
    filter: Annotated[str | None, typer.Argument(help="Substring to filter on.")] = None,
    as_json: o.Json = False,
) -> None:
    """The built-in model catalog."""
    rows = services.models_matching(filter)
    print_json([services.model_row(m) for m in rows]) if as_json else output.print_models(rows)


@app.command()
def gpus(
    filter: Annotated[str | None, typer.Argument(help="Substring to filter on.")] = None,
    as_json: o.Json = False,
) -> None:
    """The built-in GPU catalog (dense peak FLOP/s, decimal units)."""
    rows = services.gpus_matching(filter)
    print_json([services.gpu_row(g) for g in rows]) if as_json else output.print_gpus(rows)


@app.command()
def quants(as_json: o.Json = False) -> None:
    """Weight quantization formats canserve sizes."""
    rows = list_quants()
    print_json([services.quant_row(q) for q in rows]) if as_json else output.print_quants(rows)


@app.command()
def frameworks(as_json: o.Json = False) -> None:
    """Serving-framework memory profiles."""
    rows = list_frameworks()
    if as_json:
        print_json([services.framework_row(f) for f in rows])
    else:
        output.print_frameworks(rows)


@app.command()
def bench(
    url: Annotated[str, typer.Argument(help="Base URL of an OpenAI-compatible server.")],
    served_model: Annotated[
        str | None, typer.Option("--served-model", help="Model name the server serves.")
    ] = None,
    rate: Annotated[float | None, typer.Option(help="Open loop: requests per second.")] = None,
    concurrency: Annotated[
        int | None,
        typer.Option(help="Closed loop: requests in flight (with --sweep: of the throughput run)."),
    ] = None,
    prompt: o.PromptSpec = str(o.PROMPT),
    output_spec: Annotated[
        str, typer.Option("--output", help="Output tokens per request (max_tokens).")
    ] = str(o.OUTPUT),
    duration_s: Annotated[
        float | None,
        typer.Option(help="Wall-clock bound on the run (per point with --sweep), seconds."),
    ] = None,
    requests: Annotated[
        int | None, typer.Option(help="Stop after this many requests (per point with --sweep).")
    ] = None,
    endpoint: Annotated[str, typer.Option(help="completions or chat.")] = "completions",
    slo: o.Slo = None,
    timeout_s: Annotated[
        float, typer.Option(help="Deadline per request, sending to last token (s).")
    ] = 120.0,
    warmup: Annotated[
        int, typer.Option(help="Requests sent one at a time first, not measured.")
    ] = 0,
    sweep: Annotated[
        bool,
        typer.Option(
            "--sweep",
            help="Synchronous, then saturation, then Poisson rates up to it: the SLO capacity.",
        ),
    ] = False,
    sweep_points: Annotated[int, typer.Option(help="Rates in a --sweep.")] = 5,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    save: Annotated[
        Path | None,
        typer.Option(help="Save the run (for compare/calibrate); --sweep: one file per point."),
    ] = None,
    model: Annotated[
        str | None, typer.Option(hidden=True, help="Deprecated: --served-model.")
    ] = None,
    as_json: o.Json = False,
) -> None:
    """Load-test a live OpenAI-compatible endpoint: TTFT, ITL, TPOT, end-to-end percentiles."""
    from rich.console import Console
    from rich.progress import Progress

    from canserve.bench.client import BenchConfig, run_bench, validate_config
    from canserve.bench.summary import save_bench, summarize
    from canserve.sim.metrics import parse_slos

    _writable(save, "--save")
    if model is not None:
        _deprecated("bench --model", "--served-model")
        served_model = served_model or model
    if requests is None and duration_s is None:
        requests = 100
    if sweep and rate is not None:
        raise InvalidInputError("--sweep chooses its own rates: drop --rate")
    cfg = BenchConfig(
        url=url,
        model=served_model or "default",
        rate=rate,
        concurrency=1 if sweep else concurrency,
        prompt=prompt,
        output=output_spec,
        requests=requests,
        duration_s=duration_s,
        endpoint=endpoint,
        seed=seed,
        timeout_s=timeout_s,
        slo=slo,
        warmup=warmup,
    )
    parse_slos(slo)  # fail fast on bad input
    validate_config(cfg)
    quiet = as_json or not sys.stderr.isatty()
    if sweep:
        _bench_sweep(cfg, sweep_points, concurrency, save, as_json, quiet)
        return
    with Progress(console=Console(stderr=True), transient=True, disable=quiet) as bar:
        task = bar.add_task("requests", total=requests)
        records, complete = run_bench(cfg, lambda n: bar.advance(task, n))
    summary = summarize(cfg, records, complete)
    if save is not None:
        save_bench(save, cfg, summary, records)
    print_json(summary.to_dict()) if as_json else output.print_bench(summary)
    if not summary.succeeded:
        raise InvalidInputError(
            "no request succeeded: " + ("; ".join(summary.error_samples) or "no requests sent")
        )


def _bench_sweep(
    cfg: BenchConfig,
    points: int,
    concurrency: int | None,
    save: Path | None,
    as_json: bool,
    quiet: bool,
) -> None:
    """``bench --sweep``: run it, save each point (``run.json`` -> ``run-1-synchronous.json``,
    ...), print the table and the measured SLO capacity."""
    from rich.console import Console
    from rich.progress import Progress

    from canserve.bench.summary import save_bench
    from canserve.bench.sweep import run_sweep

    saved: list[str] = []

    def keep(point: SweepPoint, run_cfg: BenchConfig, records: list[RequestRecord]) -> None:
        if save is not None:
            path = save.with_name(f"{save.stem}-{len(saved) + 1}-{point.kind}{save.suffix}")
            save_bench(path, run_cfg, point.summary, records)
            saved.append(str(path))

    with Progress(console=Console(stderr=True), transient=True, disable=quiet) as bar:
        task = bar.add_task("sweep", total=None)
        result = run_sweep(
            cfg, points, concurrency, lambda kind, n: bar.advance(task, n), on_point=keep
        )
    if as_json:
        print_json({**result.to_dict(), "saved": saved})
    else:
        output.print_sweep(result, saved)


@app.command()
def compare(
    bench_file: Annotated[
        str, typer.Argument(help="A run saved by canserve bench --save, or a server URL to bench.")
    ],
    model: Annotated[
        str | None, typer.Option(help="Catalog model (or Hub id) the server ran.")
    ] = None,
    config: o.Config = None,
    gguf: o.Gguf = None,
    gpu: Annotated[
        str, typer.Option(help="The device the server ran on (cpu for the host).")
    ] = "cpu",
    quant: o.Quant = None,
    tp: o.Tp = None,
    framework: o.Framework = "vllm",
    calibration: o.Calibration = None,
    max_num_seqs: Annotated[
        int | None, typer.Option(help="Sequences the server runs at once (1: serial).")
    ] = None,
    served_model: Annotated[
        str | None, typer.Option(help="With a URL: the model name the server serves.")
    ] = None,
    concurrency: Annotated[int, typer.Option(help="With a URL: requests in flight.")] = 1,
    prompt: o.PromptSpec = str(o.PROMPT),
    output_spec: Annotated[
        str, typer.Option("--output", help="With a URL: output tokens per request.")
    ] = str(o.OUTPUT),
    requests: Annotated[int, typer.Option(help="With a URL: requests to send.")] = 20,
    as_json: o.Json = False,
) -> None:
    """Benchmark (a saved run, or a server URL) side by side with canserve's prediction."""
    query = CompareQuery(
        model=model,
        **_serving(
            gpu=gpu,
            tp=tp,
            quant=quant,
            framework=framework,
            max_num_seqs=max_num_seqs,
            calibration=calibration,
        ),
        served_model=served_model,
        concurrency=concurrency,
        prompt=prompt,
        output=output_spec,
        requests=requests,
    )
    result = services.run_compare(bench_file, query, _spec(model, config, gguf=gguf))
    print_json(result.to_dict()) if as_json else output.print_compare(result)


@app.command()
def calibrate(
    bench_files: Annotated[list[Path], typer.Argument(help="Runs saved by canserve bench --save.")],
    model: Annotated[str | None, typer.Option(help="Catalog model the server ran.")] = None,
    config: o.Config = None,
    gguf: o.Gguf = None,
    gpu: Annotated[str, typer.Option(help="The device the server ran on.")] = "cpu",
    quant: o.Quant = None,
    tp: o.Tp = None,
    framework: o.Framework = "vllm",
    out_file: Annotated[Path, typer.Option("--out", help="Calibration TOML to write.")] = Path(
        "canserve-calibration.toml"
    ),
    max_num_seqs: Annotated[
        int | None, typer.Option(help="Sequences the server runs at once (1: serial).")
    ] = None,
    as_json: o.Json = False,
) -> None:
    """Fit device and framework efficiencies to saved benchmarks; write a calibration file."""
    _writable(out_file, "--out")
    query = ServingOptions(
        model=model,
        gpu=gpu,
        tp=tp,
        quant=quant,
        framework=framework,
        max_num_seqs=max_num_seqs,
    )
    rep = services.run_calibrate(bench_files, out_file, query, _spec(model, config, gguf=gguf))
    if as_json:
        print_json(rep.to_dict())
        return
    fitted = rep.values.to_dict().items()
    out.print(f"wrote {out_file}: " + ", ".join(f"{k} = {v:.4g}" for k, v in fitted))
    for path, b, a in zip(
        bench_files, rep.median_abs_error_before, rep.median_abs_error_after, strict=False
    ):
        out.print(f"  {path}: median abs error {b:.1%} before -> {a:.1%} after")
    out.print(f"use it: canserve perf ... --calibration {out_file}")


@app.command("probe-cpu")
def probe_cpu(as_json: o.Json = False) -> None:
    """Measure this host's memory bandwidth and FLOP/s again (the `--gpu cpu` device)."""
    from canserve.catalog.cpu import cpu_profile

    cpu = cpu_profile(refresh=True)
    if as_json:
        print_json(services.gpu_row(cpu))
        return
    out.print(
        f"{cpu.name}: memory read {cpu.hbm_bytes_per_s / GB:,.1f} GB/s, fp32 "
        f"{cpu.peak_flops['fp32'] / TB:,.3f} TFLOP/s ({cpu.source})"
    )


@app.command()
def web(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    workers: Annotated[
        int | None,
        typer.Option(
            help="Worker processes that compute (memory, perf, simulate, plan, cost); "
            "default: one per CPU core. More workers use more cores."
        ),
    ] = None,
    time_budget_s: Annotated[
        float,
        typer.Option(help="Seconds within which every request is answered or refused (503/422)."),
    ] = 10.0,
) -> None:
    """Serve the web calculator and the HTTP API (GET / and /api/...)."""
    if not 1 <= port <= 65535:
        raise InvalidInputError(f"port must be between 1 and 65535, got {port}")
    check_optional_int("workers", workers, 1, 256)
    check_float("time_budget_s", time_budget_s, 0.0, 3600.0, open_low=True)
    try:
        import uvicorn

        from canserve.web.app import create_app
        from canserve.web.pool import PoolSettings, default_workers
    except ImportError:
        raise InvalidInputError("the web calculator needs: pip install 'canserve[web]'") from None
    settings = PoolSettings(workers=workers or default_workers(), time_budget_s=time_budget_s)
    out.print(
        f"canserve web calculator on http://{host}:{port}/ (API docs: /api/docs; "
        f"{settings.workers} workers, {time_budget_s:g} s time budget)"
    )
    # SIGTERM/Ctrl-C: stop accepting, give running requests 2 s, then stop the workers
    uvicorn.run(
        create_app(settings),
        host=host,
        port=port,
        log_level="warning",
        timeout_graceful_shutdown=2,
    )


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


def _announce_on_terminal() -> None:
    """Library notices (such as the one-time CPU probe) go to stderr when a person watches."""
    if sys.stderr.isatty():
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("note: %(message)s"))
        log = logging.getLogger("canserve")
        log.addHandler(handler)
        log.setLevel(logging.INFO)


def run(argv: list[str]) -> int:
    """Run the command line on ``argv`` (without the program name); return the exit status.
    Errors are one ``error:`` line on stderr and status 2; nothing else escapes."""
    try:
        app(args=argv or ["--help"], prog_name="canserve", standalone_mode=False)
    except CanserveError as exc:
        sys.stderr.write(f"error: {_one_line(str(exc))}\n")
        return 2
    except OSError as exc:  # a file the user named cannot be read or written
        name = _one_line(str(exc.filename), 200) if exc.filename is not None else "a file"
        sys.stderr.write(f"error: {name}: {exc.strerror or exc}\n")
        return 2
    except typer.TyperException as exc:  # usage errors: bad flag, wrong type, missing value
        format_message = getattr(exc, "format_message", None)
        message = format_message() if callable(format_message) else str(exc)
        sys.stderr.write(f"error: {_one_line(message)} (see: canserve --help)\n")
        return 2
    except typer.Exit as exc:
        return int(exc.exit_code or 0)
    except typer.Abort:
        sys.stderr.write("aborted\n")
        return 130
    return 0


def _one_line(message: str, limit: int = 500) -> str:
    """An error message as one line of at most ``limit`` characters (echoed input is cut)."""
    flat = " ".join(message.split())
    return flat if len(flat) <= limit else flat[: limit - 20] + f"... ({len(flat)} chars)"


def main() -> None:
    """Console entry point."""
    _announce_on_terminal()
    sys.exit(run(sys.argv[1:]))
