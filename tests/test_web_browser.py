"""The web page as a user drives it, in headless Chromium (Debian's, via Playwright)."""

import shutil
import socket
import threading
import time
from pathlib import Path

import pytest
import uvicorn
from playwright.sync_api import expect, sync_playwright

from canserve.web.app import create_app
from tests.conftest import ROOT

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOT = ROOT / "build" / "screenshots" / "web.png"


@pytest.fixture(scope="module")
def base_url():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(create_app(), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 20
    while not server.started and time.time() < deadline:
        time.sleep(0.05)
    assert server.started, "server did not start"
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


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


START = (
    "/?model=llama-3.1-70b&quant=awq&gpu=A100-SXM-80GB&gpus=1&users=50&prompt=200"
    "&output=300&context=8192&latency=5&tokens_per_day=5000000"
)


def test_sizes_the_article_case_and_updates(base_url, browser):
    page = browser.new_page(viewport={"width": 1300, "height": 1600})
    page.goto(base_url + START)
    verdict = page.locator("#verdict")
    expect(verdict).to_contain_text("DOES NOT FIT", timeout=30_000)
    expect(page.locator("#memory-chart .main-svg").first).to_be_visible(timeout=30_000)
    expect(page.locator("#perf-chart .main-svg").first).to_be_visible(timeout=30_000)
    expect(page.locator("#latency-table tr")).to_have_count(4, timeout=30_000)
    expect(page.locator("#vllm-command")).to_contain_text("vllm serve", timeout=60_000)
    expect(page.locator("#apis tr").nth(1)).to_be_visible(timeout=60_000)
    before = page.locator("#max-concurrency").inner_text()

    page.fill("#gpus", "4")  # four GPUs in one tensor-parallel group: now it serves
    expect(verdict).to_contain_text("FITS on 4", timeout=30_000)
    expect(page.locator("#max-concurrency")).not_to_have_text(before, timeout=30_000)
    expect(page.locator("#vllm-command")).to_contain_text("vllm serve", timeout=60_000)
    assert "gpus=4" in page.url
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=True)

    shared = browser.new_page()  # the shared link restores the state
    shared.goto(page.url)
    expect(shared.locator("#gpus")).to_have_value("4")
    expect(shared.locator("#verdict")).to_contain_text("FITS on 4", timeout=30_000)


def test_invalid_input_shows_a_message(base_url, browser):
    page = browser.new_page()
    page.goto(base_url + START)
    expect(page.locator("#verdict")).to_contain_text("FIT", timeout=30_000)
    page.fill("#users", "-5")
    expect(page.locator("#error")).to_be_visible(timeout=30_000)
    expect(page.locator("#error")).to_contain_text("batch", timeout=30_000)
    page.fill("#users", "8")
    expect(page.locator("#error")).to_be_hidden(timeout=30_000)
    page.click("summary")  # open "or paste a config.json"
    page.fill("#config", "{not json")
    expect(page.locator("#error")).to_contain_text("config.json", timeout=30_000)


def test_pasted_config_is_sized(base_url, browser):
    page = browser.new_page()
    page.goto(base_url + START)
    config = (ROOT / "src/canserve/catalog/data/models/Qwen__Qwen3-0.6B.json").read_text()
    page.click("summary")
    page.fill("#config", config)
    page.fill("#gpus", "1")
    expect(page.locator("#verdict")).to_contain_text("FITS on 1", timeout=30_000)
