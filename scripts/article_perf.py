"""Recompute the throughput tables of the seed article with canserve; write docs/article-perf.md.

    .venv/bin/python scripts/article_perf.py            # rewrite the page
    .venv/bin/python scripts/article_perf.py --check    # exit 1 if the page is stale

The article's figures (decimal units) are copied here as data. "7B Q4" is Llama 2 7B in AWQ
int4, "70B Q4" Llama 3.1 70B in AWQ int4; decode at a 1,024-token context.
"""

from __future__ import annotations

import sys
from pathlib import Path

from canserve import estimate_memory, estimate_perf, get_gpu, get_model, serving_config

PAGE = Path(__file__).resolve().parents[1] / "docs" / "article-perf.md"
SMALL, LARGE, Q4, CONTEXT = "llama-2-7b", "llama-3.1-70b", "awq", 1024
# "Tokens Per Second Estimation": GPU -> (bandwidth GB/s, 7B Q4 tok/s, 70B Q4 tok/s).
ARTICLE_MAX = {"RTX-4090": (1008, 288, 29), "A100-80GB": (2039, 583, 58), "H100": (3352, 958, 96)}
# "Batch Size Impact": batch -> (RTX 4090 7B Q4 tok/s, A100-80GB 70B Q4 tok/s).
ARTICLE_BATCH = {1: (40, 12), 4: (140, 42), 8: (240, 70), 16: (350, 95), 32: (420, 110)}


def _tps(model: str, gpu: str, batch: int = 1, framework: str = "vllm") -> float:
    cfg = serving_config(get_model(model), gpu=gpu, quant=Q4, framework=framework)
    return estimate_perf(cfg, batch=batch, context=CONTEXT).decode_tokens_per_s


def _cell(model: str, gpu: str, batch: int = 1, framework: str = "vllm") -> str:
    """Decode tok/s, or why the setup cannot run (canserve prints no speed for it)."""
    cfg = serving_config(get_model(model), gpu=gpu, quant=Q4, framework=framework)
    est = estimate_perf(cfg, batch=batch, context=CONTEXT)
    if not est.fits:
        weights = estimate_memory(cfg, batch=batch, context=CONTEXT).weights_bytes / 1e9
        return f"does not fit ({weights:.1f} GB of weights)"
    return f"{est.decode_tokens_per_s:,.0f}"


def _max_section() -> list[str]:
    lines = [
        "## Max tokens/s by GPU (batch 1)",
        "",
        "Article: `max tok/s = memory bandwidth / model size` with 3.5 GB (7B) and 35 GB (70B).",
        "canserve: a decode step at batch 1 (vLLM profile): every weight byte at the GPU's "
        "streaming bandwidth (92% of the datasheet, measured on an H100), plus a fixed cost per "
        "GEMM and per small kernel (norms, rotary, KV writes: about 2 ms per step for 32 layers, "
        "whatever the bytes), the KV cache, the LM head and the scheduler; real AWQ sizes "
        "(3.9 GB, 39.8 GB).",
        "",
        "| GPU | bandwidth GB/s (article / catalog) | 7B Q4 article | 7B Q4 canserve "
        "| 70B Q4 article | 70B Q4 canserve |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for gpu, (bw, small, large) in ARTICLE_MAX.items():
        spec_bw = get_gpu(gpu).hbm_bytes_per_s / 1e9
        lines.append(
            f"| {get_gpu(gpu).id} | {bw:,} / {spec_bw:,.0f} | ~{small} | {_cell(SMALL, gpu)} "
            f"| ~{large} | {_cell(LARGE, gpu)} |"
        )
    lines += [
        "",
        "Why different: the article divides the datasheet bandwidth by nominal sizes. No kernel "
        "streams weights at the datasheet rate (an H100 reads at 92% of it), each of the ~300 "
        "kernels of a decode step costs a few microseconds that no byte count shows (the larger "
        "share of a 4-bit model's step: its bytes shrink, the kernels do not), the LM head and "
        "embeddings stay 16-bit, and the article's H100 figure (3,352 GB/s) is the SXM part's "
        "3.35 TB/s. Its 70B column on an RTX 4090 describes a model that does not fit in 24 GB.",
    ]
    return lines


def _batch_section() -> list[str]:
    lines = [
        "## Batch size impact (decode throughput, tok/s)",
        "",
        "| batch | RTX 4090 7B Q4 article | canserve vLLM | canserve transformers "
        "| A100-80GB 70B Q4 article | canserve vLLM | canserve transformers |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for batch, (small, large) in ARTICLE_BATCH.items():
        lines.append(
            f"| {batch} | {small} | {_cell(SMALL, 'RTX-4090', batch)} "
            f"| {_cell(SMALL, 'RTX-4090', batch, 'transformers')} | {large} "
            f"| {_cell(LARGE, 'A100-80GB', batch)} "
            f"| {_cell(LARGE, 'A100-80GB', batch, 'transformers')} |"
        )
    lines += [
        "",
        "Why different: the article's batch-1 figures (40 and 12 tok/s) are 7x and 5x below its "
        "own bandwidth bounds (288 and 58 tok/s): they match an eager, unbatched framework such as "
        "transformers `generate()` (measured on an H100: 14 tok/s for an 8B model, 10x slower "
        "than a CUDA-graph engine), not vLLM. An optimized engine is memory-bound up to large "
        "batches, so throughput grows almost linearly with batch while the step time barely "
        "moves; the article's curve flattens at 32 because its baseline is overhead-bound. "
        "canserve's transformers column is the eager profile (CPU-bound at about 70 ms per step "
        "for 32 layers), which the article's numbers resemble at small batch.",
    ]
    return lines


def render() -> str:
    header = [
        "# The article's throughput tables, recomputed",
        "",
        "Generated by `scripts/article_perf.py` (do not edit by hand; `tests/test_article.py` "
        "fails when this page is stale). Decimal units; context 1,024 tokens; Q4 = AWQ int4. "
        "Predictions use the calibration in `docs/perf-accuracy.md` (measured on one H100; "
        "other GPUs assume the same fractions of their datasheet bandwidth and FLOP/s and the "
        "same fixed costs in microseconds).",
        "",
    ]
    body = [line for section in (_max_section(), _batch_section()) for line in [*section, ""]]
    return "\n".join(header + body).rstrip() + "\n"


def main() -> int:
    text = render()
    if "--check" in sys.argv:
        return 0 if PAGE.exists() and PAGE.read_text() == text else 1
    PAGE.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
