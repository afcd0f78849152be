"""The ``canserve`` command line: parse, call the use case, format. No formulas live here."""

from canserve.cli.app import app, main, run

__all__ = ["app", "main", "run"]
