"""The web server under load and abuse, against a real uvicorn on loopback: expensive work runs
in a bounded process pool with a time budget; a full server answers 503 with Retry-After; a
client that leaves cancels its work; SIGTERM stops the server promptly."""

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import httpx2
import pytest

from canserve.web.app import create_app
from canserve.web.pool import PoolSettings
from tests.web_server import free_port, served

# a simulation the schema allows that runs for minutes (issue 15): 1,000 replicas, 50,000 requests
HEAVY = dict(model="llama-3.1-8b", gpu="H100", replicas=1000, rate=1000, requests=50000)
LIGHT = dict(model="llama-3.1-8b", gpu="H100", batch=4, context=4096)


APPS: dict = {}  # base URL -> the application served there


def _serve(settings: PoolSettings) -> Iterator[str]:
    app = create_app(settings)
    with served(app) as base:
        APPS[base] = app
        # the first job of each worker waits for its imports; warm them all
        for _ in range(settings.workers):
            assert httpx2.post(base + "/api/memory", json=LIGHT, timeout=60).status_code == 200
        yield base


@pytest.fixture(scope="module")
def one_worker() -> Iterator[str]:
    """One worker, one request may wait, a 3 s budget."""
    yield from _serve(PoolSettings(workers=1, queue=1, time_budget_s=3.0))


def _stats(base: str) -> dict:
    return httpx2.get(base + "/api/health", timeout=5).json()["pool"]


def _idle(base: str, within_s: float = 5.0) -> bool:
    deadline = time.time() + within_s
    while time.time() < deadline:
        s = _stats(base)
        if s["running"] == 0 and s["waiting"] == 0:
            return True
        time.sleep(0.1)
    return False


def test_a_request_over_the_time_budget_is_refused_with_the_limit(one_worker):
    t0 = time.perf_counter()
    r = httpx2.post(one_worker + "/api/simulate", json=HEAVY, timeout=30)
    took = time.perf_counter() - t0
    assert r.status_code == 422
    assert "3 s time budget" in r.json()["detail"]
    assert took < 3.0 + 2.0  # the budget, plus the grace to stop a worker
    assert _idle(one_worker)


def test_health_answers_while_the_worker_computes(one_worker):
    done = threading.Event()
    threading.Thread(
        target=lambda: (
            httpx2.post(one_worker + "/api/simulate", json=HEAVY, timeout=30),
            done.set(),
        ),
        daemon=True,
    ).start()
    time.sleep(0.5)
    worst = 0.0
    for _ in range(10):
        t0 = time.perf_counter()
        assert httpx2.get(one_worker + "/api/health", timeout=5).status_code == 200
        worst = max(worst, time.perf_counter() - t0)
    assert _stats(one_worker)["running"] == 1  # the simulation was running all along
    assert worst < 0.5
    done.wait(10)
    assert _idle(one_worker)


def test_a_full_server_answers_503_with_retry_after(one_worker):
    results: list[httpx2.Response] = []

    def post() -> None:
        results.append(httpx2.post(one_worker + "/api/simulate", json=HEAVY, timeout=30))

    threads = [threading.Thread(target=post) for _ in range(4)]
    for t in threads:
        t.start()
        time.sleep(0.1)
    for t in threads:
        t.join(20)
    refused = [r for r in results if r.status_code == 503]
    assert len(results) == 4 and len(refused) >= 2  # one runs, one waits, the rest are refused
    assert all(int(r.headers["retry-after"]) >= 1 for r in refused)
    assert all("busy" in r.json()["detail"] for r in refused)
    assert _idle(one_worker)


def test_a_client_that_leaves_cancels_its_work(one_worker):
    with pytest.raises(httpx2.TimeoutException):
        httpx2.post(one_worker + "/api/simulate", json=HEAVY, timeout=0.5)
    # the worker is free again long before the 3 s budget would have freed it
    assert _idle(one_worker, within_s=1.5)
    t0 = time.perf_counter()
    assert httpx2.post(one_worker + "/api/memory", json=LIGHT, timeout=10).status_code == 200
    assert time.perf_counter() - t0 < 1.0


def test_a_chunked_body_over_the_limit_is_413(one_worker):
    def chunks() -> Iterator[bytes]:
        yield b'{"model": "llama-3.1-8b", "config": {"pad": "'
        for _ in range(40):
            yield b"x" * 65536
        yield b'"}}'

    r = httpx2.post(
        one_worker + "/api/memory",
        content=chunks(),
        headers={"content-type": "application/json"},
        timeout=30,
    )
    assert r.status_code == 413


def test_a_dead_worker_is_replaced(one_worker):
    before = httpx2.post(one_worker + "/api/memory", json=LIGHT, timeout=10)
    assert before.status_code == 200
    pids = [w.process.pid for w in APPS[one_worker].state.pool._all]  # this server's workers
    assert pids, "no worker process found"
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    statuses = [
        httpx2.post(one_worker + "/api/memory", json=LIGHT, timeout=60).status_code
        for _ in range(3)
    ]
    assert statuses[-1] == 200 and set(statuses) <= {200, 503}


def test_sigterm_stops_the_server_promptly_mid_request():
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "canserve", "web", "--port", str(port), "--workers", "1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                if httpx2.get(base + "/api/health", timeout=1).status_code == 200:
                    break
            except httpx2.HTTPError:
                time.sleep(0.2)

        def heavy() -> None:
            with contextlib.suppress(httpx2.HTTPError):  # the server stops under it
                httpx2.post(base + "/api/simulate", json=HEAVY, timeout=30)

        threading.Thread(target=heavy, daemon=True).start()
        time.sleep(3)  # the worker is importing or computing
        t0 = time.perf_counter()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
        assert time.perf_counter() - t0 < 5
        assert b"Traceback" not in proc.stderr.read()
        left = subprocess.run(
            ["pgrep", "-f", "canserve.web.worker", "-P", str(proc.pid)], capture_output=True
        )
        assert left.stdout == b""
    finally:
        if proc.poll() is None:
            proc.kill()


@pytest.mark.parametrize("args", [["--workers", "0"], ["--time-budget-s", "0"]])
def test_bad_server_options_are_one_line_errors(args):
    from tests.conftest import run_cli

    out = run_cli("web", *args, timeout=30)
    assert out.returncode == 2 and out.stderr.startswith("error:") and "Traceback" not in out.stderr
