"""A replica's hardware as the step model needs it: the GPU, its parallel layout, and the number
of streaming multiprocessors (compute units) that GEMM tiles and attention work items fill.

The SM counts are architecture facts, not calibration: NVIDIA's architecture whitepapers and
product briefs (CUDA cores / 128 per SM on Ada and Blackwell, / 64 on Ampere GA100 and Hopper),
AMD's CDNA3 whitepaper for compute units. The host CPU has no SMs (0): its GEMMs have no waves.
"""

from __future__ import annotations

from dataclasses import dataclass

from canserve.catalog.gpus import GPU

__all__ = ["SM_COUNT", "Hardware"]

# GPU id -> SMs (NVIDIA) or compute units (AMD).
SM_COUNT: dict[str, int] = {
    # NVIDIA Ada Lovelace GPU Architecture whitepaper v1.1 and product pages
    "RTX-4060-TI-16GB": 34,  # AD106, 4,352 CUDA cores
    "RTX-4090": 128,  # AD102, 16,384 CUDA cores
    "L4": 58,  # AD104, 7,424 CUDA cores
    "L40S": 142,  # AD102, 18,176 CUDA cores
    # NVIDIA Blackwell: RTX 5090 21,760 CUDA cores; B200 as reported by deviceQuery
    "RTX-5090": 170,
    "B200": 148,
    # NVIDIA Ampere: A100 whitepaper (108 SMs, all A100 SKUs); A10G (AWS g5) GA102 with 80 SMs
    "A10G": 80,
    "A100-SXM-40GB": 108,
    "A100-SXM-80GB": 108,
    "A100-PCIE-40GB": 108,
    "A100-PCIE-80GB": 108,
    # NVIDIA H100 Tensor Core GPU Architecture whitepaper: SXM5 132 SMs, PCIe 114 SMs;
    # H100 NVL and H200 use the SXM5 configuration (132 SMs)
    "H100-SXM-80GB": 132,
    "H100-PCIE-80GB": 114,
    "H100-NVL-94GB": 132,
    "H200": 132,
    # AMD CDNA 3 architecture whitepaper: 304 compute units
    "MI300X": 304,
    "MI325X": 304,
}
DEFAULT_SMS = 108  # an unlisted GPU: the A100's count (a note says so)


@dataclass(frozen=True)
class Hardware:
    """A GPU type for one tp x pp replica."""

    gpu: GPU
    tp: int
    pp: int

    def flops(self, dtype: str) -> float:
        """Dense tensor-core peak for ``dtype``, else bf16 (weight-only formats compute there)."""
        peaks = self.gpu.peak_flops
        return peaks.get(dtype) or peaks.get("bf16") or peaks["fp16"]

    @property
    def nvlink(self) -> bool:
        return self.gpu.interconnect_bytes_per_s > 0

    @property
    def sms(self) -> int:
        """Streaming multiprocessors (0 for the host CPU: no tiles, no waves)."""
        if self.gpu.vendor == "cpu":
            return 0
        return SM_COUNT.get(self.gpu.id, DEFAULT_SMS)
