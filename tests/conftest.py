import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]


def load_script(name: str) -> ModuleType:
    """Import ``scripts/<name>.py`` (doc generators and the fitting script) as a module."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


GOLDEN = json.loads((Path(__file__).parent / "golden" / "param_counts.json").read_text())["models"]


@pytest.fixture(scope="session")
def golden() -> dict:
    return GOLDEN


def run_cli(
    *args: str, env: dict | None = None, timeout: float = 600, preexec_fn=None
) -> subprocess.CompletedProcess:
    """Run ``python -m canserve ARGS`` as a user would; wide terminal, captured output."""
    return subprocess.run(
        [sys.executable, "-m", "canserve", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
        timeout=timeout,
        preexec_fn=preexec_fn,
    )
