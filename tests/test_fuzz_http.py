"""Fuzzing the HTTP API of a started server (``canserve web`` in its own process): every field of
every POST body, given odd JSON (NaN and 1e400 literals, huge numbers, wrong types, deep
nesting, file specs), is answered with 2xx or 4xx, never 5xx, as strict JSON, within the
server's time budget; ``/api/health`` stays responsive throughout.

The fields are read from the query dataclasses (``canserve.queries``), which are the bodies, so
a new field is fuzzed without editing this file. Deterministic (``derandomize``).
"""

from __future__ import annotations

import dataclasses
import json
import math
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx2 as httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from canserve.queries import CostQuery, MemoryQuery, PerfQuery, PlanQuery, SimulateQuery
from tests.web_server import free_port

ENDPOINTS = {
    "/api/memory": MemoryQuery,
    "/api/perf": PerfQuery,
    "/api/simulate": SimulateQuery,
    "/api/plan": PlanQuery,
    "/api/cost": CostQuery,
}
BASE = {  # a valid body each mutation starts from
    "/api/memory": {"model": "llama-3.1-8b", "gpu": "H100"},
    "/api/perf": {"model": "llama-3.1-8b", "gpu": "H100"},
    "/api/simulate": {"model": "llama-3.1-8b", "gpu": "H100", "requests": 50},
    "/api/plan": {"model": "llama-3.1-8b", "users": 10, "gpu": "L4,H100"},
    "/api/cost": {"model": "llama-3.1-8b", "gpu": "H100"},
}
# JSON text, so that literals Python's encoder would refuse (NaN, 1e400) reach the server.
ODD = [
    "null",
    "true",
    "0",
    "-1",
    "1.5",
    "NaN",
    "Infinity",
    "-Infinity",
    "1e400",
    "1e300",
    "1" * 400,
    "1000000",
    '""',
    '"abc"',
    '"nan"',
    '"file:/dev/zero"',
    '"/etc/passwd"',
    '"lognormal:512,inf"',
    '"ttft_p95=1s"',
    json.dumps("x" * 20_000),
    json.dumps(",".join(["H100"] * 5_000)),
    "[]",
    "[1, 2, 3]",
    json.dumps(list(range(5_000))),
    "{}",
    '{"num_hidden_layers": 1000000000, "model_type": "llama"}',
    "[" * 5_000 + "]" * 5_000,
]
SLOW_S = 30.0  # the server answers or refuses every request within its time budget (15 s)


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "canserve", "web", "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            if proc.poll() is not None:
                pytest.fail(f"canserve web exited with {proc.returncode}: {proc.stderr.read()}")
            try:
                if httpx.get(url + "/api/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        else:
            pytest.fail("canserve web did not answer /api/health within 30 s")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            pytest.fail("canserve web ignored SIGTERM for 10 s")


def _reject_constant(value: str) -> None:
    raise AssertionError(f"non-strict JSON constant {value} in a response")


def _finite(value: Any) -> None:
    if isinstance(value, dict):
        for item in value.values():
            _finite(item)
    elif isinstance(value, list):
        for item in value:
            _finite(item)
    elif isinstance(value, float):
        assert math.isfinite(value)


def _body(data: st.DataObject, path: str) -> str:
    fields = [f.name for f in dataclasses.fields(ENDPOINTS[path])]
    body = {k: json.dumps(v) for k, v in BASE[path].items()}
    for name in data.draw(st.lists(st.sampled_from([*fields, "no_such_field"]), max_size=3)):
        body[name] = data.draw(st.sampled_from(ODD), label=name)
    return "{" + ", ".join(f"{json.dumps(k)}: {v}" for k, v in body.items()) + "}"


def _post(url: str, path: str, text: str) -> None:
    started = time.monotonic()
    r = httpx.post(
        url + path,
        content=text.encode(),
        headers={"content-type": "application/json"},
        timeout=SLOW_S + 30,
    )
    took_s = time.monotonic() - started
    where = f"{path} {text[:300]!r}: {r.status_code} {r.text[:300]}"
    assert r.status_code < 500 or r.status_code == 503, where  # 503: busy, with Retry-After
    if r.status_code == 503:
        assert "retry-after" in r.headers, where
    assert took_s < SLOW_S, f"{where} took {took_s:.1f} s"
    _finite(json.loads(r.text, parse_constant=_reject_constant))
    health = time.monotonic()
    assert httpx.get(url + "/api/health", timeout=10).status_code == 200
    assert time.monotonic() - health < 2.0, "health check slower than 2 s after " + where


@pytest.mark.parametrize("path", sorted(ENDPOINTS))
@settings(
    max_examples=40,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_every_field_of_every_body_is_answered_without_5xx(server, path, data):
    _post(server, path, _body(data, path))


@pytest.mark.parametrize(
    "path,text",
    [
        ("/api/memory", '{"model": "llama-3.1-8b", "batch": NaN}'),
        ("/api/memory", '{"config": {"model_type": "llama", "num_hidden_layers": 1000000000}}'),
        ("/api/simulate", '{"model": "llama-3.1-8b", "rate": 1e6, "duration_s": 1e7}'),
        ("/api/simulate", '{"model": "llama-3.1-8b", "seed": -1}'),
        ("/api/simulate", '{"model": "llama-3.1-8b", "prompt": "file:/dev/zero"}'),
        ("/api/plan", '{"model": "llama-3.1-8b", "users": 1000000}'),
        ("/api/perf", '{"model": "llama-3.1-8b", "gpu": "cpu", "tp": 2}'),
        ("/api/memory", "not json"),
        ("/api/memory", "[" * 100_000 + "]" * 100_000),
    ],
    ids=lambda v: v[:40],
)
def test_cases_found_by_earlier_fuzzing(server, path, text):
    """Issue 17's reproduced requests: each once took minutes, gigabytes or gave a 500."""
    _post(server, path, text)
