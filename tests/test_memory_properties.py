"""Invariants of the memory equation over random deployments (hypothesis): the replica totals
add up, nothing is negative, and the verdict agrees with the figures it prints."""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from canserve import estimate_memory, get_model, serving_config

MODELS = ["llama-3.1-8b", "llama-3.1-70b", "qwen3-30b-a3b", "gemma-2-9b", "deepseek-v2-lite"]
PARTS = ("weights_bytes", "kv_cache_bytes", "activation_bytes", "overhead_bytes")


@st.composite
def deployments(draw):
    spec = get_model(draw(st.sampled_from(MODELS)))
    tp = draw(st.sampled_from([t for t in (1, 2, 4, 8) if spec.num_attention_heads % t == 0]))
    pp = draw(st.integers(1, min(8, spec.num_hidden_layers)))
    cfg = serving_config(
        spec,
        gpu=draw(st.sampled_from(["H100", "L4", "A100-80GB", "MI300X"])),
        tp=tp,
        pp=pp,
        quant=draw(st.sampled_from([None, "bf16", "fp8", "awq"])),
        kv_dtype=draw(st.sampled_from(["auto", "fp8"])),
        headroom=draw(st.sampled_from([0.0, 0.2])),
    )
    batch = draw(st.integers(1, 512))
    context = draw(st.integers(1, min(65_536, spec.max_position_embeddings)))
    return cfg, batch, context


@settings(
    max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
@given(deployments())
def test_totals_add_up_and_nothing_is_negative(case):
    cfg, batch, context = case
    est = estimate_memory(cfg, batch=batch, context=context)
    assert est.total_bytes == sum(getattr(est, k) for k in PARTS)
    assert est.per_gpu["total_bytes"] == sum(est.per_gpu[k] for k in PARTS)
    assert all(getattr(est, k) >= 0 and est.per_gpu[k] >= 0 for k in PARTS)
    assert est.per_gpu["total_bytes"] <= est.total_bytes
    assert est.engine_kv_budget_bytes_per_gpu is None or est.engine_kv_budget_bytes_per_gpu >= 0
    assert est.fits == (est.per_gpu["total_bytes"] <= est.usable_bytes_per_gpu)
    # the limits it reports are consistent with its verdict at this batch and context
    if est.fits:
        assert est.max_concurrent_sequences >= batch and est.max_context_tokens >= context
