"""The article's memory tables, recomputed: the docs page is current and the key claims hold."""

from canserve import get_model
from tests.conftest import ROOT, load_script
from tests.helpers import memory

article = load_script("article_memory")


def test_docs_page_is_current():
    assert (ROOT / "docs/article-memory.md").read_text() == article.render()


def test_real_kv_is_gqa_sized():
    spec = get_model("llama-3.1-70b")
    est = memory(spec, "bf16", batch=8, context=8192)
    formula = 2 * spec.num_hidden_layers * spec.hidden_size * 8192 * 8 * 2
    assert formula / est.kv_cache_bytes == 8


def test_headline_claim_load_vs_serve():
    # "A 70B model needs about 35GB to load at 4-bit ... serving 50 users at 8K pushes past 80GB"
    est = memory(get_model("llama-3.1-70b"), "awq", batch=50, context=8192)
    assert 35e9 < est.weights_bytes < 45e9
    assert est.total_bytes > 80e9


def test_moe_must_be_resident():
    est = memory(get_model("deepseek-v3"), "awq", batch=1, context=1024)
    assert est.weights_bytes > 3 * 100e9  # the article's "~100GB" counts only active experts


article_perf = load_script("article_perf")


def test_perf_docs_page_is_current():
    assert (ROOT / "docs/article-perf.md").read_text() == article_perf.render()


def test_real_batch_1_is_below_the_bandwidth_bound_but_above_the_article_table():
    tps = article_perf._tps("llama-2-7b", "RTX-4090")
    assert article_perf.ARTICLE_BATCH[1][0] < tps < article_perf.ARTICLE_MAX["RTX-4090"][1]
