"""The web page as a user drives it, in headless Chromium (Debian's, via Playwright), at desktop
(1366x900) and phone (390x844) sizes; one test per problem of issue 15. Screenshots of the
article's case go to build/screenshots/ (docs/ with CANSERVE_SCREENSHOTS=docs)."""

import json
import os
import shutil
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from canserve.web.app import create_app
from canserve.web.pool import PoolSettings
from tests.conftest import ROOT
from tests.web_server import served

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# the screenshots docs/web.md shows; a test run writes them to build/ unless asked to refresh
# the committed ones: CANSERVE_SCREENSHOTS=docs pytest tests/test_web_browser.py
SHOTS = ROOT / ("docs" if os.environ.get("CANSERVE_SCREENSHOTS") == "docs" else "build/screenshots")
SIZES = {"desktop": (1366, 900), "phone": (390, 844)}
TIMEOUT_MS = 60_000
TIMES = "\u00d7"  # the page writes "1 x A100" with a multiplication sign, U+00D7

START = (
    "/?model=llama-3.1-70b&quant=awq&gpu=A100-SXM-80GB&gpus=1&users=50&prompt=200"
    "&output=300&context=8192&latency=5&tokens_per_day=5000000"
)


@pytest.fixture(scope="module")
def base_url():
    app = create_app(PoolSettings(workers=2, queue=12, time_budget_s=30))
    with served(app, log_level="warning") as base:
        yield base


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is missing: make test installs Debian's chromium package")
    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield b
        b.close()


def open_page(browser, base_url: str, path: str = START, size: str = "desktop") -> Page:
    w, h = SIZES[size]
    context = browser.new_context(viewport={"width": w, "height": h})
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base_url)
    page = context.new_page()
    page.goto(base_url + path)
    settled(page)
    return page


def settled(page: Page) -> None:
    """Wait until the page's update has finished (the status says so, results not stale)."""
    page.wait_for_function(
        "document.getElementById('status').textContent === 'Updated.' || "
        "!document.getElementById('error').hidden",
        timeout=TIMEOUT_MS,
    )
    page.wait_for_function(
        "!document.getElementById('results').classList.contains('stale')", timeout=TIMEOUT_MS
    )


def wait_update(page: Page, action) -> None:
    """Do ``action`` and wait for the update it triggers to finish."""
    page.evaluate("window.__gen = document.getElementById('status').dataset.gen || ''")
    page.evaluate("document.getElementById('status').textContent = ''")
    action()
    page.wait_for_function(
        "document.getElementById('status').textContent === 'Updated.' || "
        "(!document.getElementById('error').hidden && "
        "!document.getElementById('results').classList.contains('stale'))",
        timeout=TIMEOUT_MS,
    )


@pytest.mark.parametrize("size", SIZES)
def test_the_verdict_checks_serving_not_just_memory(base_url, browser, size):
    page = open_page(browser, base_url, size=size)
    verdict = page.locator("#verdict")
    # 1 x A100 for 50 users fits in memory but the simulated p95 is far above 5 s: flagged
    expect(verdict).to_contain_text(f"DOES NOT SERVE 50 users on 1 {TIMES} A100-SXM-80GB")
    expect(verdict).to_contain_text("end-to-end p95 is")
    expect(verdict).to_contain_text("against the 5 s target")
    expect(verdict).to_contain_text("Cheapest fix:")
    detail = page.locator("#verdict-detail")
    # memory at the simulated request length (200 + 300), with the headroom explained
    expect(detail).to_contain_text(f"50 users {TIMES} 500 tokens")
    expect(detail).to_contain_text("80% of the 85.1 GB GPU, keeping 20% headroom")
    text = page.inner_text("body")
    assert "GiB" not in text and ",000.0 ms" not in text
    if size == "desktop":
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / "web-desktop.png"), full_page=True)
    else:
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / "web-phone.png"))


@pytest.mark.parametrize("size", SIZES)
def test_results_are_cleared_when_the_model_fails(base_url, browser, size):
    page = open_page(browser, base_url, size=size)
    expect(page.locator("#vllm-command")).to_contain_text("vllm serve")
    wait_update(page, lambda: page.fill("#model", "no-such-model-at-all"))
    expect(page.locator("#error")).to_be_visible()
    expect(page.locator("#error")).to_contain_text("no catalog model matches")
    assert "SERVE" not in page.inner_text("#verdict")
    assert page.inner_text("#vllm-command") == ""
    assert page.locator("#latency-table td").count() == 0
    assert page.locator("#plans td").count() == 0
    assert page.locator("#memory-chart svg").count() == 0


