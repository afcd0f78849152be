"""Calibration files: what load_calibration accepts and refuses, and `canserve calibrate`'s fit
(bounded fractions, every batch size used)."""

import math
from dataclasses import replace

import pytest

from canserve import InvalidInputError, get_model, serving_config
from canserve.bench.client import BenchConfig
from canserve.bench.compare import calibrate, write_calibration
from canserve.bench.summary import BenchSummary
from canserve.perf import estimate_perf, load_calibration
from canserve.perf.calibration import KernelCosts
from canserve.perf.device import Hardware
from canserve.stats import Percentiles

LLAMA_8B = get_model("llama-3.1-8b")


def test_builtin_calibration_names_where_it_was_measured():
    cal = load_calibration()
    assert cal.measured_on == "H100-SXM-80GB"
    assert "CPU" in cal.devices
    assert cal.basis("H100-SXM-80GB").startswith("measured on this GPU")
    assert cal.basis("A100-SXM-80GB").startswith("assumed")


def test_a_device_table_overrides_only_its_gpu():
    cal = load_calibration({"device": {"H200": {"stream_bw_fraction": 0.5}}})
    assert cal.kernels_for("H200").stream_bw_fraction == 0.5
    assert cal.kernels_for("H100-SXM-80GB").stream_bw_fraction != 0.5
    assert cal.basis("H200").startswith("measured")


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"kernels": {"gemm_bw_fraction": 1.2}}, "gemm_bw_fraction must be in"),
        ({"kernels": {"stream_bw_fraction": 0.0}}, "stream_bw_fraction must be in"),
        ({"kernels": {"kernel_fixed_s": -1e-6}}, "kernel_fixed_s must be in"),
        ({"kernels": {"kv_cta_bytes_per_s": math.nan}}, "finite"),
        ({"kernels": {"weight_bw_fraction": 0.6}}, "unknown key 'weight_bw_fraction'"),
        ({"quant_kernels": {"weight_only_compute_fraction": 2}}, "must be in"),
        ({"framework": {"vllm": {"split_kv": 1}}}, "true or false"),
        ({"framework": {"nope": {"step_overhead_s": 0}}}, "unknown framework"),
        ({"device": {"no-such-gpu": {"stream_bw_fraction": 0.5}}}, r"\[device.no-such-gpu\]"),
        ({"kernel": {}}, "unknown table"),
    ],
)
def test_bad_calibration_is_refused(doc, message):
    with pytest.raises(InvalidInputError, match=message):
        load_calibration(doc)


def _measured(**stats: float) -> Percentiles:
    """Percentiles of which only ``stats`` were measured (the others NaN)."""
    return Percentiles(**{**dict.fromkeys(("p50", "p90", "p95", "p99", "mean"), math.nan), **stats})


def _bench(
    batch: int, cal, prompt: int = 512, output: int = 128
) -> tuple[BenchConfig, BenchSummary]:
    """A closed-loop benchmark summary whose TPOT and TTFT the model with ``cal`` predicts."""
    cfg = serving_config(LLAMA_8B, gpu="H100", calibration=cal)
    context = prompt + output // 2
    tpot = estimate_perf(cfg, batch=batch, context=context).tpot_s
    ttft = estimate_perf(cfg, prompt=prompt, output=1).ttft_s
    e2e = ttft + (output - 1) * tpot
    summary = BenchSummary(
        url="http://x",
        model="m",
        complete=True,
        requests=batch,
        succeeded=batch,
        errors=0,
        incomplete=0,
        error_samples=[],
        duration_s=e2e,
        ttft_s=_measured(p50=ttft),
        tpot_s=_measured(p50=tpot),
        itl_s=_measured(),  # no ITL: the decode step is TPOT's
        e2e_s=_measured(mean=e2e),
        throughput_requests_per_s=batch / e2e,
        throughput_output_tokens_per_s=batch * output / e2e,
        mean_prompt_tokens=prompt,
        mean_output_tokens=output,
        goodput=None,
        slo=[],
    )
    return BenchConfig(url="http://x", model="m", concurrency=batch), summary


def _truth() -> object:
    base = load_calibration()
    device = replace(base.kernels, stream_bw_fraction=0.7, compute_efficiency=0.6)
    vllm = replace(base.framework("vllm"), decode_overhead_s=0.002)
    return replace(
        base,
        devices={**base.devices, "H100-SXM-80GB": device},
        frameworks={**base.frameworks, "vllm": vllm},
    )


