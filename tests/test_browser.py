"""One end-to-end test in a real browser: `streamlit run app.py` + headless Chromium via Playwright.

Needs Chromium at /usr/bin/chromium (CI installs the Debian package); the test fails, rather than
skips, without it. A screenshot of the image page is saved to test-artifacts/ for humans to look at.
"""
from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from app_fixtures import REPO, app_runs_dir, image_checkpoint  # noqa: F401

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = REPO / "test-artifacts"
STARTUP_TIMEOUT = 60  # seconds for the server to answer its health check
UI_TIMEOUT = 60_000  # milliseconds for the page to render (model load + first separation on a busy CPU)
_DB = re.compile(r"^\d+\.\d\d dB$")
_INDEX = re.compile(r"^Test-set index \d+$")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.read().decode().strip() == "ok"
    except OSError:
        return False


@pytest.fixture(scope="module")
def streamlit_server(image_checkpoint, app_runs_dir, tmp_path_factory):  # noqa: F811
    """`streamlit run app.py` on a free local port; yields (base URL, log file); always terminated."""
    port = _free_port()
    log_path = tmp_path_factory.mktemp("streamlit") / "server.log"
    env = {**os.environ, "VAE_RUNS_DIR": str(app_runs_dir)}  # VAE_DATA_DIR comes from conftest
    cmd = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
           "--server.port", str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false",
           # Edits elsewhere in the working tree must not pop up "File change" prompts mid-test.
           "--server.fileWatcherType", "none"]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not _healthy(f"{base}/_stcore/health"):
            if proc.poll() is not None:
                pytest.fail(f"streamlit exited with {proc.returncode}:\n{log_path.read_text()}")
            if time.monotonic() > deadline:
                pytest.fail(f"streamlit did not answer its health check in {STARTUP_TIMEOUT} s:\n"
                            f"{log_path.read_text()}")
            time.sleep(0.5)
        yield base, log_path
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        print(log_path.read_text(errors="replace"))  # shown by pytest when a test failed


@pytest.fixture(scope="module")
def browser():
    if not (Path(CHROMIUM).is_file() and os.access(CHROMIUM, os.X_OK)):
        pytest.fail(f"Chromium is not installed at {CHROMIUM}: install it (Debian/Ubuntu: apt-get install "
                    f"chromium); this test needs a real browser and is not skipped without one.")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("The playwright Python package is not installed (pip install playwright).")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


def test_image_page_in_browser(browser, streamlit_server):
    from playwright.sync_api import expect

    expect.set_options(timeout=UI_TIMEOUT)  # the CPU may be busy (training); first load imports torch

    base, log_path = streamlit_server
    page = browser.new_page(viewport={"width": 1440, "height": 1000})
    page.set_default_timeout(UI_TIMEOUT)
    try:
        # Home first: the first script run of a server whose app folder has a `pages/` directory takes
        # Streamlit's legacy multipage path, which answers a deep link with a "Page not found" dialog.
        page.goto(base, wait_until="domcontentloaded")
        expect(page.get_by_role("heading", name="VAE Separation Lab")).to_be_visible()
        expect(page.get_by_text("Datasets found")).to_be_visible()

        page.goto(f"{base}/image-separation", wait_until="domcontentloaded")
        expect(page.get_by_role("heading", name="Image separation")).to_be_visible()

        digit_psnr = page.locator('[data-testid="stMetric"]').filter(has_text="Digit PSNR")
        value = digit_psnr.locator('[data-testid="stMetricValue"]')
        expect(value).to_have_text(_DB)
        captions = ["mixture (input)", "separated digit", "separated clothing", "re-mixed reconstruction"]
        for caption in captions:
            expect(page.get_by_text(caption, exact=True)).to_be_visible()
        mixture = page.locator('[data-testid="stImage"]').filter(has_text="mixture (input)").locator("img")
        expect(mixture).to_be_visible()
        first_value, first_src = value.inner_text(), mixture.get_attribute("src")

        # Random digit: the picker shows the drawn test-set index, and a re-roll redraws it.
        page.get_by_role("radiogroup", name="Choose the digit by").get_by_text("random", exact=True).click()
        reroll = page.get_by_role("button", name="New random digit")
        expect(reroll).to_be_visible()
        index_caption = page.get_by_text(_INDEX).first
        expect(index_caption).to_be_visible()
        reroll.click()
        expect(index_caption).to_be_visible()
        _wait_until_idle(page)

        # Mixing weight 0.50 -> 0.55 with the keyboard: a new separation with new scores.
        before_value, before_src = value.inner_text(), mixture.get_attribute("src")
        slider = page.get_by_role("slider", name="Mixing weight w of the digit")
        slider.focus()
        slider.press("ArrowRight")
        expect(slider).to_have_value("0.55")
        expect(value).not_to_have_text(before_value)
        expect(value).to_have_text(_DB)
        expect(mixture).not_to_have_attribute("src", before_src)
        _wait_until_idle(page)
        assert (value.inner_text(), mixture.get_attribute("src")) != (first_value, first_src)

        expect(page.locator('[data-testid="stException"]')).to_have_count(0)
        expect(page.get_by_text("Page not found")).to_have_count(0)
        _screenshot(page, "image-separation.png")
    except Exception:
        try:
            _screenshot(page, "image-separation-failure.png")
        except Exception as exc:  # a dead page must not hide the original failure
            print(f"no failure screenshot: {exc}")
        raise
    finally:
        page.close()
    log = log_path.read_text(errors="replace")
    assert "Traceback" not in log and "deprecated" not in log.lower(), log


def _screenshot(page, name: str) -> None:
    """The whole page: Streamlit scrolls inside its main element, so grow the viewport to fit it."""
    ARTIFACTS.mkdir(exist_ok=True)
    height = page.evaluate("document.querySelector('[data-testid=\"stMain\"]')?.scrollHeight ?? 0")
    if height > page.viewport_size["height"]:
        page.set_viewport_size({"width": page.viewport_size["width"], "height": min(height, 4000)})
        page.wait_for_timeout(500)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


def _wait_until_idle(page) -> None:
    """Wait until Streamlit has finished the current rerun (its status widget disappears)."""
    from playwright.sync_api import expect

    page.wait_for_timeout(300)
    expect(page.locator('[data-testid="stStatusWidget"]')).to_have_count(0)

