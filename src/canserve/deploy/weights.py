"""Which weights a deployment serves in the planned format, and what to run first to get them.

In order: the model's own checkpoint (16-bit, or already in the format); a well-known
pre-quantized checkpoint from the sourced table (``catalog/data/checkpoints.toml``); the engine
quantizing on load (FP8 in vLLM/SGLang/TGI, bitsandbytes); else a quantization step to run
first (llm-compressor for AWQ/GPTQ/INT8/FP8-block/NVFP4, llama.cpp's converter for GGUF) whose
output folder the commands then serve. Engines read a pre-quantized checkpoint's format from its
config.json, so no ``--quantization`` flag is passed for one (vLLM's ``--quantization`` help: "If
None, we first check the quantization_config attribute in the model config file").
"""

from __future__ import annotations

from dataclasses import dataclass

from canserve.catalog.checkpoints import Recipe, find_checkpoint, find_recipe
from canserve.catalog.quant import QuantFormat

__all__ = ["MODEL_DIR", "Weights", "resolve_weights"]

MODEL_DIR = "/models"  # where a quantization step writes; the Kubernetes manifest mounts it
_ON_LOAD = {
    "fp8": "fp8",
    "nf4": "bitsandbytes",
    "nf4-dq": "bitsandbytes",
    "bnb-int8": "bitsandbytes",
}


@dataclass(frozen=True)
class Weights:
    """``serve``: what the engines load (a Hub repo id or a local path); ``kind``: original,
    checkpoint, quantize-on-load, quantize-first or unavailable; ``prepare``: shell lines to run
    before serving ("" if none); ``on_load``: the engine's quantization flag value when it
    quantizes while loading; ``gguf_tag``: for ``llama-server -hf REPO:TAG``."""

    serve: str
    kind: str
    note: str
    prepare: str = ""
    on_load: str | None = None
    gguf_tag: str | None = None
    source: str | None = None

    @property
    def local(self) -> bool:
        return self.serve.startswith("/")

    def to_dict(self) -> dict[str, object]:
        return dict(
            serve=self.serve,
            kind=self.kind,
            note=self.note,
            prepare=self.prepare,
            on_load=self.on_load,
            source=self.source,
        )


def _name(model_id: str) -> str:
    return model_id.split("/")[-1]


def _llm_compressor(model_id: str, recipe: Recipe, out: str) -> str:
    """A runnable llm-compressor one-shot quantization (its README's oneshot call)."""
    data = (
        'dataset="open_platypus", num_calibration_samples=512, max_seq_length=2048, '
        if recipe.calibration
        else ""
    )
    script = (
        f"from llmcompressor import oneshot\n"
        f"from {recipe.module} import {recipe.modifier}\n"
        f'oneshot(model="{model_id}", {data}output_dir="{out}",\n'
        f'        recipe={recipe.modifier}(targets="Linear", scheme="{recipe.scheme}", '
        f'ignore=["lm_head"]))\n'
    )
    return f"pip install llmcompressor\npython - <<'EOF'\n{script}EOF"


def _gguf_steps(model_id: str, fmt: QuantFormat, out: str) -> str:
    f16 = f"{MODEL_DIR}/{_name(model_id)}-F16.gguf"
    steps = [
        f"huggingface-cli download {model_id} --local-dir {MODEL_DIR}/{_name(model_id)}",
        f"python llama.cpp/convert_hf_to_gguf.py {MODEL_DIR}/{_name(model_id)} "
        f"--outtype f16 --outfile {f16}",
    ]
    if fmt.id != "gguf-f16":
        steps.append(f"llama-quantize {f16} {out} {fmt.id.upper()}")
    return "\n".join(steps)


def _gguf(model_id: str, fmt: QuantFormat) -> Weights:
    known = find_checkpoint(model_id, fmt.id)
    if known is not None and known.gguf_quant:
        return Weights(
            known.repo,
            "checkpoint",
            f"{fmt.id} GGUF from {known.repo}" + _variant_note(known.variant, model_id),
            gguf_tag=known.gguf_quant,
            source=known.source,
        )
    out = f"{MODEL_DIR}/{_name(model_id)}-{fmt.id.upper()}.gguf"
    return Weights(
        out,
        "quantize-first",
        f"no well-known {fmt.id} GGUF of {model_id} in canserve's table: convert and quantize "
        "it with llama.cpp first (prepare)",
        prepare=_gguf_steps(model_id, fmt, out),
        source="https://github.com/ggml-org/llama.cpp/blob/master/docs/models.md",
    )


def _variant_note(variant: str, model_id: str) -> str:
    if variant == "same":
        return ""
    return f" (quantized from the {variant.capitalize()} model, same architecture as {model_id})"


def resolve_weights(
    model_id: str, fmt: QuantFormat, checkpoint_quantization: str | None
) -> Weights:
    """The weights to serve ``model_id`` in ``fmt`` (see the module docstring)."""
    if fmt.id in ("bf16", "fp32") or fmt.id == checkpoint_quantization:
        return Weights(model_id, "original", f"{model_id} as published ({fmt.id})")
    if fmt.kind == "file":
        return Weights(
            "MODEL.gguf", "original", "the GGUF file you sized (--gguf): serve that file"
        )
    if fmt.kind == "gguf":
        return _gguf(model_id, fmt)
    known = find_checkpoint(model_id, fmt.id)
    if known is not None:
        return Weights(
            known.repo,
            "checkpoint",
            f"pre-quantized {fmt.id} checkpoint {known.repo}"
            + _variant_note(known.variant, model_id),
            source=known.source,
        )
    if fmt.id in _ON_LOAD:
        return Weights(
            model_id,
            "quantize-on-load",
            f"{model_id} quantized to {fmt.id} by the engine while loading",
            on_load=_ON_LOAD[fmt.id],
        )
    recipe = find_recipe(fmt.id)
    if recipe is None:
        return Weights(
            model_id,
            "unavailable",
            f"no {fmt.id} checkpoint of {model_id} and no quantization recipe in canserve's "
            "table: this format cannot be deployed as planned",
        )
    out = f"{MODEL_DIR}/{_name(model_id)}-{recipe.scheme}"
    return Weights(
        out,
        "quantize-first",
        f"no well-known {fmt.id} checkpoint of {model_id}: quantize it with {recipe.tool} "
        f"({recipe.modifier}, {recipe.scheme}) first; the commands serve its output {out}",
        prepare=_llm_compressor(model_id, recipe, out),
        source=recipe.source,
    )
