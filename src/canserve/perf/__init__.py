"""Throughput and latency model: per-step roofline with calibrated efficiencies."""

from canserve.perf.calibration import Calibration, load_calibration
from canserve.perf.estimate import PerfEstimate, estimate_perf, sweep_batch

__all__ = ["Calibration", "PerfEstimate", "estimate_perf", "load_calibration", "sweep_batch"]
