"""Static plots with matplotlib (PNG or SVG by the file's suffix), drawn without a display."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from canserve.errors import InvalidInputError

if TYPE_CHECKING:
    from canserve.economics import CostEstimate
    from canserve.perf import PerfEstimate
    from canserve.sim import SimResult

__all__ = ["plot_batch_curve", "plot_cost", "plot_latency_cdf", "plot_timeline"]


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise InvalidInputError("plots need matplotlib: pip install 'canserve[plot]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _target(path: str | Path) -> Path:
    target = Path(path)
    if target.suffix.lower() not in {".png", ".svg"}:
        raise InvalidInputError(f"plot file must end in .png or .svg, got {target.name!r}")
    return target


def plot_batch_curve(curve: list[PerfEstimate], path: str | Path) -> Path:
    """Throughput (tok/s) and TPOT (ms) against batch size, on a log2 batch axis. Batch sizes
    that do not fit the GPU memory are marked on the axis, not drawn as speeds."""
    target = _target(path)
    plt = _pyplot()
    fitting = [e for e in curve if e.fits]
    batches = [e.batch for e in fitting]
    fig, left = plt.subplots(figsize=(7, 4.2), dpi=120)
    left.plot(batches, [e.decode_tokens_per_s for e in fitting], "o-", color="tab:blue")
    left.set_xscale("log", base=2)
    left.set_xlabel("batch size (concurrent sequences)")
    left.set_ylabel("decode throughput (tokens/s)", color="tab:blue")
    right = left.twinx()
    right.plot(batches, [e.tpot_s * 1e3 for e in fitting], "s--", color="tab:red")
    right.set_ylabel("TPOT (ms per token)", color="tab:red")
    misfit = [e.batch for e in curve if not e.fits]
    if misfit:
        left.plot(
            misfit,
            [0] * len(misfit),
            "x",
            color="black",
            clip_on=False,
            label="does not fit in GPU memory",
        )
        left.legend(loc="upper left", fontsize=8)
    first = curve[0]
    left.set_title(
        f"{first.model} · {first.gpu} x{first.tensor_parallel_size} · {first.quantization} · "
        f"{first.framework} · context {first.context:,}",
        fontsize=9,
    )
    left.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(target)
    plt.close(fig)
    return target


def plot_latency_cdf(result: SimResult, path: str | Path) -> Path:
    """Percentile points of TTFT, TPOT and end-to-end latency (log time axis)."""
    target = _target(path)
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=120)
    levels = [0.5, 0.9, 0.95, 0.99]
    for key, label in (("ttft_s", "TTFT"), ("tpot_s", "TPOT"), ("e2e_s", "end-to-end")):
        stats = getattr(result, key)
        ax.plot([stats[f"p{round(q * 100)}"] for q in levels], levels, "o-", label=label)
    ax.set_xscale("log")
    ax.set_xlabel("latency (s)")
    ax.set_ylabel("fraction of requests")
    ax.set_title(f"{result.model} · {result.replicas} x {result.gpu}", fontsize=9)
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(target)
    plt.close(fig)
    return target


def plot_timeline(result: SimResult, path: str | Path) -> Path:
    """Running batch size and KV-cache utilization over time (first replica)."""
    target = _target(path)
    plt = _pyplot()
    fig, left = plt.subplots(figsize=(7, 4.2), dpi=120)
    t = [p["t_s"] for p in result.timeline]
    left.plot(t, [p["batch"] for p in result.timeline], color="tab:blue")
    left.set_xlabel("time (s)")
    left.set_ylabel("running sequences", color="tab:blue")
    right = left.twinx()
    right.plot(t, [100 * p["kv_utilization"] for p in result.timeline], color="tab:red")
    right.set_ylabel("KV cache used (%)", color="tab:red")
    left.set_title(f"{result.model} · {result.gpu} · replica 1", fontsize=9)
    fig.tight_layout()
    fig.savefig(target)
    plt.close(fig)
    return target


def plot_cost(est: CostEstimate, path: str | Path) -> Path:
    """Monthly cost against daily token volume over a range that covers the break-even
    points: self-hosting (a step each time a unit is added) and each API compared (linear),
    with the break-even points marked."""
    target = _target(path)
    plt = _pyplot()
    curve = est.curve
    volumes = [p["tokens_per_day"] for p in curve]
    fig, ax = plt.subplots(figsize=(7.5, 4.5), dpi=120)
    ax.step(
        volumes,
        [p["self_hosted_usd"] for p in curve],
        "k-",
        lw=2,
        where="post",
        label="self-hosted",
    )
    names = [k for k in curve[0] if k not in ("tokens_per_day", "self_hosted_usd", "units")]
    by_name = {a.name: a for a in est.apis}
    for name in names:
        line = ax.plot(volumes, [p[name] for p in curve], lw=1, label=name)[0]
        be = by_name[name].break_even_tokens_per_day
        if be:
            per_token = by_name[name].monthly_usd / max(est.tokens_per_day, 1e-9)
            ax.plot(
                [be],
                [be * per_token] if est.tokens_per_day else [est.monthly_total_usd],
                "o",
                color=line.get_color(),
            )
    ax.axvline(est.tokens_per_day, color="grey", ls=":", label="your volume")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("tokens per day")
    ax.set_ylabel("USD per month")
    ax.grid(True, alpha=0.3, which="both")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(target)
    plt.close(fig)
    return target
