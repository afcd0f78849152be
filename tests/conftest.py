import json
from pathlib import Path

import pytest

GOLDEN = json.loads((Path(__file__).parent / "golden" / "param_counts.json").read_text())["models"]


@pytest.fixture(scope="session")
def golden() -> dict:
    return GOLDEN
