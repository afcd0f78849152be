"""Recompute the memory tables of the seed article with canserve; write docs/article-memory.md.

    .venv/bin/python scripts/article_memory.py            # rewrite the page
    .venv/bin/python scripts/article_memory.py --check    # exit 1 if the page is stale

The article is ``shared/seed/llm-infrastructure-sizing.txt`` ("LLM Infrastructure Sizing: From
Hardware Requirements to Production Capacity"). Its figures are decimal GB and are copied here
as data (``ARTICLE_*``). "Q4" is sized as AWQ int4 with group size 128 (what vLLM serves); the
article's INT8 as GPTQ W8A16 group 128. Totals use canserve's vLLM profile with 20% headroom.
"""

from __future__ import annotations

import sys
from pathlib import Path

from canserve import (
    MemoryEstimate,
    estimate_memory,
    get_model,
    get_quant,
    serving_config,
    weights_breakdown,
)
from canserve.units import GB

PAGE = Path(__file__).resolve().parents[1] / "docs" / "article-memory.md"
Q4, INT8 = "awq", "w8a16"

# "Model Weights" table: nominal params -> GB per precision (article, decimal GB).
ARTICLE_WEIGHTS = {
    "fp32": (28, 280),
    "bf16": (14, 140),
    INT8: (7, 70),
    Q4: (3.5, 35),
}
# "KV Cache" table for Llama 3.1 70B at FP16: {context: (batch 1, batch 8, batch 32)} in GB.
ARTICLE_KV_70B = {2048: (2.5, 20, 80), 8192: (10, 80, 320), 32768: (40, 320, 1280)}
# "Sizing by Model Class": (model, precision, weights GB, KV GB at 8K x batch 8, recommended).
ARTICLE_CLASSES = [
    ("llama-3.2-3b", Q4, 1.5, 1.2, "8GB"),
    ("mistral-7b-v0.3", Q4, 3.5, 2.8, "12GB"),
    ("llama-3.1-8b", Q4, 4, 3.2, "12-16GB"),
    ("llama-3.1-8b", "bf16", 16, 3.2, "24GB"),
    ("llama-2-13b", Q4, 6.5, 5, "16-24GB"),
    ("qwen2.5-32b", Q4, 16, 12.8, "40-48GB"),
    ("llama-3.1-70b", Q4, 35, 28, "80GB"),
    ("qwen2.5-72b", Q4, 36, 29, "80GB"),
    ("llama-3.3-70b", "bf16", 140, 28, "192GB+"),
]
ARTICLE_FRONTIER = [("llama-3.1-405b", Q4, "200GB+"), ("deepseek-v3", Q4, "~100GB")]
# "Quick Reference": model size -> (weights GB, recommended VRAM) at Q4, batch 8, 8K.
ARTICLE_QUICK = [
    ("llama-3.2-3b", 1.5, "8GB"),
    ("llama-2-7b", 3.5, "12-16GB"),
    ("llama-2-13b", 6.5, "24GB"),
    ("qwen2.5-32b", 16, "48GB"),
    ("llama-3.1-70b", 35, "80GB"),
]


def _gb(num_bytes: float) -> str:
    return f"{num_bytes / GB:,.1f}"


def _estimate(model: str, quant: str, batch: int = 8, context: int = 8192) -> MemoryEstimate:
    spec = get_model(model)
    return estimate_memory(
        serving_config(spec, quant=quant),
        batch=batch,
        context=min(context, spec.max_position_embeddings),
    )


def _weights_section() -> list[str]:
    small, large = get_model("llama-2-7b"), get_model("llama-3.1-70b")
    lines = [
        "## Model weights by precision",
        "",
        "Article: `VRAM (GB) = parameters (B) x bytes per parameter` with nominal 7B and 70B.",
        f"canserve: Llama 2 7B ({small.params_total / 1e9:.2f} B params) and Llama 3.1 70B "
        f"({large.params_total / 1e9:.2f} B params), every stored tensor counted.",
        "",
        "| precision | 7B article GB | Llama 2 7B canserve GB | 70B article GB "
        "| Llama 3.1 70B canserve GB | why different |",
        "|---|---:|---:|---:|---:|---|",
    ]
    why = {
        "fp32": "real parameter counts (6.74 B, 70.55 B), not the nominal 7 B / 70 B",
        "bf16": "real parameter counts (6.74 B, 70.55 B), not the nominal 7 B / 70 B",
        INT8: "real counts, plus fp16 scales and int8 zeros per 128 weights, int32 g_idx, "
        "and 16-bit embeddings and LM head",
        Q4: "real counts; int4 needs fp16 scales + 4-bit zeros per group of 128 (4.16 bits), "
        "and the embeddings and LM head stay 16-bit (2.1 GB each on Llama 3.1 70B)",
    }
    for fmt, (a_small, a_large) in ARTICLE_WEIGHTS.items():
        q = get_quant(fmt)
        c_small = weights_breakdown(small, q).total_bytes
        c_large = weights_breakdown(large, q).total_bytes
        lines.append(
            f"| {fmt} | {a_small} | {_gb(c_small)} | {a_large} | {_gb(c_large)} | {why[fmt]} |"
        )
    return lines


