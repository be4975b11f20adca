"""One end-to-end test in a real browser: `streamlit run app.py` + headless Chromium via Playwright.

Needs Chromium at /usr/bin/chromium (CI installs the Debian package); the test fails, rather than
skips, without it. A screenshot of the image page is saved to test-artifacts/ for humans to look at.
"""
from __future__ import annotations

import concurrent.futures
import contextlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from vae_core.core.errors import LabError
from vae_core.core.loadtest import start_server, stop_server, watch_training
from ui.app_fixtures import (REPO, app_runs_dir, audio_checkpoint, effects_checkpoint,  # noqa: F401
                             image_checkpoint, music_checkpoint)

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = REPO / "test-artifacts"
STARTUP_TIMEOUT = 60  # seconds for the server to answer its health check
UI_TIMEOUT = 60_000  # milliseconds for the page to render (model load + first separation on a busy CPU)
_DB = re.compile(r"^\d+\.\d\d dB$")
_INDEX = re.compile(r"^Test-set index \d+$")


@contextlib.contextmanager
def serve_app(runs_dir: Path, log_path: Path):
    """The app (``vae_core.core.loadtest.start_server``: `streamlit run app.py` on a free local port, no file
    watcher) started now; yields (base URL, process); always terminated, its log printed for a failing test."""
    try:
        proc, base, _seconds = start_server(runs_dir, log_path, timeout=STARTUP_TIMEOUT)
    except LabError as exc:
        pytest.fail(f"{exc}\n{log_path.read_text(errors='replace')}")
    try:
        yield base, proc
    finally:
        stop_server(proc, timeout=10)
        print(log_path.read_text(errors="replace"))  # shown by pytest when a test failed


@pytest.fixture(scope="module")
def streamlit_server(image_checkpoint, audio_checkpoint, music_checkpoint, effects_checkpoint, app_runs_dir,  # noqa: F811
                     tmp_path_factory):
    """The app on a free local port for this module's tests; yields (base URL, log file, process)."""
    log_path = tmp_path_factory.mktemp("streamlit") / "server.log"
    with serve_app(app_runs_dir, log_path) as (base, proc):  # VAE_DATA_DIR comes from conftest
        yield base, log_path, proc


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

    base, log_path, _ = streamlit_server
    page = browser.new_page(viewport={"width": 1440, "height": 1000})
    page.set_default_timeout(UI_TIMEOUT)
    try:
        # Home first: the first script run of a server whose app folder has a `pages/` directory takes
        # Streamlit's legacy multipage path, which answers a deep link with a "Page not found" dialog.
        page.goto(base, wait_until="domcontentloaded")
        expect(page.get_by_role("heading", name="VAE Separation Lab")).to_be_visible()
        expect(page.get_by_text("Datasets found")).to_be_visible()

        page.goto(f"{base}/image-separation", wait_until="domcontentloaded")
        entries = page.evaluate("history.length")  # the page's script has not run yet: it needs the websocket
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
        # The page's choices reach the address bar as one change, one history entry (it used to be one per control,
        # a dozen half-written addresses for Back to step through).
        _wait_until_idle(page)
        assert "checkpoint=" in page.url and "weight=0.5" in page.url and "refine=" in page.url
        assert page.evaluate("history.length") - entries <= 1

        # Random digit: the picker shows the drawn test-set index, and a re-roll draws another digit: the true
        # digit's picture and the mixture made from it are new images (their src URLs are content-addressed).
        page.get_by_role("radiogroup", name="Choose the digit by").get_by_text("random", exact=True).click()
        reroll = page.get_by_role("button", name="New random digit")
        expect(reroll).to_be_visible()
        index_caption = page.get_by_text(_INDEX).first
        expect(index_caption).to_be_visible()
        _wait_until_idle(page)
        digit = page.locator('[data-testid="stImage"]').filter(has_text=re.compile(r"^true digit: \d$")).locator("img")
        expect(digit).to_be_visible()
        drawn_index, drawn_digit, drawn_mixture = index_caption.inner_text(), digit.get_attribute("src"), \
            mixture.get_attribute("src")
        for _ in range(3):  # a draw among 10,000 test digits repeats the one shown once in 10,000 times
            reroll.click()
            _wait_until_idle(page)
            if index_caption.inner_text() != drawn_index:
                break
        expect(index_caption).not_to_have_text(drawn_index)
        expect(digit).not_to_have_attribute("src", drawn_digit)
        expect(mixture).not_to_have_attribute("src", drawn_mixture)

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

        # Back undoes the move (each change is one history entry): the address, the slider and the picture return.
        page.go_back()
        expect(slider).to_have_value("0.5")
        expect(mixture).to_have_attribute("src", before_src)
        _wait_until_idle(page)
        assert "weight=0.5&" in page.url

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


