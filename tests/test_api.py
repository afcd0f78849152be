"""The public API is small, sorted and importable without heavy dependencies."""

import subprocess
import sys

import canserve


def _isort_key(name: str) -> tuple[bool, bool, str]:
    """ruff RUF022's order: CONSTANTS, then Classes, then functions."""
    return (not name.isupper(), not name[:1].isupper(), name)


def test_all_is_sorted_and_exported():
    assert canserve.__all__ == sorted(canserve.__all__, key=_isort_key)
    for name in canserve.__all__:
        assert hasattr(canserve, name)


def test_core_import_does_not_pull_heavy_modules():
    code = (
        "import sys, canserve as c; "
        "c.estimate_memory(c.serving_config(c.get_model('llama-3.1-8b'))); "
        "print(sorted(m for m in ('numpy', 'gguf', 'torch', 'transformers', 'huggingface_hub', "
        "'typer') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_one_exception_tree():
    """Every error class canserve raises on purpose is a CanserveError, drawn in errors.py."""
    from canserve import errors

    for name in errors.__all__:
        cls = getattr(errors, name)
        assert issubclass(cls, errors.CanserveError)
        assert name in errors.__doc__
        assert name in canserve.__all__
