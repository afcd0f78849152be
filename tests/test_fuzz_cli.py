"""Fuzzing the command line in-process (``canserve.cli.run``): every option of every command,
given odd numbers, odd strings and odd files, ends in exit status 0 or 2 with no traceback;
a failure is one ``error:`` line; ``--json`` output is strict JSON whose sizes and times are
finite and non-negative.

The options are read from the command definitions, so a new option is fuzzed without editing
this file. Deterministic (``derandomize``); each example has a 60 s alarm, so a hang fails.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import signal
import tempfile
from pathlib import Path
from typing import Any

import pytest
import typer.main
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from canserve.cli.app import app, run

COMMANDS = typer.main.get_command(app).commands  # type: ignore[attr-defined]

# Not fuzzed: they reach the network (--hub), start a server (web), run a minutes-long
# measurement (probe-cpu) or load transformers (--exact). Each has its own tests.
SKIP_COMMANDS = {"web", "probe-cpu"}
SKIP_OPTIONS = {"--hub", "--exact"}

_FILES = Path(tempfile.mkdtemp(prefix="canserve-fuzz-"))
os.environ.setdefault("CANSERVE_CACHE_DIR", str(_FILES / "cache"))


def _file(name: str, data: bytes) -> str:
    path = _FILES / name
    path.write_bytes(data)
    return str(path)


RUN = {"format": "canserve-bench/1", "config": {"url": 5}, "summary": None, "records": [7]}
FILES = [
    _file("empty.json", b""),
    _file("binary.json", bytes(range(256))),
    _file("nan.json", b'{"a": NaN, "b": [Infinity, 1e400]}'),
    _file("list.json", b"[1, 2, 3]"),
    _file("deep.json", b"[" * 50_000 + b"]" * 50_000),
    _file("config.json", json.dumps({"model_type": "llama", "num_hidden_layers": 10**9}).encode()),
    _file("run.json", json.dumps(RUN).encode()),
    _file("cal.toml", b"kernels = 5\n[decode]\nweight_bw_fraction = 'x'\n"),
    _file("trace.jsonl", b'{"t": NaN, "prompt": 5, "output": 3}\n{"t": 1e400}\n'),
    _file("magic.gguf", b"GGUF"),
    str(_FILES),  # a folder
    str(_FILES / "missing" / "out.html"),  # a missing folder
    str(_FILES / "out.html"),  # a new file in a real folder
    "/dev/null",
    "-",
]
NUMBERS = [
    "0",
    "-1",
    "-0",
    "1",
    "2",
    "7",
    "0.5",
    "1e-9",
    "nan",
    "inf",
    "-inf",
    "1e300",
    "1e400",
    "100000",
    "1" * 60,
    "0x10",
]
WORDS = [
    "",
    " ",
    "abc",
    "H100",
    "cpu",
    "awq",
    "fp8",
    "vllm",
    "llama-3.1-8b",
    "H100,L4",
    "," * 50,
    "ttft_p95=1s",
    "ttft_p95=nan",
    "tpot_p99=-1ms",
    "e2e_p50=1e400s",
    "lognormal:512,inf",
    "uniform:1,1e300",
    "file:/dev/zero",
    "x" * 5_000,
    "\x00\udcff",
]
VALUES = st.sampled_from(NUMBERS + WORDS + FILES)
MODELS = ["llama-3.1-8b", "qwen3-30b-a3b", "gpt-oss-20b", "Llama 3.1 70B", "no-such-model", ""]
POSITIONAL: dict[str, list[str]] = {
    "bench": ["http://127.0.0.1:1", "http://[::1", "http://127.0.0.1:abc", "http://h:99999", "x"],
    "compare": FILES,
    "calibrate": FILES,
    "models": ["", "llama", "x" * 5_000],
    "gpus": ["", "H100", "\x00"],
}
BASE: dict[str, list[str]] = {  # a valid base for commands whose positional is a model
    "bench": ["--timeout-s", "2", "--requests", "2", "--duration-s", "5"],
    "compare": ["--model", "llama-3.1-8b"],
    "calibrate": ["--model", "llama-3.1-8b"],
    "simulate": ["--requests", "50"],
}


def _options(command: Any) -> list[Any]:
    return [
        p
        for p in command.params
        if p.param_type_name == "option" and p.opts[0] not in SKIP_OPTIONS | {"--help"}
    ]


def _argv(data: st.DataObject, name: str) -> list[str]:
    command = COMMANDS[name]
    argv = [name]
    has_positional = any(p.param_type_name == "argument" for p in command.params)
    if has_positional:
        argv.append(data.draw(st.sampled_from(POSITIONAL.get(name, MODELS)), label="positional"))
    argv += BASE.get(name, [])
    options = _options(command)
    for option in data.draw(st.lists(st.sampled_from(options), max_size=3), label="options"):
        argv.append(option.opts[0])
        if not option.is_flag:
            argv.append(data.draw(VALUES, label=option.opts[0]))
    if data.draw(st.booleans(), label="json"):
        argv.append("--json")
    return argv


class _Hang(Exception):
    pass


def _alarm(signum: int, frame: Any) -> None:
    raise _Hang("no answer within 60 s")


def _run(argv: list[str]) -> tuple[int, str, str]:
    stdout, stderr = io.StringIO(), io.StringIO()
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(60)
    try:
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            status = run(argv)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    return status, stdout.getvalue(), stderr.getvalue()


def _reject_constant(value: str) -> None:
    raise AssertionError(f"non-strict JSON constant {value}")


SIZE_OR_TIME = ("_bytes", "_s", "_gb", "_gib")


def _check_figures(value: Any, key: str = "") -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _check_figures(v, str(k))
    elif isinstance(value, list):
        for item in value:
            _check_figures(item, key)
    elif isinstance(value, float):
        assert math.isfinite(value), (key, value)
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if number and key.endswith(SIZE_OR_TIME) and "error" not in key and "delta" not in key:
        assert value >= 0, (key, value)


def _short(argv: list[str]) -> str:
    return " ".join(a if len(a) < 60 else a[:40] + f"...({len(a)} chars)" for a in argv)


def _check(argv: list[str]) -> None:
    try:
        status, stdout, stderr = _run(argv)
    except BaseException as exc:
        raise AssertionError(f"{_short(argv)}: {type(exc).__name__}: {str(exc)[:300]}") from exc
    where = f"{_short(argv)}: status {status}: {stderr[-600:]}"
    assert status in (0, 2), where
    assert "Traceback" not in stdout + stderr, where
    if status == 2:
        lines = [line for line in stderr.splitlines() if line and not line.startswith("warning")]
        assert lines and lines[-1].startswith("error: "), where
        errors = [line for line in lines if line.startswith("error: ")]
        assert len(errors) == 1 and len(errors[0]) < 2_000, where
    elif "--json" in argv and stdout.strip():
        _check_figures(json.loads(stdout, parse_constant=_reject_constant))


FUZZ = settings(
    max_examples=40,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


@pytest.mark.parametrize("name", sorted(set(COMMANDS) - SKIP_COMMANDS))
@FUZZ
@given(data=st.data())
def test_every_option_of_every_command_answers_or_refuses_in_one_line(name, data):
    _check(_argv(data, name))


@pytest.mark.parametrize(
    "argv",
    [
        ["memory", "--config", FILES[5]],
        ["memory", "--config", FILES[4]],
        ["memory", "--config", "/dev/zero"],
        ["memory", "--gguf", FILES[9]],
        ["perf", "llama-3.1-8b", "--gpu", "cpu", "--tp", "2", "--json"],
        ["simulate", "llama-3.1-8b", "--seed", "-1"],
        ["simulate", "llama-3.1-8b", "--prompt", "lognormal:512,inf"],
        ["simulate", "llama-3.1-8b", "--trace", FILES[8]],
        ["simulate", "llama-3.1-8b", "--output", "1", "--requests", "20", "--json"],
        ["simulate", "llama-3.1-8b", "--rate", "1e6", "--duration-s", "1e7"],
        ["plan", "llama-3.1-8b", "--users", "1000000"],
        ["plan", "llama-3.1-8b", "--context", "-1"],
        ["plan", "llama-3.1-8b", "--report", FILES[11]],
        ["compare", FILES[6], "--model", "llama-3.1-8b"],
        ["calibrate", FILES[1], "--model", "llama-3.1-8b"],
        ["perf", "llama-3.1-8b", "--calibration", FILES[7]],
        ["bench", "http://127.0.0.1:abc"],
        ["bench", "http://127.0.0.1:1", "--timeout-s", "nan"],
    ],
    ids=lambda argv: " ".join(Path(a).name[:30] for a in argv),
)
def test_cases_found_by_earlier_fuzzing(argv):
    """The reproduced cases of issue 17: each once crashed, hung or printed nonsense."""
    _check(argv)