def _open(browser, base: str, path: str, heading: str):
    """A new page on ``path`` (via the home page: see the deep-link note above), once its heading shows."""
    from playwright.sync_api import expect

    expect.set_options(timeout=UI_TIMEOUT)
    page = browser.new_page(viewport={"width": 1440, "height": 1000})
    page.set_default_timeout(UI_TIMEOUT)
    page.goto(base, wait_until="domcontentloaded")
    expect(page.get_by_role("heading", name="VAE Separation Lab")).to_be_visible()
    page.goto(f"{base}/{path}", wait_until="domcontentloaded")
    expect(page.get_by_role("heading", name=heading)).to_be_visible()
    return page


def _wav(seconds: float, rate: int) -> bytes:
    import io

    import numpy as np
    import soundfile as sf

    t = np.arange(int(seconds * rate)) / rate
    buf = io.BytesIO()
    sf.write(buf, (0.2 * np.sin(2 * np.pi * 330 * t)).astype(np.float32), rate, format="WAV")
    return buf.getvalue()


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def test_audio_page_in_browser(browser, streamlit_server):
    """A test clip plays as WAV in five players; an upload is separated; a bad upload gets one sentence."""
    from playwright.sync_api import expect

    base, log_path, proc = streamlit_server
    page = _open(browser, base, "audio-separation", "Audio separation")
    try:
        players = page.locator("audio")
        expect(players).to_have_count(5)
        src = players.first.get_attribute("src")
        response = page.request.get(src if src.startswith("http") else base + src)
        assert response.ok and response.body()[:4] == b"RIFF"  # WAV bytes, played at their true level
        expect(page.locator('[data-testid="stDataFrame"]')).to_be_visible()  # per-clip scores

        page.get_by_role("tab", name="Upload a recording").click()
        page.locator('input[type="file"]').set_input_files(
            files=[{"name": "tone.wav", "mimeType": "audio/wav", "buffer": _wav(2.0, 22050)}])
        expect(page.get_by_text("2.0 s at 22050 Hz")).to_be_visible()
        expect(players).to_have_count(8)
        expect(page.get_by_role("button", name="Download voice (WAV)").last).to_be_visible()
        _screenshot(page, "audio-separation.png")

        page.locator('input[type="file"]').set_input_files(
            files=[{"name": "notes.wav", "mimeType": "audio/wav", "buffer": b"not a sound at all" * 10}])
        expect(page.get_by_text("is not audio that can be read")).to_be_visible()
        expect(page.locator('[data-testid="stException"]')).to_have_count(0)
        # Resident memory of the server with the pages' models loaded (the benchmark target is 1.5 GB).
        ARTIFACTS.mkdir(exist_ok=True)
        (ARTIFACTS / "server-rss-mb.txt").write_text(f"{_rss_mb(proc.pid):.0f}\n")
        print(f"streamlit server RSS after the image and audio pages: {_rss_mb(proc.pid):.0f} MB")
    except Exception:
        _screenshot(page, "audio-separation-failure.png")
        raise
    finally:
        page.close()
    log = log_path.read_text(errors="replace")
    assert "Traceback" not in log, log


def test_music_page_generates_a_clip_that_plays(browser, streamlit_server):
    """Generate on the Music page (the shipped music-spec), then play the first sample in the browser: its audio
    element loads the WAV (5 s) and its clock advances."""
    from playwright.sync_api import expect

    base, log_path, _ = streamlit_server
    page = _open(browser, base, "music", "Music")
    try:
        page.get_by_role("button", name="Generate").click()
        expect(page.get_by_text("Sample 4")).to_be_visible()
        played = page.evaluate("""async () => {
            const a = document.querySelector('audio');
            a.muted = true;  // headless autoplay rules: a muted element may play
            await a.play();
            await new Promise(r => setTimeout(r, 1200));
            return [a.currentTime, a.duration];
        }""")
        assert played[1] == pytest.approx(5.0, abs=0.05) and played[0] > 0.3, played
        expect(page.locator('[data-testid="stException"]')).to_have_count(0)
        _screenshot(page, "music.png")
    except Exception:
        _screenshot(page, "music-failure.png")
        raise
    finally:
        page.close()
    assert "Traceback" not in log_path.read_text(errors="replace")