def test_calibrate_recovers_bandwidth_and_overhead_from_several_batch_sizes():
    truth = _truth()
    benches = [_bench(b, truth) for b in (1, 8, 64)]
    _, values = calibrate(benches, serving_config(LLAMA_8B, gpu="H100"))
    assert values.stream_bw_fraction == pytest.approx(0.7, abs=0.015)
    assert values.decode_overhead_s == pytest.approx(0.002, rel=0.1)
    assert values.compute_efficiency == pytest.approx(0.6, abs=0.1)


def test_calibrate_keeps_the_bandwidth_with_one_batch_size_and_stays_bounded():
    truth = _truth()
    _, values = calibrate([_bench(1, truth)], serving_config(LLAMA_8B, gpu="H100"))
    assert values.stream_bw_fraction == load_calibration().kernels.stream_bw_fraction
    assert values.decode_overhead_s > 0
    # a server faster than the datasheet allows cannot push a fraction above 1
    fast = load_calibration({"device": {"H100": {"stream_bw_fraction": 1.0}}})
    fast = replace(
        fast,
        frameworks={
            **fast.frameworks,
            "vllm": replace(fast.framework("vllm"), step_overhead_s=0.0),
        },
    )
    benches = [
        (cfg, replace(summary, tpot_s=_measured(p50=summary.tpot_s.p50 * 0.5)))
        for cfg, summary in (_bench(b, fast) for b in (1, 32))
    ]
    _, values = calibrate(benches, serving_config(LLAMA_8B, gpu="H100"))
    assert 0 < values.stream_bw_fraction <= 1 and 0 < values.compute_efficiency <= 1
    assert values.decode_overhead_s >= 0


def test_calibration_values_keys_and_file(tmp_path):
    """`canserve calibrate --json`'s ``values`` keep their keys; the file holds the values."""
    serving = serving_config(LLAMA_8B, gpu="H100")
    _, values = calibrate([_bench(b, _truth()) for b in (1, 8)], serving)
    assert list(values.to_dict()) == [
        "stream_bw_fraction",
        "decode_overhead_s",
        "sequence_overhead_s",
        "compute_efficiency",
    ]
    path = tmp_path / "cal.toml"
    write_calibration(path, serving.require_gpu("test"), "vllm", values, ["a.json"])
    cal = load_calibration(path)
    device = cal.kernels_for("H100-SXM-80GB")
    assert device.stream_bw_fraction == pytest.approx(values.stream_bw_fraction, abs=1e-4)
    assert device.compute_efficiency == pytest.approx(values.compute_efficiency, abs=1e-4)
    costs = cal.framework("vllm")
    assert costs.decode_overhead_s == pytest.approx(values.decode_overhead_s, abs=1e-6)
    assert costs.sequence_overhead_s == pytest.approx(values.sequence_overhead_s, abs=1e-6)


def test_calibrate_needs_a_tpot():
    cfg, summary = _bench(1, load_calibration())
    summary = replace(summary, tpot_s=_measured())
    with pytest.raises(InvalidInputError, match="no benchmark with a measured TPOT"):
        calibrate([(cfg, summary)], serving_config(LLAMA_8B, gpu="H100"))


def test_kernel_costs_have_one_field_per_calibration_key():
    keys = {
        "stream_bw_fraction",
        "gemm_bw_fraction",
        "gemm_flops_fraction",
        "gemm_fixed_s",
        "kernel_fixed_s",
        "kv_bw_fraction",
        "kv_cta_bytes_per_s",
        "attn_flops_fraction",
        "compute_efficiency",
        "expert_fixed_s",
    }
    assert set(KernelCosts.__dataclass_fields__) == keys


def test_sequence_overhead_is_paid_per_decoded_sequence_in_every_step():
    """``sequence_overhead_s`` (sampling, detokenizing, streaming) adds once per sequence a step
    decodes: in the step model and in the simulator's mixed steps alike."""
    from canserve.perf.step import Step, step_time
    from canserve.sim.cost import StepCost

    base = load_calibration()
    cfg = serving_config(LLAMA_8B, gpu="H100")
    costs = replace(base.framework("vllm"), sequence_overhead_s=0.001)
    cal = replace(base, frameworks={**base.frameworks, "vllm": costs})

    def step(c, batch):
        return step_time(
            cfg.model,
            cfg.quant,
            Hardware(cfg.gpu, 1, 1),
            Step(decode_seqs=batch, context=100),
            kv_bits=16,
            framework="vllm",
            cal=c,
        ).total_s

    assert step(cal, 4) - step(base, 4) == pytest.approx(0.004)
    assert step(cal, 1) - step(base, 1) == pytest.approx(0.001)
    with_q = StepCost(cfg.model, cfg.quant, Hardware(cfg.gpu, 1, 1), 16, "vllm", cal, 100)
    without = StepCost(cfg.model, cfg.quant, Hardware(cfg.gpu, 1, 1), 16, "vllm", base, 100)
    assert with_q.mixed(3, 300, [(0, 64)]) - without.mixed(3, 300, [(0, 64)]) == pytest.approx(
        0.003
    )


