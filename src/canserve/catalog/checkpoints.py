"""Pre-quantized checkpoints and quantization recipes (rows in ``data/checkpoints.toml``).

:func:`find_checkpoint` answers "which Hugging Face repo serves model M in format F?" from a
sourced table (never a guessed name); :func:`find_recipe` says which tool and scheme produce
format F when no such checkpoint exists.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from canserve.catalog.loader import load_rows

__all__ = ["Checkpoint", "Recipe", "find_checkpoint", "find_recipe", "list_checkpoints"]


@dataclass(frozen=True)
class Checkpoint:
    model: str  # the catalog model's Hugging Face id
    format: str  # canserve format id
    repo: str  # the Hugging Face repo to serve
    variant: str  # "same": this model's weights; "instruct": its Instruct sibling
    source: str
    source_date: str
    gguf_quant: str | None = None  # llama-server -hf REPO:TAG


@dataclass(frozen=True)
class Recipe:
    format: str
    tool: str
    modifier: str
    module: str
    scheme: str
    calibration: bool
    source: str
    source_date: str


@cache
def list_checkpoints() -> tuple[Checkpoint, ...]:
    return tuple(
        Checkpoint(
            model=r["model"],
            format=r["format"],
            repo=r["repo"],
            variant=r["variant"],
            source=r["source"],
            source_date=str(r["source_date"]),
            gguf_quant=r.get("gguf_quant"),
        )
        for r in load_rows("checkpoints.toml", "checkpoint")
    )


@cache
def _recipes() -> dict[str, Recipe]:
    rows = load_rows("checkpoints.toml", "recipe")
    return {
        r["format"]: Recipe(
            format=r["format"],
            tool=r["tool"],
            modifier=r["modifier"],
            module=r["module"],
            scheme=r["scheme"],
            calibration=bool(r["calibration"]),
            source=r["source"],
            source_date=str(r["source_date"]),
        )
        for r in rows
    }


def find_checkpoint(model_id: str, format_id: str) -> Checkpoint | None:
    """The sourced checkpoint serving ``model_id`` in ``format_id``; its own weights first."""
    rows = [c for c in list_checkpoints() if c.model == model_id and c.format == format_id]
    rows.sort(key=lambda c: c.variant != "same")
    return rows[0] if rows else None


def find_recipe(format_id: str) -> Recipe | None:
    """How to quantize a 16-bit checkpoint to ``format_id`` (None: no recipe in the catalog)."""
    return _recipes().get(format_id)