@pytest.mark.parametrize("size", SIZES)
def test_a_model_that_does_not_fit_still_gets_plans(base_url, browser, size):
    path = START.replace("llama-3.1-70b", "mixtral-8x7b").replace("A100-SXM-80GB", "RTX-4090")
    page = open_page(browser, base_url, path.replace("quant=awq", "quant="), size=size)
    expect(page.locator("#verdict")).to_contain_text("DOES NOT SERVE")
    expect(page.locator("#verdict")).to_contain_text("the model does not load")
    # nothing left over from an earlier model, and plans on the chosen GPU all the same
    assert page.locator("#latency-table td").count() <= 1
    rows = page.locator("#plans tbody tr")
    if rows.count():
        for i in range(rows.count()):
            assert "RTX-4090" in rows.nth(i).inner_text()
    else:
        assert page.inner_text("#plans-note") or page.inner_text("#plans")


@pytest.mark.parametrize("size", SIZES)
def test_plans_honour_the_chosen_gpu_and_say_how_to_deploy(base_url, browser, size):
    page = open_page(browser, base_url, START.replace("A100-SXM-80GB", "H100"), size=size)
    rows = page.locator("#plans tbody tr")
    expect(rows.first).to_be_visible()
    for i in range(rows.count()):
        assert "H100" in rows.nth(i).inner_text() and "MI300X" not in rows.nth(i).inner_text()
    note = page.inner_text("#deploy-note")
    assert "H100" in note
    if "replicas" in page.inner_text("#plans tbody tr:first-child"):
        assert "load balancer" in note
    page.click("#copy")
    expect(page.locator("#copy-status")).to_have_text("Copied.")


@pytest.mark.parametrize("size", SIZES)
def test_shared_links_round_trip_exactly(base_url, browser, size):
    page = open_page(browser, base_url, START.replace("quant=awq", "quant="), size=size)
    first = page.inner_text("#verdict"), page.inner_text("#verdict-detail")
    query = parse_qs(urlparse(page.url).query, keep_blank_values=True)
    assert query["quant"] == [""]  # checkpoint default is in the URL, not left to a default
    assert set(query) >= {"model", "gpu", "gpus", "users", "prompt", "output", "context"}
    again = open_page(browser, base_url, page.url.removeprefix(base_url), size=size)
    expect(again.locator("#quant")).to_have_value("")
    assert (again.inner_text("#verdict"), again.inner_text("#verdict-detail")) == first


@pytest.mark.parametrize("size", SIZES)
def test_a_pasted_config_is_sized_and_travels_in_the_link(base_url, browser, size):
    page = open_page(browser, base_url, size=size)
    config = (ROOT / "src/canserve/catalog/data/models/Qwen__Qwen3-0.6B.json").read_text()
    page.click("summary")
    wait_update(page, lambda: page.fill("#config", config))
    expect(page.locator("#model-note")).to_contain_text("pasted config.json")
    expect(page.locator("#verdict")).to_contain_text("SERVES")
    shared = open_page(browser, base_url, page.url.removeprefix(base_url), size=size)
    assert json.loads(shared.input_value("#config")) == json.loads(config)
    assert shared.inner_text("#verdict") == page.inner_text("#verdict")


@pytest.mark.parametrize("size", SIZES)
def test_the_model_picker_searches_words_without_an_error_per_keystroke(base_url, browser, size):
    page = open_page(browser, base_url, size=size)
    page.evaluate(
        """() => { window.__errors = 0; new MutationObserver(() => {
             if (!document.getElementById('error').hidden) window.__errors++; })
           .observe(document.getElementById('error'), {attributes: true, childList: true}); }"""
    )
    page.fill("#model", "")
    page.type("#model", "Llama 3.1 70B", delay=60)
    expect(page.locator("#model-options li").first).to_be_visible()
    expect(page.locator("#model-options li").first).to_contain_text("Meta-Llama-3.1-70B")
    settled(page)
    expect(page.locator("#model-note")).to_contain_text("meta-llama/Meta-Llama-3.1-70B")
    expect(page.locator("#verdict")).to_contain_text("50 users")
    assert page.evaluate("window.__errors") == 0
    # picking from the list
    page.fill("#model", "qwen3 30b")
    expect(page.locator("#model-options li").first).to_contain_text("Qwen3-30B")
    wait_update(page, lambda: page.locator("#model-options li").first.click())
    expect(page.locator("#model-note")).to_contain_text("active per token (MoE")


@pytest.mark.parametrize("size", SIZES)
def test_a_busy_indicator_shows_while_updating(base_url, browser, size):
    page = open_page(browser, base_url, size=size)
    page.evaluate(
        """() => { window.__states = []; new MutationObserver(() =>
             window.__states.push(document.getElementById('status').className))
           .observe(document.getElementById('status'), {attributes: true, childList: true}); }"""
    )
    wait_update(page, lambda: page.fill("#users", "8"))
    assert "busy" in page.evaluate("window.__states")
    assert page.get_attribute("#results", "aria-busy") == "false"