def test_latent_map_hover_shows_the_picture_and_click_starts_there(browser, streamlit_server):
    from playwright.sync_api import expect

    base, log_path, _ = streamlit_server
    page = _open(browser, base, "latent-explorer", "Latent explorer")
    try:
        page.get_by_role("tab", name="Latent map").click()
        chart = page.locator('[data-testid="stVegaLiteChart"]').last
        expect(chart).to_be_visible()
        chart.scroll_into_view_if_needed()
        page.wait_for_timeout(1000)
        found = _hover_until_picture(page, chart, 24)
        assert found, "no tooltip with a picture appeared over the latent map"
        assert 'src="data:image/png;base64,' in found[2] and "test mixture" in found[2]
        page.mouse.click(found[0], found[1])
        expect(page.get_by_text(re.compile(r"^Sliders start from test mixture \d+"))).to_be_visible()
        expect(page.locator('[data-testid="stException"]')).to_have_count(0)
    finally:
        page.close()


def test_dragging_on_the_latent_plane_redraws_the_picture_and_letting_go_moves_the_sliders(browser, streamlit_server):
    """The explorer opens on the 2-D model's plane: hovering shows what the decoder draws under the pointer,
    dragging the marker redraws that picture at each move without waiting for the server, and letting go (or an
    arrow key) moves that decoder's two sliders to the point."""
    from playwright.sync_api import expect

    base, log_path, _ = streamlit_server
    page = _open(browser, base, "latent-explorer", "Latent explorer")
    try:
        pad = page.locator('.pad[data-ready="1"]')
        expect(pad).to_have_count(1, timeout=UI_TIMEOUT)
        pad.scroll_into_view_if_needed()
        canvas = page.locator(".pad-wrap .decoded")  # in the pad's shadow root: locators reach it, querySelector not
        picture = lambda: canvas.evaluate("c => c.toDataURL()")  # noqa: E731
        point = lambda: pad.get_attribute("data-point")  # noqa: E731
        values = page.locator('[data-testid="stSliderThumbValue"]')
        box = pad.bounding_box()
        at = lambda fx, fy: (box["x"] + box["width"] * fx, box["y"] + box["height"] * fy)  # noqa: E731
        start_picture, start_point = picture(), point()
        # Hover: the picture follows the pointer; leaving the pad puts back the marker's own.
        page.mouse.move(*at(0.1, 0.1))
        assert point() == "-2.40,2.40" and picture() != start_picture
        page.mouse.move(box["x"] - 40, box["y"] + box["height"] / 2)
        assert point() == start_point and picture() == start_picture
        # Drag along the top edge to the right: a new picture at every step, the sliders unmoved until the end.
        sliders_before = values.all_inner_texts()
        page.mouse.move(*at(0.1, 0.1))
        page.mouse.down()
        seen = {picture()}
        for k in range(1, 9):
            page.mouse.move(*at(0.1 + 0.1 * k, 0.1))
            seen.add(picture())
        assert len(seen) >= 6, "the picture did not follow the drag"
        assert values.all_inner_texts() == sliders_before
        page.mouse.up()
        assert point() == "2.40,2.40"
        expect(values.nth(0)).to_have_text("2.40", timeout=UI_TIMEOUT)
        expect(values.nth(1)).to_have_text("2.40")
        assert values.all_inner_texts()[2:4] == sliders_before[2:4]  # the clothing latent stays where it was
        # The keyboard moves the marker one grid step (0.15) and the sliders with it.
        pad.focus()
        page.keyboard.press("ArrowLeft")
        expect(values.nth(0)).to_have_text("2.25", timeout=UI_TIMEOUT)
        latencies = page.evaluate("window.__latentPadLatencies")
        assert len(latencies) >= 10 and all(t > 0 for t in latencies)
        expect(page.locator('[data-testid="stException"]')).to_have_count(0)
        _screenshot(page, "latent-plane.png")
    finally:
        page.close()
    assert "Traceback" not in log_path.read_text(errors="replace")


