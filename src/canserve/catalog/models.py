"""The built-in model catalog: real Hugging Face config.json files shipped as package data.

Rows live in ``data/models.toml`` (id, other ids, aliases, provenance); the configs themselves in
``data/models/``. :func:`get_model` resolves a name exactly (id, other id or alias, any case);
:func:`load_model` also accepts a path to a config.json or a folder holding one, and, when asked,
a Hugging Face Hub id fetched online (see :mod:`canserve.catalog.hub`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from canserve.arch import ModelSpec, read_config_file, spec_from_config
from canserve.catalog.index import NameIndex
from canserve.catalog.loader import data_path, load_rows
from canserve.errors import UnknownModelError

__all__ = ["CatalogModel", "get_model", "list_models", "load_model"]


@dataclass(frozen=True)
class CatalogModel:
    id: str
    file: str
    other_ids: tuple[str, ...]
    aliases: tuple[str, ...]
    source: str
    source_date: str

    @property
    def spec(self) -> ModelSpec:
        return _spec(self.id)


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
        )
        for row in load_rows("models.toml", "model")
    )


@cache
def _index() -> NameIndex[CatalogModel]:
    index: NameIndex[CatalogModel] = NameIndex(
        UnknownModelError, "see: canserve models; or pass --config PATH"
    )
    for row in _rows():
        index.add(row, (row.id, *row.other_ids, *row.aliases))
    return index


@cache
def _spec(model_id: str) -> ModelSpec:
    row = _index().get(model_id)
    raw = json.loads(data_path(f"models/{row.file}").read_text(encoding="utf-8"))
    return spec_from_config(raw, row.id)


def get_model(name: str) -> ModelSpec:
    """The catalog model called ``name`` (Hugging Face id or alias, any case)."""
    return _spec(_index().get(name).id)


def list_models() -> list[CatalogModel]:
    return list(_rows())


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
        return spec_from_config(read_config_file(config), name or str(config))
    if name is None:
        raise UnknownModelError("", (), "give a model name or --config PATH")
    if hub and name not in _index():
        from canserve.catalog.hub import fetch_config

        return spec_from_config(read_config_file(fetch_config(name)), name)
    return get_model(name)