@pytest.mark.parametrize("size", SIZES)
def test_charts_have_titles_units_and_stop_where_sequences_fit(base_url, browser, size):
    page = open_page(browser, base_url, size=size)
    mem = page.locator("#memory-chart svg")
    assert mem.get_attribute("role") == "img"
    assert "Memory per GPU (GB)" in mem.inner_html() and "GB per GPU" in mem.inner_html()
    perf = page.inner_html("#perf-chart svg")
    assert "output tokens/s" in perf and "TPOT (ms)" in perf and "batch" in perf
    assert page.inner_text("#memory-caption") and page.inner_text("#perf-caption")
    # with 7,300-token sequences about 11 fit on one A100: the curve stops there, not at 256
    wait_update(page, lambda: page.fill("#prompt", "7000"))
    detail = page.inner_text("#verdict-detail")
    fitting = (
        int(detail.split("Does not fit: ")[1].split(" ")[0]) if "Does not fit" in detail else 0
    )
    caption = page.inner_text("#perf-caption")
    batches = [int(part.split(":")[0]) for part in caption.split("batch ")[1:]]
    assert batches and max(batches) < 256
    if fitting:
        assert max(batches) <= fitting


@pytest.mark.parametrize("width", [360, 390])
def test_phone_layout_has_no_horizontal_scroll_and_big_targets(base_url, browser, width):
    context = browser.new_context(viewport={"width": width, "height": 800})
    page = context.new_page()
    page.goto(base_url + START)
    settled(page)
    page.click("summary")
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    small = page.evaluate(
        """() => [...document.querySelectorAll('input:not([type=file]), select, button, summary')]
             .filter((e) => e.offsetParent && e.getBoundingClientRect().height < 44)
             .map((e) => e.id || e.tagName)"""
    )
    assert small == []
    fonts = page.evaluate(
        """() => [...document.querySelectorAll('input, select, textarea')]
             .map((e) => parseFloat(getComputedStyle(e).fontSize))"""
    )
    assert min(fonts) >= 16  # iOS zooms into smaller inputs on focus
    summary = page.locator("#summary")  # the answer without scrolling past the form
    expect(summary).to_contain_text("DOES NOT SERVE")
    box = summary.bounding_box()
    assert box is not None and box["y"] + box["height"] <= 800


@pytest.mark.parametrize("size", SIZES)
def test_accessibility_basics(base_url, browser, size):
    page = open_page(browser, base_url, size=size)
    unlabeled = page.evaluate(
        """() => [...document.querySelectorAll('input, select, textarea')]
             .filter((e) => !document.querySelector(`label[for="${e.id}"]`)).map((e) => e.id)"""
    )
    assert unlabeled == []
    assert page.get_attribute("#verdict", "aria-live") == "polite"
    for table in ("#latency-table", "#plans", "#apis"):
        assert page.locator(f"{table} caption").count() == 1
    for chart in ("#memory-chart svg", "#perf-chart svg"):
        assert page.locator(f"{chart} title").count() >= 1
        assert page.locator(f"{chart} desc").text_content()


@pytest.mark.parametrize("size", SIZES)
def test_invalid_input_is_marked_on_the_field_and_clears_results(base_url, browser, size):
    page = open_page(browser, base_url, size=size)
    page.fill("#users", "-5")
    expect(page.locator("#error")).to_contain_text("Concurrent users")
    assert page.get_attribute("#users", "aria-invalid") == "true"
    assert "SERVE" not in page.inner_text("#verdict")
    wait_update(page, lambda: page.fill("#users", "8"))
    expect(page.locator("#error")).to_be_hidden()
    assert page.get_attribute("#users", "aria-invalid") is None
    # a layout the model cannot take: the verdict says why, in one line
    wait_update(page, lambda: page.fill("#gpus", "3"))
    expect(page.locator("#verdict")).to_contain_text("DOES NOT SERVE")
    expect(page.locator("#verdict")).to_contain_text("divide")
    assert "Traceback" not in page.inner_text("body")
    page.click("summary")
    page.fill("#config", "{not json")
    expect(page.locator("#error")).to_contain_text("config.json")


def test_first_paint_does_not_wait_for_the_script(base_url, browser):
    page = browser.new_page()
    page.goto(base_url + START)
    fcp = page.evaluate(
        """() => new Promise((resolve) => new PerformanceObserver((list) => {
             const e = list.getEntriesByName('first-contentful-paint')[0];
             if (e) resolve(e.startTime); }).observe({type: 'paint', buffered: true}))"""
    )
    assert fcp < 2000  # the benchmark's target is 500 ms; CI machines vary
    assert page.evaluate("document.querySelector('script[src*=app]').defer")