def test_the_latent_plane_follows_a_switch_to_the_other_decoder(browser, streamlit_server):
    """On the 64-dimensional model each decoder's plane has its own two dimensions: after switching decoder, the
    pad (the same element, given new data) names the new dimensions under the pointer."""
    from playwright.sync_api import expect

    base, log_path, _ = streamlit_server
    page = _open(browser, base, "latent-explorer?checkpoint=image-conv", "Latent explorer")
    try:
        pad = page.locator('.pad[data-ready="1"]')
        expect(pad).to_have_count(1, timeout=UI_TIMEOUT)
        xlabel, readout = page.locator(".pad-wrap .xlabel"), page.locator(".pad-wrap .readout")
        first = xlabel.inner_text().split(" from")[0]
        page.locator('[data-testid="stRadio"]').filter(has_text="Decoder").get_by_text("clothing").click()
        expect(xlabel).not_to_contain_text(f"{first} from", timeout=UI_TIMEOUT)
        expect(pad).to_have_count(1, timeout=UI_TIMEOUT)
        other = xlabel.inner_text().split(" from")[0]
        pad.scroll_into_view_if_needed()
        box = pad.bounding_box()
        page.mouse.move(box["x"] + 20, box["y"] + 20)
        assert readout.inner_text().startswith(f"{other} = "), (readout.inner_text(), other)
        expect(page.locator('[data-testid="stException"]')).to_have_count(0)
    finally:
        page.close()
    assert "Traceback" not in log_path.read_text(errors="replace")


def test_following_the_first_lesson_opens_each_step_in_its_state(browser, streamlit_server):
    """A teacher on the Lessons page clicks each step's link of the first lesson in turn: the image page opens with
    the step's mixture and settings (a 3 and a T-shirt; then raw decoders; then w = 0.2), and the student's name
    stays in the address."""
    from playwright.sync_api import expect

    base, log_path, _ = streamlit_server
    page = _open(browser, base, "lessons?who=ada", "Lessons")
    try:
        for k, (label, check) in enumerate((
                ("Mix a 3 with a T-shirt", lambda: expect(page.get_by_text("true digit: 3")).to_be_visible()),
                ("Show the decoders' raw drawings", lambda: expect(
                    page.get_by_role("radio", name="off: what the decoders draw")).to_be_checked()),
                ("Mix with w = 0.2", lambda: expect(
                    page.locator('[data-testid="stSliderThumbValue"]').first).to_have_text("0.20")))):
            page.get_by_role("link", name=label).click()
            expect(page.get_by_role("heading", name="Image separation")).to_be_visible()
            expect(page.get_by_text("Separation took")).to_be_visible()
            check()
            assert "who=ada" in page.url
            _screenshot(page, f"lesson-1-step-{k + 1}.png")
            page.get_by_role("navigation").get_by_role("link", name="Lessons").click()
            expect(page.get_by_role("heading", name="Lessons")).to_be_visible()
        expect(page.locator('[data-testid="stException"]')).to_have_count(0)
    finally:
        page.close()
    assert "Traceback" not in log_path.read_text(errors="replace")


def test_effects_map_hover_shows_a_spectrogram_and_click_plays_the_segment(browser, streamlit_server):
    """The Effects map: hovering a point of the latent map shows its spectrogram; clicking it puts the dry and the
    processed segment in players."""
    from playwright.sync_api import expect

    base, log_path, _ = streamlit_server
    page = _open(browser, base, "effects-map?fx_per=6", "Effects map")
    try:
        charts = page.locator('[data-testid="stVegaLiteChart"]')
        expect(charts).to_have_count(2)
        chart = charts.nth(1)  # the latent map
        chart.scroll_into_view_if_needed()
        page.wait_for_timeout(1000)
        found = _hover_until_picture(page, chart, 30)
        assert found, "no tooltip with a spectrogram appeared over the latent map"
        assert 'src="data:image/png;base64,' in found[2] and "effect" in found[2]
        page.mouse.click(found[0], found[1])
        expect(page.get_by_text(re.compile(r"^Dry: "))).to_be_visible()
        expect(page.locator("audio")).to_have_count(2)
        expect(page.locator('[data-testid="stException"]')).to_have_count(0)
        _screenshot(page, "effects-map.png")
    except Exception:
        _screenshot(page, "effects-map-failure.png")
        raise
    finally:
        page.close()
    assert "Traceback" not in log_path.read_text(errors="replace")


