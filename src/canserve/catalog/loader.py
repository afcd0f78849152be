"""Read the TOML data files shipped in ``canserve/catalog/data``."""

from __future__ import annotations

import tomllib
from functools import cache
from importlib import resources
from typing import Any

from canserve.errors import CatalogError

__all__ = ["data_path", "load_rows"]


def data_path(name: str) -> Any:
    """A Traversable for a file in the package's data folder."""
    return resources.files("canserve.catalog").joinpath("data").joinpath(name)


@cache
def load_rows(file_name: str, table: str) -> tuple[dict[str, Any], ...]:
    """The ``[[table]]`` rows of a data file; each must name its source and date."""
    with data_path(file_name).open("rb") as fh:
        rows = tomllib.load(fh).get(table, [])
    for row in rows:
        if not (row.get("source") or row.get("sources")) or not row.get("source_date"):
            raise CatalogError(f"{file_name}: row {row.get('id')!r} lacks source/source_date")
    return tuple(rows)
