"""The command line's shared options: one spelling, one help text and one default per idea,
used by every command where the idea applies (the contract of issue 14)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from canserve.serving import DEFAULT_HEADROOM, DEFAULT_OUTPUT_TOKENS, DEFAULT_PROMPT_TOKENS

__all__ = [
    "OUTPUT",
    "PROMPT",
    "Calibration",
    "Config",
    "Context",
    "Framework",
    "Gguf",
    "Gpu",
    "Gpus",
    "Headroom",
    "Hub",
    "Json",
    "KvDtype",
    "MaxNumBatchedTokens",
    "MaxNumSeqs",
    "Model",
    "OutputInt",
    "OutputSpec",
    "Pp",
    "PromptInt",
    "PromptSpec",
    "Quant",
    "Replicas",
    "Slo",
    "Tp",
]

PROMPT = DEFAULT_PROMPT_TOKENS
OUTPUT = DEFAULT_OUTPUT_TOKENS
_LENGTH_FORMS = "a count, uniform:A-B, lognormal:MEAN,CV or file:PATH"

Model = Annotated[
    str | None, typer.Argument(help="Catalog name or Hugging Face id (see: canserve models).")
]
Config = Annotated[
    Path | None,
    typer.Option("--config", help="A config.json (or a folder holding one) instead of MODEL."),
]
Hub = Annotated[
    bool,
    typer.Option("--hub", help="Fetch MODEL's config.json from the Hugging Face Hub (cached)."),
]
Gguf = Annotated[
    Path | None, typer.Option("--gguf", help="A GGUF file: its architecture and real tensor sizes.")
]
Json = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of tables.")]
Gpu = Annotated[
    str | None, typer.Option("--gpu", help="GPU type (see: canserve gpus); cpu: this host.")
]
Gpus = Annotated[
    int | None,
    typer.Option("--gpus", help="GPU count in all (without --tp, one replica spans them all)."),
]
Tp = Annotated[int | None, typer.Option("--tp", help="Tensor-parallel size of each replica.")]
Pp = Annotated[int, typer.Option("--pp", help="Pipeline-parallel size of each replica.")]
Replicas = Annotated[int | None, typer.Option("--replicas", help="Data-parallel replicas.")]
Quant = Annotated[
    str | None,
    typer.Option(
        "--quant",
        "--dtype",
        help="Weight format: bf16, fp8, awq, gptq, nvfp4, q4_k_m, ... (default: the checkpoint's).",
    ),
]
KvDtype = Annotated[
    str, typer.Option("--kv-dtype", help="KV cache dtype: auto, fp8, int8, q8_0, ...")
]
Framework = Annotated[
    str,
    typer.Option(
        "--framework", help="Serving engine: vllm, sglang, tensorrt-llm, tgi, llama.cpp, ..."
    ),
]
Context = Annotated[
    int | None,
    typer.Option(
        "--context",
        "--max-model-len",
        help="Longest sequence the server accepts, in tokens (default: the model's maximum).",
    ),
]
MaxNumSeqs = Annotated[
    int | None, typer.Option("--max-num-seqs", help="Sequences a replica runs at once.")
]
MaxNumBatchedTokens = Annotated[
    int | None,
    typer.Option("--max-num-batched-tokens", help="Tokens per engine step (prefill chunk)."),
]
Headroom = Annotated[
    float,
    typer.Option("--headroom", help=f"GPU memory kept free (default {DEFAULT_HEADROOM:g})."),
]
Calibration = Annotated[
    Path | None,
    typer.Option("--calibration", help="A calibration TOML (from canserve calibrate)."),
]
Slo = Annotated[
    str | None,
    typer.Option(
        "--slo",
        help="Latency targets, e.g. ttft_p95=1s,tpot_p99=50ms,e2e_p95=5s "
        "(metrics ttft, tpot, itl, e2e, queue; stats p50, p90, p95, p99, mean).",
    ),
]
PromptInt = Annotated[int, typer.Option("--prompt", help="Prompt tokens per request.")]
OutputInt = Annotated[int, typer.Option("--output", help="Output tokens per request.")]
PromptSpec = Annotated[
    str, typer.Option("--prompt", help=f"Prompt tokens per request: {_LENGTH_FORMS}.")
]
OutputSpec = Annotated[
    str, typer.Option("--output", help=f"Output tokens per request: {_LENGTH_FORMS}.")
]
