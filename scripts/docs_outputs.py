"""Regenerate the command outputs shown in the docs, so that no page shows an answer the tool
no longer gives.

A page marks each generated block with the command that makes it::

    <!-- output: canserve plan llama-3.1-70b --users 50 -->
    ```
    ...the command's output, as a 120-column terminal shows it...
    ```

    .venv/bin/python scripts/docs_outputs.py            # rewrite the blocks
    .venv/bin/python scripts/docs_outputs.py --check    # exit 1 if a block is stale
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shlex
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "docs" / "plan.md"]
WIDTH = 120
MARKED = re.compile(r"(<!-- output: canserve (?P<args>[^\n]*?) -->\n```\n)(?P<body>.*?)(```)", re.S)


def output_of(args: str) -> str:
    """What ``canserve ARGS`` prints on a WIDTH-column terminal (stdout then stderr)."""
    os.environ["COLUMNS"] = str(WIDTH)
    from canserve.cli import output
    from canserve.cli.app import run

    output.out.width = output.err.width = WIDTH
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        status = run(shlex.split(args))
    if status != 0:
        raise SystemExit(f"canserve {args}: exit status {status}: {stderr.getvalue()}")
    text = stdout.getvalue() + stderr.getvalue()
    return "\n".join(line.rstrip() for line in text.splitlines()) + "\n"


def rendered(page: Path) -> str:
    text = page.read_text()
    return MARKED.sub(lambda m: m.group(1) + output_of(m.group("args")) + m.group(4), text)


def main(argv: list[str]) -> int:
    stale = []
    for page in PAGES:
        new = rendered(page)
        if new != page.read_text():
            stale.append(page)
            if "--check" not in argv:
                page.write_text(new)
    if stale and "--check" in argv:
        names = ", ".join(str(p.relative_to(ROOT)) for p in stale)
        print(f"stale: {names} (run scripts/docs_outputs.py)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