def _kv_section() -> list[str]:
    spec = get_model("llama-3.1-70b")
    lines = [
        "## KV cache of Llama 3.1 70B (FP16)",
        "",
        "The article's formula `2 x layers x hidden_size x tokens x batch x bytes` gives every one "
        "of the 64 attention heads its own K and V. Llama 3.1 70B uses grouped-query attention "
        f"with {spec.num_key_value_heads} KV heads, so the real cache is "
        f"{spec.num_attention_heads // spec.num_key_value_heads}x smaller: 327,680 bytes per "
        "token, not 2,621,440. The article's table is not even its own formula: at FP16 the "
        "formula gives 5.4 GB for 2K x 1, the table says 2.5 GB (the formula in GiB with one byte "
        "per element).",
        "",
        "| context | batch | article GB | article formula GB | canserve GB "
        "| ratio article/canserve |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for context, figures in ARTICLE_KV_70B.items():
        for batch, article in zip((1, 8, 32), figures, strict=True):
            formula = 2 * spec.num_hidden_layers * spec.hidden_size * context * batch * 2
            real = _estimate("llama-3.1-70b", Q4, batch, context).kv_cache_bytes
            lines.append(
                f"| {context:,} | {batch} | {article:,} | {_gb(formula)} | {_gb(real)} "
                f"| {article * GB / real:.1f}x |"
            )
    return lines


def _class_section() -> list[str]:
    lines = [
        "## Sizing by model class (8K context, batch 8)",
        "",
        "canserve total = weights + KV + activations + vLLM overhead; 'needs' = total / 0.8 "
        "(the checklist's 20% headroom).",
        "",
        "| model | precision | weights GB (article / canserve) | KV GB (article / canserve) "
        "| article recommends | canserve total GB | canserve needs GB | why different |",
        "|---|---|---|---|---|---:|---:|---|",
    ]
    for model, quant, a_w, a_kv, a_total in ARTICLE_CLASSES:
        est = _estimate(model, quant)
        spec = get_model(model)
        reason = _kv_reason(spec, a_kv, est)
        lines.append(
            f"| {spec.model_id} | {quant} | {a_w} / {_gb(est.weights_bytes)} | {a_kv} / "
            f"{_gb(est.kv_cache_bytes)} | {a_total} | {_gb(est.total_bytes)} "
            f"| {_gb(est.total_bytes / 0.8)} | {reason} |"
        )
    lines += [
        "",
        "DeepSeek-V2 (236 B total, 21 B active) is not in the built-in catalog (no genuine full "
        "config.json was found); its architecture is sized through DeepSeek-V2-Lite. Note that the "
        "article sizes it by its 21 B *active* parameters: all 236 B must be resident.",
    ]
    return lines


def _kv_reason(spec: object, article_kv: float, est: MemoryEstimate) -> str:
    from canserve.arch.spec import ModelSpec

    assert isinstance(spec, ModelSpec)
    parts = [
        f"{spec.num_hidden_layers} layers x {spec.num_key_value_heads} KV heads x "
        f"{spec.head_dim} dims x 2 bytes x 2 (K, V) = {est.kv_bytes_per_token:,} B/token"
    ]
    if est.context < 8192:
        parts.append(f"the model's maximum context is {est.context:,}, so 8K is impossible")
    ratio = est.kv_cache_bytes / (article_kv * GB)
    parts.append(f"canserve KV is {ratio:.1f}x the article's")
    return "; ".join(parts)


def _frontier_section() -> list[str]:
    lines = [
        "## Frontier models (weights only)",
        "",
        "| model | precision | article | canserve weights GB | why different |",
        "|---|---|---|---:|---|",
    ]
    for model, quant, article in ARTICLE_FRONTIER:
        spec = get_model(model)
        weights = weights_breakdown(spec, get_quant(quant)).total_bytes
        why = (
            "every expert must be resident: MoE saves compute per token, not memory "
            f"({spec.params_total / 1e9:.0f} B total, {spec.params_active / 1e9:.1f} B active)"
            if spec.is_moe
            else "int4 group-128 overhead and 16-bit embeddings/LM head on 405.85 B params"
        )
        lines.append(f"| {spec.model_id} | {quant} | {article} | {_gb(weights)} | {why} |")
    native = weights_breakdown(get_model("deepseek-v3"), get_quant("fp8-block")).total_bytes
    lines += ["", f"DeepSeek-V3 as released (FP8, 128x128 block scales): {_gb(native)} GB."]
    return lines


def _quick_section() -> list[str]:
    lines = [
        "## Quick reference (Q4, batch 8, 8K context)",
        "",
        "| model | article weights GB | canserve weights GB | article recommends "
        "| canserve needs GB (20% headroom) |",
        "|---|---:|---:|---|---:|",
    ]
    for model, a_w, a_rec in ARTICLE_QUICK:
        est = _estimate(model, Q4)
        lines.append(
            f"| {est.model} | {a_w} | {_gb(est.weights_bytes)} | {a_rec} "
            f"| {_gb(est.total_bytes / 0.8)} |"
        )
    lines += [
        "",
        "The article's recommendations are low for small GQA models with many layers relative to "
        "their width (Llama 3.2 3B keeps 112 KiB of KV per token) and for Llama 2, whose 7B and "
        "13B have no GQA at all (512 KiB and 800 KiB per token) and a 4,096-token maximum context.",
    ]
    return lines


def render() -> str:
    header = [
        "# The article's memory tables, recomputed",
        "",
        "Generated by `scripts/article_memory.py` (do not edit by hand; `tests/test_article.py` "
        "fails when this page is stale). All figures are decimal GB (1 GB = 10^9 bytes), as in "
        "the article. Q4 = AWQ int4 group 128; INT8 = GPTQ W8A16 group 128; framework = vLLM.",
        "",
    ]
    sections = [
        _weights_section(),
        _kv_section(),
        _class_section(),
        _frontier_section(),
        _quick_section(),
    ]
    body = [line for section in sections for line in [*section, ""]]
    return "\n".join(header + body).rstrip() + "\n"


def main() -> int:
    text = render()
    if "--check" in sys.argv:
        return 0 if PAGE.exists() and PAGE.read_text() == text else 1
    PAGE.parent.mkdir(exist_ok=True)
    PAGE.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
