"""Static plots with matplotlib (PNG or SVG by the file's suffix), drawn without a display."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from canserve.errors import InvalidInputError

if TYPE_CHECKING:
    from canserve.perf import PerfEstimate

__all__ = ["plot_batch_curve"]


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise InvalidInputError("plots need matplotlib: pip install 'canserve[plot]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_batch_curve(curve: list[PerfEstimate], path: str | Path) -> Path:
    """Throughput (tok/s) and TPOT (ms) against batch size, on a log2 batch axis."""
    target = Path(path)
    if target.suffix.lower() not in {".png", ".svg"}:
        raise InvalidInputError(f"plot file must end in .png or .svg, got {target.name!r}")
    plt = _pyplot()
    batches = [e.batch for e in curve]
    fig, left = plt.subplots(figsize=(7, 4.2), dpi=120)
    left.plot(batches, [e.decode_tokens_per_s for e in curve], "o-", color="tab:blue")
    left.set_xscale("log", base=2)
    left.set_xlabel("batch size (concurrent sequences)")
    left.set_ylabel("decode throughput (tokens/s)", color="tab:blue")
    right = left.twinx()
    right.plot(batches, [e.tpot_s * 1e3 for e in curve], "s--", color="tab:red")
    right.set_ylabel("TPOT (ms per token)", color="tab:red")
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
