"""Golden parameter counts from Hugging Face ``transformers`` for the catalog's model configs.

For every ``src/canserve/catalog/data/models/*.json`` (a Hugging Face ``config.json``) this script
builds the ``*ForCausalLM`` model on PyTorch's ``meta`` device (no weights are allocated or
downloaded), counts its parameters and writes ``tests/golden/param_counts.json``. Those numbers are
the reference that canserve's own config-driven parameter counter is tested against.

It is not run by the tests or CI: it needs ``torch`` and ``transformers``, which canserve itself
does not depend on. Run it from a separate virtualenv::

    python3 -m venv /work/golden-venv
    /work/golden-venv/bin/pip install torch==2.13.0 transformers==5.24.0  # pinned, see below
    /work/golden-venv/bin/python scripts/golden_param_counts.py
    # optional: also dump per-architecture layer tensor shapes
    /work/golden-venv/bin/python scripts/golden_param_counts.py --layer-shapes /tmp/layer_shapes.txt

The committed golden file was generated with torch 2.13.0 (CPU build) and transformers 5.24.0
on Python 3.11; both versions are also recorded inside the JSON. transformers 5.24.0 is the
newest release that installs here (5.25.0 requires ``kernels>=0.19.1``, not on the index) and it
has every model type the catalog ships: ``deepseek_v32``, ``deepseek_v4``, ``glm_moe_dsa``,
``qwen3_5``/``qwen3_5_moe``, ``qwen3_vl``/``qwen3_vl_moe``, ``minimax_m2``, ``nemotron_h`` with MoE
layers, ``olmo3``, ``exaone4``, ``kimi_k25`` (checked 2026-12-02).

What is counted, per config file:

* ``params_total``: elements over the *unique* parameter tensors of the model
  (``model.parameters()`` deduplicates tied tensors, so tied input/output embeddings count once).
  Persistent buffers that checkpoints also store (e.g. DeepSeek-V3's
  ``gate.e_score_correction_bias``) are not parameters; their size is reported separately as
  ``persistent_buffer_elements``.
* ``embedding_params``: the input embedding matrix; ``lm_head_params``: the output projection,
  0 when it is tied to the input embedding (``tied_embeddings``).
* ``routed_expert_params``: every tensor inside a routed-experts module (the experts a router
  picks among, fused 3-D ``gate_up_proj``/``down_proj`` tensors and their biases included).
  Shared experts, the router/gate and any dense MLP that runs beside the experts are *not* routed.
* ``params_active = params_total - routed_expert_params * (1 - num_experts_per_tok / num_experts)``
  (exact integer arithmetic); equal to ``params_total`` for dense models, whose ``num_experts``
  and ``num_experts_per_tok`` are null.

Config handling (``quantization_config`` is always dropped: counts are for the unquantized model):

* multimodal configs with a ``text_config`` (Llama 4, Gemma 4, Qwen3.5, Qwen3-VL, Kimi K2.5):
  only the text causal LM is built, from ``text_config`` (plus the outer ``tie_word_embeddings``
  when the text config does not set it, as the multimodal model ties by the outer config):
  ``Llama4ForCausalLM``, ``Qwen3_5ForCausalLM``, ... Text models transformers has no causal-LM
  class for (Qwen3-VL) are built as their base text model plus the LM head the multimodal model
  puts on it (``TextCausalLM``).
* ``model_type: kimi_k2`` (architecture ``DeepseekV3ForCausalLM``): built as ``deepseek_v3`` from
  the same keys.
* ``model_type: RefinedWeb`` (Falcon-40B's legacy remote-code config): mapped onto
  ``FalconConfig``, see ``FALCON_RW_RENAMES`` and ``falcon_config_from_refinedweb``.
* DeepSeek-V3-style multi-token-prediction layers (``num_nextn_predict_layers``) are never built
  by transformers, so they are not counted (a ``note`` says so).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

# Never touch the network: set before transformers is imported.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

import torch
import transformers
from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForCausalLM,
    FalconConfig,
    PreTrainedConfig,
    PreTrainedModel,
)

REPO_ROOT = Path(__file__).resolve().parents[1]
CONFIG_DIR = REPO_ROOT / "src" / "canserve" / "catalog" / "data" / "models"
OUT_PATH = REPO_ROOT / "tests" / "golden" / "param_counts.json"
GENERATED_ON = "2026-12-02"

# Legacy RefinedWeb (tiiuae remote code, "RWConfig") key -> FalconConfig key.
FALCON_RW_RENAMES = {
    "n_head": "num_attention_heads",
    "n_head_kv": "num_kv_heads",
    "n_layer": "num_hidden_layers",
}
# RefinedWeb keys with no FalconConfig counterpart (they do not change any tensor shape).
FALCON_RW_DROPPED = (
    "auto_map",
    "architectures",
    "model_type",
    "apply_residual_connection_post_layernorm",
)

# A tensor belongs to the routed experts when it lives in a module called `experts`
# (`...mlp.experts.gate_up_proj`, `...feed_forward.experts.down_proj`, `...layers.N.experts.*`, or
# unfused `...experts.<i>.w1.weight`). `shared_expert(s)` does not match: it lacks the leading dot.
ROUTED_EXPERT_RE = re.compile(r"(^|\.)experts\.")

NUM_EXPERTS_KEYS = ("num_local_experts", "num_experts", "n_routed_experts")
TOP_K_KEYS = ("num_experts_per_tok", "top_k_experts", "experts_per_token")


def falcon_config_from_refinedweb(raw: dict[str, Any]) -> FalconConfig:
    """Map Falcon-40B's legacy ``RefinedWeb`` config onto ``FalconConfig``.

    ``RefinedWeb`` (40B/180B) is the "new decoder architecture": grouped KV heads (``n_head_kv``),
    parallel attention+MLP with two input layer norms per block (``ln_attn``/``ln_mlp``, which
    FalconConfig gets by ``num_ln_in_parallel_attn=None`` -> 2). (``RefinedWebModel``, the 7B
    config, would instead be ``new_decoder_architecture=False, multi_query=True``.) ``alibi``,
    ``bias``, ``parallel_attn``, ``hidden_size``, ``vocab_size``, ``layer_norm_epsilon`` and the
    dropout values have the same names in both configs and are passed through.
    ``tie_word_embeddings`` is absent, so it keeps the PretrainedConfig default (True), which is
    how the remote code ran too: Bloom-derived ``RWForCausalLM`` returns its ``lm_head`` from
    ``get_output_embeddings`` and lists ``lm_head.weight`` in ``_keys_to_ignore_on_load_missing``.
    (The original ``.bin`` checkpoint still stores a copy of lm_head: its index's ``total_size``,
    83,671,941,120 bytes in bf16, equals the tied count plus one extra 65024 x 8192 matrix.)
    """
    if raw.get("model_type") != "RefinedWeb":
        raise ValueError(f"not a RefinedWeb config: {raw.get('model_type')!r}")
    kwargs = {FALCON_RW_RENAMES.get(k, k): v for k, v in raw.items() if k not in FALCON_RW_DROPPED}
    kwargs["new_decoder_architecture"] = True
    kwargs.setdefault("tie_word_embeddings", True)
    return FalconConfig(**kwargs)


def build_config(raw: dict[str, Any]) -> tuple[PreTrainedConfig, list[str]]:
    """Turn a raw config.json dict into the transformers config of its text causal LM."""
    raw = {k: v for k, v in raw.items() if k != "quantization_config"}
    notes: list[str] = []
    model_type = raw.get("model_type")
    if model_type == "RefinedWeb":
        notes.append(
            "legacy RefinedWeb config mapped to FalconConfig: n_head->num_attention_heads, "
            "n_head_kv->num_kv_heads, n_layer->num_hidden_layers, new_decoder_architecture=True; "
            "alibi/bias/parallel_attn passed through; lm_head tied as in RWForCausalLM"
        )
        return falcon_config_from_refinedweb(raw), notes
    if "text_config" in raw:
        outer = raw
        raw = dict(raw["text_config"])
        if "tie_word_embeddings" in outer and "tie_word_embeddings" not in raw:
            raw["tie_word_embeddings"] = outer["tie_word_embeddings"]
        notes.append(f"multimodal {model_type} config: text model only, built from text_config")
    if raw.get("model_type") == "kimi_k2":
        raw["model_type"] = "deepseek_v3"
        notes.append(
            "model_type kimi_k2 built as deepseek_v3 (DeepseekV3ForCausalLM) from the same keys"
        )
    if "num_nextn_predict_layers" in raw:
        mtp = raw["num_nextn_predict_layers"]
        notes.append(
            f"num_nextn_predict_layers={mtp}: transformers never instantiates "
            "multi-token-prediction layers, so none are counted"
            + (" (the checkpoint's MTP weights are excluded)" if mtp else " (none in this model)")
        )
    kwargs = dict(raw)
    return AutoConfig.for_model(kwargs.pop("model_type"), **kwargs), notes


class TextCausalLM(torch.nn.Module):
    """A base text model plus the LM head a multimodal model puts on it (tied to the input
    embedding when the config says so), for text models without a ``*ForCausalLM`` class."""

    def __init__(self, base: torch.nn.Module, cfg: PreTrainedConfig) -> None:
        super().__init__()
        self.model = base
        self.lm_head = torch.nn.Linear(cfg.hidden_size, cfg.vocab_size, bias=False)
        if getattr(cfg, "tie_word_embeddings", False):
            self.lm_head.weight = base.get_input_embeddings().weight

    def get_input_embeddings(self) -> torch.nn.Module:
        return self.model.get_input_embeddings()  # type: ignore[no-any-return]

    def get_output_embeddings(self) -> torch.nn.Module:
        return self.lm_head


def build_model(cfg: PreTrainedConfig) -> PreTrainedModel:
    """Instantiate the causal LM without allocating weights."""
    with torch.device("meta"):
        try:
            model: PreTrainedModel = AutoModelForCausalLM.from_config(cfg)  # type: ignore[no-untyped-call]
        except ValueError as exc:
            if "Unrecognized configuration class" not in str(exc):
                raise
            model = TextCausalLM(AutoModel.from_config(cfg), cfg)  # type: ignore[assignment]
    return model


def first_config_value(cfg: PreTrainedConfig, keys: Iterable[str]) -> int | None:
    for key in keys:
        value = getattr(cfg, key, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


def count_params(model: PreTrainedModel, cfg: PreTrainedConfig) -> dict[str, Any]:
    """The golden numbers for one instantiated model."""
    total = sum(p.numel() for p in model.parameters())
    named = dict(model.named_parameters(remove_duplicate=True))
    if sum(p.numel() for p in named.values()) != total:
        raise AssertionError("parameters() and named_parameters(remove_duplicate=True) disagree")

    embedding = model.get_input_embeddings().get_parameter("weight")
    output: torch.nn.Module | None = model.get_output_embeddings()  # type: ignore[no-untyped-call]
    output_weight = None if output is None else output.get_parameter("weight")
    tied = output_weight is embedding
    lm_head = 0 if tied or output_weight is None else output_weight.numel()

    routed_names = [n for n in named if ROUTED_EXPERT_RE.search(n)]
    # Cross-check the name rule against the module classes (MixtralExperts, DeepseekV3Experts, ...).
    by_class = {
        f"{mod_name}.{p_name}"
        for mod_name, mod in model.named_modules()
        if type(mod).__name__.endswith("Experts") and "Shared" not in type(mod).__name__
        for p_name, _ in mod.named_parameters()
    }
    if set(routed_names) != by_class:
        raise AssertionError(
            f"routed-expert name rule and module classes disagree: {set(routed_names) ^ by_class}"
        )
    routed = sum(named[n].numel() for n in routed_names)

    num_experts = first_config_value(cfg, NUM_EXPERTS_KEYS) if routed else None
    top_k = first_config_value(cfg, TOP_K_KEYS) if routed else None
    if routed:
        if num_experts is None or top_k is None:
            raise AssertionError(
                "MoE model without num_experts / num_experts_per_tok in its config"
            )
        for n in routed_names:  # fused experts: leading dim is the expert index
            if named[n].shape[0] != num_experts:
                raise AssertionError(
                    f"{n}: leading dim {named[n].shape[0]} != num_experts {num_experts}"
                )
        if routed % num_experts:
            raise AssertionError("routed-expert params not divisible by num_experts")
        active = total - routed // num_experts * (num_experts - top_k)
    else:
        active = total

    # state_dict() holds persistent buffers only; non-persistent ones (rotary inv_freq) are not.
    state_keys = set(model.state_dict())
    buffers = sum(b.numel() for n, b in model.named_buffers() if n in state_keys)
    return {
        "params_total": total,
        "params_active": active,
        "embedding_params": embedding.numel(),
        "lm_head_params": lm_head,
        "tied_embeddings": tied,
        "routed_expert_params": routed,
        "num_experts": num_experts,
        "num_experts_per_tok": top_k,
        "num_hidden_layers": cfg.num_hidden_layers,
        "persistent_buffer_elements": buffers,
    }


def index_ranges(indices: list[int]) -> str:
    """[0, 1, 2, 5, 7, 8] -> '0-2,5,7-8' (indices sorted ascending)."""
    runs: list[list[int]] = []
    for i in indices:
        if runs and i == runs[-1][-1] + 1:
            runs[-1].append(i)
        else:
            runs.append([i])
    return ",".join(str(r[0]) if len(r) == 1 else f"{r[0]}-{r[-1]}" for r in runs)


def layer_shapes_report(name: str, model: PreTrainedModel) -> str:
    """Every distinct decoder-layer tensor layout of a model, plus its non-layer tensors."""
    layer_re = re.compile(r"^(.*?\.(?:layers|h)\.)(\d+)\.(.*)$")
    per_layer: dict[int, list[tuple[str, tuple[int, ...]]]] = {}
    other: list[tuple[str, tuple[int, ...]]] = []
    for n, p in model.named_parameters():
        m = layer_re.match(n)
        if m:
            per_layer.setdefault(int(m.group(2)), []).append((m.group(3), tuple(p.shape)))
        else:
            other.append((n, tuple(p.shape)))
    groups: dict[tuple[tuple[str, tuple[int, ...]], ...], list[int]] = {}
    for idx in sorted(per_layer):
        groups.setdefault(tuple(per_layer[idx]), []).append(idx)
    lines = [f"===== {name}: {type(model).__name__} ({len(per_layer)} layers)"]
    for n, shape in other:
        lines.append(f"  {n} {list(shape)}")
    for sig, idxs in groups.items():
        count = sum(torch.Size(s).numel() for _, s in sig)
        lines.append(
            f"  -- layers [{index_ranges(idxs)}] ({len(idxs)} layers, {count:,} params each)"
        )
        lines.extend(f"    {n} {list(s)}" for n, s in sig)
    state_keys = set(model.state_dict())
    buffers = [(n, list(b.shape)) for n, b in model.named_buffers() if n in state_keys]
    if buffers:
        lines.append(
            f"  -- persistent buffers (not parameters): {len(buffers)}, "
            f"e.g. {buffers[0][0]} {buffers[0][1]}"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT_PATH)
    parser.add_argument(
        "--layer-shapes", type=Path, help="also write per-architecture layer tensor shapes here"
    )
    args = parser.parse_args(argv)

    models: dict[str, dict[str, Any]] = {}
    shapes: dict[str, str] = {}
    for path in sorted(CONFIG_DIR.glob("*.json")):
        raw = json.loads(path.read_text())
        try:
            cfg, notes = build_config(raw)
            model = build_model(cfg)
        except Exception as exc:  # record, never fake a number
            models[path.stem] = {"error": f"{type(exc).__name__}: {exc}"}
            print(f"{path.stem}: ERROR {exc}", file=sys.stderr)
            continue
        entry = count_params(model, cfg)
        entry["model_class"] = type(model).__name__
        if entry["persistent_buffer_elements"]:
            notes.append(
                f"{entry['persistent_buffer_elements']} elements of persistent buffers (state_dict "
                "entries that are not parameters) are not counted"
            )
        if notes:
            entry["note"] = "; ".join(notes)
        models[path.stem] = entry
        if args.layer_shapes and cfg.model_type not in shapes:
            shapes[cfg.model_type] = layer_shapes_report(f"{cfg.model_type} ({path.stem})", model)
        print(
            f"{path.stem}: total={entry['params_total']:,} active={entry['params_active']:,}",
            file=sys.stderr,
        )

    golden = {
        "generated_by": "scripts/golden_param_counts.py",
        "generated_on": GENERATED_ON,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "models": models,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(golden, indent=1, sort_keys=True) + "\n")
    if args.layer_shapes:
        args.layer_shapes.write_text("".join(shapes[k] for k in sorted(shapes)))
    return 1 if any("error" in m for m in models.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