def test_overheads_fit_a_fixed_and_a_per_sequence_part():
    from canserve.bench.compare import _fit_overheads

    # gaps = measured - model = 2 ms + batch x 0.5 ms, at batch 1 and 4
    gaps = [(0.0025, 0.010, 1), (0.004, 0.030, 4)]
    o, q, err = _fit_overheads(gaps, per_sequence=True)
    assert o == pytest.approx(0.002) and q == pytest.approx(0.0005) and err < 1e-12
    # one batch size: the fixed part only
    o, q, _ = _fit_overheads(gaps[:1], per_sequence=False)
    assert o == pytest.approx(0.0025) and q == 0.0
    # never negative: a per-sequence part that would need a negative fixed part
    o, q, _ = _fit_overheads([(0.001, 0.01, 1), (0.008, 0.03, 4)], per_sequence=True)
    assert o >= 0 and q >= 0


def test_split_mixed_steps_price_the_decodes_as_a_decode_step_of_their_own():
    """llama.cpp with a KV stream per slot (``split_mixed_steps``) runs a step's decode tokens as
    a ubatch of their own and the prompt tokens after it: the step costs the decode step of its
    batch plus the prefill alone, whatever share of the decode step is compute or overhead.
    Without the flag, the decodes join the prompt's GEMMs."""
    from canserve.sim.cost import StepCost

    cfg = serving_config(LLAMA_8B, gpu="H100")
    base = load_calibration()
    assert base.framework("llama.cpp").split_mixed_steps
    assert not base.framework("vllm").split_mixed_steps
    hw = Hardware(cfg.gpu, 1, 1)
    split = StepCost(cfg.model, cfg.quant, hw, 16, "llama.cpp", base, 100)
    costs = replace(base.framework("llama.cpp"), split_mixed_steps=False)
    joined_cal = replace(base, frameworks={**base.frameworks, "llama.cpp": costs})
    joined = StepCost(cfg.model, cfg.quant, hw, 16, "llama.cpp", joined_cal, 100)
    decode_base, slope, _ = split.decode(3, 100)
    kv_s = slope * 300
    prefill_alone = split.mixed(0, 0.0, [(0, 256)]) - base.framework("llama.cpp").step_overhead_s
    assert split.mixed(3, kv_s, [(0, 256)], decode_base) == pytest.approx(
        decode_base + kv_s + prefill_alone
    )
    # the decodes cost more on their own than as 3 more rows of the prompt's GEMMs
    assert split.mixed(3, kv_s, [(0, 256)], decode_base) > joined.mixed(3, kv_s, [(0, 256)])
    # prefill-only and decode-only steps are unchanged
    assert split.mixed(0, 0.0, [(0, 256)]) == joined.mixed(0, 0.0, [(0, 256)])
    assert split.mixed(3, kv_s, []) == joined.mixed(3, kv_s, [])


def test_split_mixed_steps_in_the_step_model():
    """``perf``'s step model prices a llama.cpp step that decodes and prefills as the simulator
    does: its decode step plus its prefill alone, one scheduler pass."""
    from canserve.perf.step import Step, step_time

    cfg = serving_config(LLAMA_8B, gpu="H100")
    cal = load_calibration()

    def t(step):
        return step_time(
            cfg.model,
            cfg.quant,
            Hardware(cfg.gpu, 1, 1),
            step,
            kv_bits=16,
            framework="llama.cpp",
            cal=cal,
        ).total_s

    mixed = Step(decode_seqs=3, context=500, prefill_tokens=256)
    alone = t(Step(decode_seqs=3, context=500)) + t(Step(prefill_tokens=256))
    overhead = cal.framework("llama.cpp").step_overhead_s
    assert t(mixed) == pytest.approx(alone - overhead)
