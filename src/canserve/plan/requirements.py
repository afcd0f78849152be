"""What a plan must serve and the targets it is held to, each with where it came from.

No target is hidden: a latency target is used only when the user gives one (``--slo``); without
one the planner sizes for throughput (``--rate``) and concurrency (``--users``) only and says
so. :meth:`Requirements.targets` lists every target and assumption the plan used, each marked
``given`` (the user set it), ``default`` (canserve's default, with its source) or ``derived``
(computed from a given target, with the formula).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from canserve.serving import DEFAULT_HEADROOM, DEFAULT_OUTPUT_TOKENS, DEFAULT_PROMPT_TOKENS
from canserve.sim.metrics import SLO, format_slos

__all__ = [
    "SATURATION_HEADROOM",
    "TTFT_SHARE_OF_E2E",
    "UTILIZATION_TARGET",
    "Requirements",
    "Target",
]

UTILIZATION_TARGET = 0.6  # the article: "Utilization monitoring (target 60%+ for cost efficiency)"
# Throughput headroom below saturation: the article's 20% VRAM headroom rule applied to load
# (canserve's assumption); near saturation queueing delay grows without bound (M/M/1: ~1/(1-rho)).
SATURATION_HEADROOM = 0.20
# A given end-to-end target leaves this share to the first token when it is turned into a TPOT cap.
TTFT_SHARE_OF_E2E = 0.10


def _origin(value: object, default: object) -> str:
    return "default" if value == default else "given"


@dataclass(frozen=True)
class Target:
    """A target or assumption a plan used: its value in ``unit`` (None: none given), where it
    came from (``given``, ``default``, ``derived`` or ``none``) and a note."""

    name: str
    value: float | None
    unit: str
    origin: str
    note: str = ""


@dataclass(frozen=True)
class Requirements:
    """The traffic to serve and the targets to meet (``slos``: parsed ``--slo``)."""

    prompt: int = DEFAULT_PROMPT_TOKENS
    output: int = DEFAULT_OUTPUT_TOKENS
    users: int | None = None
    rate: float | None = None
    think_s: float = 0.0
    slos: tuple[SLO, ...] = ()
    peak_factor: float = 1.0
    context: int | None = None  # the longest sequence to deploy for (None: the model's)
    headroom: float = DEFAULT_HEADROOM

    def target(self, metric: str, stat: str) -> float | None:
        found = [s.target_s for s in self.slos if s.metric == metric and s.stat == stat]
        return min(found) if found else None

    @property
    def latency_s(self) -> float | None:
        """The end-to-end target at P95."""
        return self.target("e2e_s", "p95")

    @property
    def tpot_p99_s(self) -> float | None:
        return self.target("tpot_s", "p99")

    @property
    def peak_users(self) -> int | None:
        return None if self.users is None else math.ceil(self.users * self.peak_factor)

    @property
    def peak_rate(self) -> float | None:
        return None if self.rate is None else self.rate * self.peak_factor

    @property
    def required_output_tokens_per_s(self) -> float | None:
        """At peak: the article's ``users x output / target latency`` (or ``rate x output``);
        None for users without a latency target (sized for concurrency instead)."""
        if self.rate is not None:
            return self.rate * self.output * self.peak_factor
        assert self.users is not None
        per_request_s = self.latency_s or (self.tpot_p99_s and self.output * self.tpot_p99_s)
        if not per_request_s:
            return None
        return self.users * self.output / per_request_s * self.peak_factor

    @property
    def tpot_cap_s(self) -> float | None:
        """The TPOT a batch may reach: the TPOT target, or the end-to-end target spread over
        the output after the first token's share; None without either."""
        caps = []
        if self.tpot_p99_s:
            caps.append(self.tpot_p99_s)
        if self.latency_s and self.output > 1:
            caps.append((1 - TTFT_SHARE_OF_E2E) * self.latency_s / self.output)
        return min(caps) if caps else None

    def slo(self) -> str:
        return format_slos(self.slos)

    def targets(self, model_max_len: int | None = None) -> list[Target]:
        """Every target and assumption the plan uses, with its origin (see module docstring)."""
        rows = [Target(s.name, s.target_s, "s", "given", "--slo") for s in self.slos]
        cap = self.tpot_cap_s
        if self.latency_s and cap is not None and cap != self.tpot_p99_s:
            rows.append(
                Target(
                    "tpot_cap",
                    cap,
                    "s",
                    "derived",
                    f"{1 - TTFT_SHARE_OF_E2E:g} x e2e_p95 {self.latency_s:g} s / "
                    f"{self.output} output tokens: the batch is capped where TPOT reaches it",
                )
            )
        if not self.slos:
            rows.append(
                Target(
                    "latency",
                    None,
                    "s",
                    "none",
                    "no latency target given: sized for throughput and concurrency only; "
                    "latency is predicted, not enforced (add --slo e2e_p95=5s,...)",
                )
            )
        rows += [
            Target("prompt", self.prompt, "tokens", _origin(self.prompt, DEFAULT_PROMPT_TOKENS)),
            Target("output", self.output, "tokens", _origin(self.output, DEFAULT_OUTPUT_TOKENS)),
            Target("peak_factor", self.peak_factor, "x", _origin(self.peak_factor, 1.0)),
            Target(
                "vram_headroom",
                self.headroom,
                "fraction",
                _origin(self.headroom, DEFAULT_HEADROOM),
                "the article: 'Model loads with 20% VRAM headroom'",
            ),
        ]
        if self.context is not None:
            rows.append(Target("context", self.context, "tokens", "given", "--context"))
        elif model_max_len is not None:
            rows.append(
                Target(
                    "context",
                    model_max_len,
                    "tokens",
                    "default",
                    "the model's maximum, capped per plan by what fits in its KV cache",
                )
            )
        rows += [
            Target(
                "utilization_target",
                UTILIZATION_TARGET,
                "fraction",
                "default",
                "the article: 'Utilization monitoring (target 60%+ for cost efficiency)'",
            ),
            Target(
                "saturation_headroom",
                SATURATION_HEADROOM,
                "fraction",
                "default",
                "canserve: the 20% headroom rule applied to load (queues grow without bound "
                "near saturation)",
            ),
        ]
        return rows
