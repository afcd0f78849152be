"""Weight-quantization formats (rows in ``data/quant_formats.toml``)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

from canserve.catalog.index import NameIndex
from canserve.catalog.loader import load_rows
from canserve.errors import UnknownQuantError

__all__ = ["QuantFormat", "UnknownQuantError", "get_quant", "list_quants"]


@dataclass(frozen=True)
class QuantFormat:
    """How one format stores weights; see the header of ``quant_formats.toml`` for the formula."""

    id: str
    aliases: tuple[str, ...]
    description: str
    source: str
    source_date: str
    kind: Literal["uniform", "gguf", "file"] = "uniform"
    quantized_roles: frozenset[str] = frozenset()
    weight_bits: float = 16.0
    group_size: int = 0
    scale_bits: float = 0.0
    zero_bits: float = 0.0
    row_index_bits: float = 0.0
    block_2d: int = 0
    channel_scale_bits: float = 0.0
    tensor_scale_bits: float = 0.0
    unquantized_bits: int = 16
    gguf_base: str = ""
    vllm_quantization: str | None = None
    compute_dtype: str = "bf16"


def _from_row(row: dict[str, Any]) -> QuantFormat:
    fields = dict(row)
    fields["aliases"] = tuple(row.get("aliases", ()))
    fields["quantized_roles"] = frozenset(row.get("quantized_roles", ()))
    return QuantFormat(**fields)


@cache
def _formats() -> tuple[QuantFormat, ...]:
    return tuple(_from_row(row) for row in load_rows("quant_formats.toml", "format"))


@cache
def _index() -> NameIndex[QuantFormat]:
    index: NameIndex[QuantFormat] = NameIndex(UnknownQuantError, "see: canserve quants")
    for fmt in _formats():
        index.add(fmt, (fmt.id, *fmt.aliases))
    return index


def get_quant(name: str) -> QuantFormat:
    """The format called ``name`` (id or alias, any case)."""
    return _index().get(name)


def list_quants() -> list[QuantFormat]:
    return list(_formats())