def _hover_until_picture(page, chart, steps: int) -> tuple[float, float, str] | None:
    """Sweep the pointer over ``chart`` on a ``steps`` x ``steps`` grid until a Vega tooltip with a picture shows:
    where the pointer rests and the tooltip's HTML (None if none showed)."""
    box = chart.bounding_box()
    tooltip = "() => { const t = document.getElementById('vg-tooltip-element');" \
              " return t && t.classList.contains('visible') ? t.innerHTML : ''; }"
    for fy in [i / steps for i in range(steps // 8, steps - steps // 8)]:
        for fx in [i / steps for i in range(steps // 12, steps - steps // 12)]:
            x, y = box["x"] + box["width"] * fx, box["y"] + box["height"] * fy
            page.mouse.move(x, y)
            page.wait_for_timeout(15)
            html = page.evaluate(tooltip)
            if "<img" in html:
                return x, y, html
    return None


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



def test_deep_links_as_a_cold_servers_first_requests_open_their_page_without_a_modal(
        browser, image_checkpoint, app_runs_dir, tmp_path):  # noqa: F811
    """Two students open a deep link with page state at once, as the very first requests of a fresh server:
    each sees the page with the app's own navigation and the link's state, no "Page not found", and the
    browser fetches nothing from outside the server (the page icon is local)."""
    with serve_app(app_runs_dir, tmp_path / "cold.log") as (base, _proc):
        link = f"{base}/image-separation?who=ada&weight=0.3&digit_mode=index&digit_index=42"
        pages, outside = [], []
        for _ in range(2):
            page = browser.new_context(viewport={"width": 1366, "height": 900}).new_page()
            page.on("request", lambda r: outside.append(r.url) if not r.url.startswith(base) and not
                    r.url.startswith("data:") else None)
            pages.append(page)
        for page in pages:  # both navigations start before either page has rendered
            page.goto(link, wait_until="commit")
        for i, page in enumerate(pages):
            page.get_by_text("Separated digit", exact=False).first.wait_for(timeout=UI_TIMEOUT)
            page.wait_for_timeout(1500)  # a late "Page not found" dialog would show by now
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / f"cold-deep-link-{i}.png"), full_page=False)
            assert page.get_by_text("Page not found").count() == 0
            assert page.get_by_role("heading", name="Image separation").count() == 1
            nav = page.get_by_test_id("stSidebarNav")
            assert nav.get_by_text("Latent explorer").count() == 1  # the app's titles, not file names
            assert nav.get_by_text("latent-explorer").count() == 0 and nav.get_by_text("app", exact=True).count() == 0
            slider = page.get_by_role("slider", name="Mixing weight w of the digit")
            assert slider.input_value() == "0.3"
            assert "who=ada" in page.url and "weight=0.3" in page.url
            page.context.close()
        assert not outside, outside


def test_bench_serve_measures_one_student_and_prints_json(image_checkpoint):  # noqa: F811
    """`bench serve` starts the app itself and drives Chromium: one session, its numbers as the last JSON line, the
    browsers' CPU time by kind of process, and with --baseline the same class on a bare Streamlit page."""
    import json

    out = subprocess.run([sys.executable, "-m", "vae_core", "bench", "serve", "--sessions", "1", "--baseline",
                          "--json"], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    report = json.loads(out.stdout.strip().splitlines()[-1])
    row = report["sizes"]["1"]
    assert row["errors"] == [] and row["page_not_found"] == 0
    assert row["first_render_s"]["n"] == 1 and row["first_render_s"]["p50"] > 0
    assert row["slider_to_image_s"]["n"] == 3 and 0 < row["slider_to_image_s"]["p50"] <= row["slider_to_image_s"]["max"]
    assert row["server_rss_mb"] > 50 and 0 < row["server_cpu_s"] < row["wall_s"] * report["cpus"]
    assert 0 < report["server_start_s"] < report["cold_start_home_s"]
    for r in (row, report["baseline"]["1"]):
        cpu = r["browser_cpu_s"]
        assert cpu["renderers"] > 0 and cpu["browser"] > 0  # the page's renderer and the browser process were found
        assert cpu["total"] == pytest.approx(sum(v for k, v in cpu.items() if k != "total"), abs=0.11)
    base = report["baseline"]["1"]
    assert base["errors"] == [] and base["slider_to_image_s"]["n"] == 3  # its slider redraws its images too
    assert "browsers' CPU s: renderers" in out.stdout and "baseline: the same classes" in out.stdout


def test_bench_serve_protocol_client_drives_two_students(image_checkpoint):  # noqa: F811
    """`bench serve --client protocol`: two students speak Streamlit's websocket protocol (no browser); each draws
    the image page and moves the slider three times, each move drawing a new image."""
    import json

    out = subprocess.run([sys.executable, "-m", "vae_core", "bench", "serve", "--client", "protocol", "--sessions",
                          "2", "--json"], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["client"] == "protocol"
    row = report["sizes"]["2"]
    assert row["errors"] == [] and row["page_not_found"] == 0
    assert row["first_render_s"]["n"] == 2 and row["first_render_s"]["p50"] > 0
    assert row["slider_to_image_s"]["n"] == 6
    assert 0 < report["server_start_s"] < report["cold_start_home_s"] and report["browser_home_warm_s"] > 0


def test_bench_pages_times_the_music_page_first_and_cached(music_checkpoint):  # noqa: F811
    """`bench pages` opens a page in fresh Chromium contexts on its own server, once and then twice more."""
    import json

    out = subprocess.run([sys.executable, "-m", "vae_core", "bench", "pages", "--pages", "music", "--repeats", "2",
                          "--json"], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "cached s: median" in out.stdout
    row = json.loads(out.stdout.strip().splitlines()[-1])["pages"]["music"]
    assert row["problems"] == []
    assert 0 < row["cached_min_s"] <= row["cached_median_s"] <= row["cached_max_s"]
    assert row["first_s"] > 0


def test_bench_plane_drag_times_each_move_and_the_release(image_checkpoint):  # noqa: F811
    """`bench plane-drag` drags on the Latent explorer's plane in Chromium: every pointer move is timed by the
    page, and letting go moves the sliders (the bench waits for them)."""
    import json

    out = subprocess.run([sys.executable, "-m", "vae_core", "bench", "plane-drag", "--repeats", "2", "--json"],
                         cwd=REPO, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "pointer to picture median" in out.stdout
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["checkpoint"] == "image-mlp-z2" and report["exceptions"] == 0 and len(report["drags"]) == 2
    for drag in report["drags"]:
        assert drag["move_ms"]["n"] >= report["moves"]  # every move drew its picture and was timed
        assert 0 < drag["move_ms"]["p50"] <= drag["move_ms"]["p95"] <= drag["move_ms"]["max"]
        assert drag["release_to_sliders_s"] > 0


def test_bench_pages_names_the_pages_when_one_is_unknown():
    out = subprocess.run([sys.executable, "-m", "vae_core", "bench", "pages", "--pages", "musik"], cwd=REPO,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "No page 'musik'; the pages are" in out.stderr and "Traceback" not in out.stderr


def test_bench_serve_refuses_minutes_with_the_protocol_client():
    out = subprocess.run([sys.executable, "-m", "vae_core", "bench", "serve", "--client", "protocol", "--minutes", "1"],
                         cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode != 0
    assert "use it with --client browser" in out.stderr and "Traceback" not in out.stderr
    out = subprocess.run([sys.executable, "-m", "vae_core", "bench", "serve", "--client", "protocol", "--baseline"],
                         cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode != 0
    assert "--baseline measures what Streamlit's page costs" in out.stderr and "Traceback" not in out.stderr


def test_a_protocol_student_starts_a_run_on_the_train_page_and_keeps_it_live(image_checkpoint):  # noqa: F811
    """`bench watch-quick --client protocol`'s watcher: it presses Start training on a real server and then reruns
    the page's live fragments at the intervals they ask for (as an open tab does) until the run has ended."""
    # Its own thread: the browser fixtures of this module keep Playwright's event loop running in this one.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        report = pool.submit(watch_training, "quick", who="proto-watch", client="protocol",
                             env={"VAE_JOB_EVAL_LIMIT": "500"}, timeout_s=600).result()
    assert report["status"] == "done" and report["epochs_done"] == 4
    assert set(report["timings"]) == {"loading_s", "training_s", "scoring_s"}
    assert report["test_metrics"]["n"] == 500  # scored as the server's environment says
    # The status fragment asks for a rerun every 5 s and the curves every 10 s while the run goes on.
    assert report["fragment_reruns"] >= report["timings"]["training_s"] / 10
    assert 0 < report["server_cpu_s"] < report["click_to_end_s"] * 2
