"""The command outputs shown in the docs are the tool's answers today (scripts/docs_outputs.py)."""

from tests.conftest import load_script


def test_docs_show_the_outputs_the_commands_give_today():
    docs = load_script("docs_outputs")
    for page in docs.PAGES:
        assert "<!-- output: canserve " in page.read_text(), page
        assert docs.rendered(page) == page.read_text(), (
            f"{page.name} is stale: run .venv/bin/python scripts/docs_outputs.py"
        )
