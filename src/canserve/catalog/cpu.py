"""A device profile for the host CPU, measured by a short probe, so canserve can predict
llama.cpp (or any engine) running on CPU.

``cpu_profile()`` measures memory read bandwidth (summing a 256 MiB array split over one thread
per core, as llama.cpp streams its weights with every core) and float32 matmul FLOP/s with numpy,
once, and caches the result in ``$CANSERVE_CACHE_DIR`` (default ``~/.cache/canserve``)/
cpu_profile.json; the GPU catalog answers ``--gpu cpu`` with it, and ``canserve probe-cpu``
measures again. These are achieved rates, not datasheet peaks. The first probe is announced on
the ``canserve`` logger (the CLI prints it), so a catalog lookup never runs a benchmark silently.

A calibration fitted on ``--gpu cpu`` is relative to the probe it was fitted against, so a kept
measurement keeps its probe beside it: ``cpu_profile(cache_dir=FOLDER)`` reads (or first writes)
``FOLDER/cpu_profile.json`` and ``read_cpu_profile(FILE)`` reads one without ever probing.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from canserve.catalog.gpus import GPU
from canserve.errors import InvalidInputError
from canserve.units import GIB

__all__ = ["cpu_profile", "cpu_profile_path", "probe_cpu", "read_cpu_profile"]

_PROBE_BYTES = 256 * 2**20


def cpu_profile_path(cache_dir: Path | None = None) -> Path:
    """Where ``cpu_profile(cache_dir=cache_dir)`` keeps its probe."""
    base = cache_dir or os.environ.get("CANSERVE_CACHE_DIR") or Path.home() / ".cache" / "canserve"
    return Path(base) / "cpu_profile.json"


def _total_memory_bytes() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
        return 16 * GIB


def probe_cpu(repeats: int = 5) -> dict[str, float | str]:
    """Measure read bandwidth and float32 GEMM rate on this host (about a second)."""
    import numpy as np

    data = np.ones(_PROBE_BYTES // 4, dtype=np.float32)
    cores = os.cpu_count() or 1
    parts = np.array_split(data, cores)
    best = float("inf")
    with ThreadPoolExecutor(cores) as pool:  # numpy releases the GIL inside the reduction
        list(pool.map(np.sum, parts))  # touch the pages
        for _ in range(repeats):
            t = time.perf_counter()
            list(pool.map(np.sum, parts))
            best = min(best, time.perf_counter() - t)
    bandwidth = _PROBE_BYTES / best
    n = 1024
    a = np.ones((n, n), dtype=np.float32)
    b = np.ones((n, n), dtype=np.float32)
    a @ b
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t)
    return {
        "read_bytes_per_s": bandwidth,
        "fp32_flops_per_s": 2 * n**3 / best,
        "cores": float(cores),
        "measured_on": time.strftime("%Y-%m-%d"),
    }


_KEYS = ("read_bytes_per_s", "fp32_flops_per_s", "cores")


def _cached(path: Path) -> dict[str, float | str] | None:
    """The cached probe, or None when it is missing or not a valid profile (then probe again)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(data, dict):
        return None
    for key in _KEYS:
        value = data.get(key)
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        if not (math.isfinite(value) and value >= 1):
            return None
    return data


def read_cpu_profile(path: Path) -> GPU:
    """The device a saved probe describes (``InvalidInputError`` when ``path`` holds none)."""
    data = _cached(Path(path))
    if data is None:
        raise InvalidInputError(f"{path}: not a CPU profile saved by canserve's probe")
    return _device(data, Path(path))


def cpu_profile(refresh: bool = False, cache_dir: Path | None = None) -> GPU:
    """The host CPU as a device (probed once, then read from the cache: ``cache_dir``, else
    ``$CANSERVE_CACHE_DIR``, else ``~/.cache/canserve``)."""
    path = cpu_profile_path(cache_dir)
    data = None if refresh else _cached(path)
    if data is None:
        logging.getLogger("canserve").info(
            "measuring this CPU's memory bandwidth and FLOP/s (once, about a second; cached in %s)",
            path,
        )
        data = probe_cpu()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(data))
        except OSError:
            pass  # a read-only home: probe again next time
    return _device(data, path)


def _device(data: dict[str, float | str], path: Path) -> GPU:
    flops = float(data["fp32_flops_per_s"])
    cores = int(float(data["cores"]))
    return GPU(
        id="CPU",
        aliases=("cpu", "host"),
        name=f"host CPU ({cores} cores)",
        vendor="cpu",
        architecture="cpu",
        form_factor="host",
        memory_bytes=_total_memory_bytes(),
        memory_bytes_source="os.sysconf physical pages",
        hbm_bytes_per_s=float(data["read_bytes_per_s"]),
        peak_flops={"fp32": flops, "bf16": flops, "fp16": flops},
        interconnect="none",
        interconnect_bytes_per_s=0.0,
        pcie_bytes_per_s=0.0,
        tdp_watts=0.0,
        source=f"measured by canserve's CPU probe ({path})",
        source_date=str(data.get("measured_on", "")),
    )
