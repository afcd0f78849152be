"""llama-server's own timing of its prompt steps, from its log (issue 12).

``python scripts/llama_server_steps.py LOG [FIRST LAST]`` reads a ``llama-server`` log (written
by ``tests/llama_server.py``, e.g. the ``llama-server-PORT.log`` that
``scripts/llama_server_check.py FOLDER`` keeps) and prints, per kind of step that finished a
prompt (how many slots were generating, how many prompts it carried), the median server-side
``prompt eval time`` per prompt: the duration of that step, from the server building its batch
to sampling the prompt's first token (``t_start_process_prompt`` .. ``t_start_generation`` in
tools/server/server.cpp). With FIRST LAST, only the requests FIRST..LAST-1 in completion order
(e.g. one open-loop run of the check). Steps measured in one run share the machine's state, so
a step with decodes compares with a prompt alone in the same rows, not across runs.
"""

from __future__ import annotations

import re
import statistics
import sys
from collections import defaultdict
from pathlib import Path

_BATCHED = re.compile(r"id +(\d+) \| task \d+ \| (new prompt|prompt done)")
_RELEASE = re.compile(r"id +(\d+) \| task \d+ \| stop processing")
_TIMING = re.compile(r"print_timing: id +(\d+) \| task \d+ \|")
_PROMPT_EVAL = re.compile(r"prompt eval time = +([\d.]+) ms")


def steps(log: str) -> list[tuple[int, int, float]]:
    """(slots generating, prompts in the step, prompt eval ms) per finished request, in order.
    One pass of the server's loop launches tasks, then logs 'new prompt' and 'prompt done' for
    each prompt it puts in the batch; a launch after a 'prompt done' starts the next pass."""
    generating: set[int] = set()
    step: dict[int, tuple[int, int]] = {}
    rows: list[tuple[int, int, float]] = []
    batch: list[int] = []
    before = 0
    lines = log.splitlines()

    def close() -> None:
        for slot in batch:
            step[slot] = (before, len(batch))
            generating.add(slot)
        batch.clear()

    for i, line in enumerate(lines):
        m = _BATCHED.search(line)
        if m:
            if not batch:
                before = len(generating)
            if m.group(2) == "prompt done":
                batch.append(int(m.group(1)))
            continue
        if "launch_slot_" in line:
            if batch:
                close()
            continue
        if "kv cache rm" in line or "prompt processing progress" in line:
            continue
        close()
        m = _RELEASE.search(line)
        if m:
            generating.discard(int(m.group(1)))
            continue
        m = _TIMING.search(line)
        if m and int(m.group(1)) in step and i + 1 < len(lines):
            ms = _PROMPT_EVAL.search(lines[i + 1])
            if ms:
                rows.append((*step.pop(int(m.group(1))), float(ms.group(1))))
    return rows


def main(argv: list[str]) -> int:
    rows = steps(Path(argv[0]).read_text(errors="replace"))
    if len(argv) > 2:
        rows = rows[int(argv[1]) : int(argv[2])]
    by_kind: dict[tuple[int, int], list[float]] = defaultdict(list)
    for generating, prompts, ms in rows:
        by_kind[(generating, prompts)].append(ms / prompts)
    print("generating  prompts  requests  prompt eval per prompt, median ms")
    for (generating, prompts), values in sorted(by_kind.items()):
        print(f"{generating:10d}  {prompts:7d}  {len(values):8d}  {statistics.median(values):8.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
