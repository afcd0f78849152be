"""The built-in model catalog: real Hugging Face config.json files shipped as package data.

Rows live in ``data/models.toml`` (id, other ids, aliases, provenance); the configs themselves in
``data/models/`` (and ModelOpt ``hf_quant_config.json`` files in ``data/models/hf_quant/``).
:func:`get_model` resolves a name exactly (id, other id or alias, any case); :func:`search_models`
finds entries by words for pickers; :func:`load_model` also accepts a path to a config.json or a
folder holding one, and, when asked, a Hugging Face Hub id fetched online (see
:mod:`canserve.catalog.hub`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from canserve.arch import ModelSpec, read_config_file, spec_from_config
from canserve.arch.config import read_quant_file
from canserve.catalog.index import NameIndex
from canserve.catalog.loader import data_path, load_rows
from canserve.errors import UnknownModelError

__all__ = ["CatalogModel", "get_model", "list_models", "load_model", "search_models"]

UNKNOWN_MODEL_HINT = (
    "see: canserve models; or pass --config PATH (a config.json or its folder), "
    "or --hub to fetch the Hub id's config.json"
)


@dataclass(frozen=True)
class CatalogModel:
    id: str
    file: str
    other_ids: tuple[str, ...]
    aliases: tuple[str, ...]
    source: str
    source_date: str
    quant_file: str | None = None

    @property
    def spec(self) -> ModelSpec:
        return _spec(self.id)

    @property
    def names(self) -> tuple[str, ...]:
        return (self.id, *self.other_ids, *self.aliases)


@cache
def _rows() -> tuple[CatalogModel, ...]:
    return tuple(
        CatalogModel(
            id=row["id"],
            file=row["file"],
            other_ids=tuple(row.get("other_ids", ())),
            aliases=tuple(row.get("aliases", ())),
            source=row["source"],
            source_date=row["source_date"],
            quant_file=row.get("quant_file"),
        )
        for row in load_rows("models.toml", "model")
    )


@cache
def _index() -> NameIndex[CatalogModel]:
    index: NameIndex[CatalogModel] = NameIndex(UnknownModelError, UNKNOWN_MODEL_HINT)
    for row in _rows():
        index.add(row, row.names)
    return index


def _data_json(name: str) -> Any:
    return json.loads(data_path(f"models/{name}").read_text(encoding="utf-8"))


@cache
def _spec(model_id: str) -> ModelSpec:
    row = _index().get(model_id)
    quant = _data_json(row.quant_file) if row.quant_file else None
    return spec_from_config(_data_json(row.file), row.id, hf_quant_config=quant)


def get_model(name: str) -> ModelSpec:
    """The catalog model called ``name`` (Hugging Face id or alias, any case)."""
    return _spec(_index().get(name).id)


def model_config(name: str) -> dict[str, Any]:
    """The config.json of the catalog model called ``name``, as shipped."""
    config: dict[str, Any] = _data_json(_index().get(name).file)
    return config


def list_models() -> list[CatalogModel]:
    return list(_rows())


def _words(text: str) -> list[str]:
    """Lower-case words: runs of letters, and numbers (dotted versions, a one-letter unit kept):
    ``Meta-Llama-3.1-70B`` and ``llama3.1 70b`` -> ``meta llama 3.1 70b``."""
    return re.findall(r"\d+(?:\.\d+)*(?:[a-z](?![a-z]))?|[a-z]+", text.lower())


def _word_set(row: CatalogModel) -> set[str]:
    words = {w for name in row.names for w in _words(name.replace("/", " "))}
    return words | {w.replace(".", "") for w in words}  # "3.1" also matches "31"


def search_models(query: str, limit: int = 20) -> list[CatalogModel]:
    """Catalog entries whose names contain every word of ``query`` (any case; spaces, dots,
    dashes and slashes separate words), best first: exact names, then fewest extra words.

    ``"Llama 3.1 70B"`` finds meta-llama/Meta-Llama-3.1-70B (and its instruct ids). For pickers
    and suggestions only: :func:`get_model` stays exact.
    """
    wanted = _words(query)
    if not wanted or limit < 1:
        return []
    hits = []
    for row in _rows():
        words = _word_set(row)
        if all(any(w == word or word.startswith(w) for word in words) for w in wanted):
            exact = query.strip().lower() in {n.lower() for n in row.names}
            hits.append((not exact, min(len(_words(n)) for n in row.names), row.id, row))
    return [row for *_, row in sorted(hits, key=lambda h: h[:3])][:limit]


def _local_spec(config: str | Path, name: str | None) -> ModelSpec:
    quant = read_quant_file(config)
    return spec_from_config(read_config_file(config), name or str(config), hf_quant_config=quant)


def load_model(
    name: str | None = None,
    config: str | Path | None = None,
    *,
    hub: bool = False,
    gguf: str | Path | None = None,
) -> ModelSpec:
    """Resolve a model from the catalog, a config.json path, a GGUF file, or (``hub=True``) the
    Hub. ``gguf`` and ``config`` win over ``name``, which then only labels the result.
    """
    if gguf is not None:
        from canserve.catalog.gguf_file import read_gguf

        return read_gguf(gguf)
    if config is not None:
        return _local_spec(config, name)
    if name is None:
        raise UnknownModelError("", (), "give a model name or --config PATH")
    if hub and name not in _index():
        from canserve.catalog.hub import fetch_config

        return _local_spec(fetch_config(name), name)
    return get_model(name)
