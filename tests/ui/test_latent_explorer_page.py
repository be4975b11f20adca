"""The Latent explorer page, run headless with AppTest against the shipped image checkpoint."""
from __future__ import annotations

import base64
import io
import json

import pyarrow as pa
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from ui.app_fixtures import REPO, app_env, app_runs_dir, clear_app_caches, image_checkpoint  # noqa: F401

PAGE = str(REPO / "pages/latent-explorer.py")


@pytest.fixture(autouse=True)
def _app_env(app_env):  # noqa: F811
    """Runs folder with a checkpoint; the picker prefers the shipped image-conv when it exists."""


@pytest.fixture
def page() -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def decoded(at: AppTest) -> dict[str, str]:
    """Caption -> image URL (content-addressed) of the three decoded images."""
    out = {}
    for img in at.get("image"):
        for caption, url in zip(img.captions, img.value):
            if caption in ("digit decoder", "clothing decoder", "re-mixed (w = 0.5)"):
                out[caption] = url
    return out


def latent_sliders(at: AppTest, source: int):
    return [s for s in at.slider if s.key and s.key.startswith("z:") and s.key.split(":")[2] == str(source)]


def test_page_shows_sliders_decoded_images_and_charts(page):
    assert len(latent_sliders(page, 0)) >= 1 and len(latent_sliders(page, 1)) >= 1
    assert set(decoded(page)) == {"digit decoder", "clothing decoder", "re-mixed (w = 0.5)"}
    charts = page.get("plotly_chart")
    assert len(charts) == 1  # KL per dimension
    assert any("units active" in m.value for m in page.markdown)


def test_latent_map_tooltips_carry_each_points_picture(page):
    (chart,) = page.get("vega_lite_chart")
    spec = json.loads(chart.proto.spec)
    assert [t["field"] for t in spec["encoding"]["tooltip"]] == ["image", "class", "test mixture"]
    assert spec["params"][0]["select"]["fields"] == ["test mixture"]  # a click picks the point's mixture
    data = chart.proto.datasets[0].data.data
    table = pa.ipc.open_stream(data).read_all().to_pandas()
    assert len(table) == 1000 and table["image"].str.startswith("data:image/png;base64,").all()
    # The picture is mixture | digit | clothing of that test pair, at twice the size.
    png = Image.open(io.BytesIO(base64.b64decode(table["image"][0].split(",", 1)[1])))
    assert png.size == (168, 56)


def test_moving_a_digit_slider_changes_only_the_digit_image(page):
    before = decoded(page)
    slider = latent_sliders(page, 0)[0]  # the digit dimension with the most KL
    slider.set_value(2.5 if slider.value < 1 else -2.5).run()
    assert not page.exception
    after = decoded(page)
    assert after["digit decoder"] != before["digit decoder"]
    assert after["clothing decoder"] == before["clothing decoder"]  # its decoder sees only its own latent


def test_prior_sample_and_zero_move_the_sliders(page):
    values = [s.value for s in latent_sliders(page, 1)]
    page.button(key="lx_prior").click().run()
    sampled = [s.value for s in latent_sliders(page, 1)]
    assert sampled != values
    page.button(key="lx_zero").click().run()
    assert all(s.value == 0.0 for s in page.slider if s.key and s.key.startswith("z:"))
    page.button(key="lx_prior").click().run()
    assert [s.value for s in latent_sliders(page, 1)] != sampled  # a new draw each time


def test_start_from_a_test_mixture(page):
    page.number_input(key="lx_index").set_value(5).run()
    page.button(key="lx_from_test").click().run()
    at_5 = decoded(page)
    page.number_input(key="lx_index").set_value(6).run()
    page.button(key="lx_from_test").click().run()
    assert decoded(page)["digit decoder"] != at_5["digit decoder"]


def test_show_all_dimensions(page, image_checkpoint):  # noqa: F811
    shown = len(latent_sliders(page, 0))
    page.toggle(key="lx_all").set_value(True).run()
    assert len(latent_sliders(page, 0)) == image_checkpoint.meta["model_config"]["latent_dim"] >= shown


def test_traversal_and_interpolation_images_follow_their_controls(page):
    def traversal_url():
        (img,) = [i for i in page.get("image") if any(c.startswith("Rows: z") for c in i.captions)]
        return img.value[0]

    first = traversal_url()
    page.slider(key="lx_trav_span").set_value(1.0).run()
    assert traversal_url() != first
    interp = page.tabs[2].get("image")[0].value[0]
    page.number_input(key="lx_interp_b").set_value(7).run()
    assert page.tabs[2].get("image")[0].value[0] != interp


def test_without_data_the_page_says_what_is_missing(tmp_path, monkeypatch):
    monkeypatch.setenv("VAE_DATA_DIR", str(tmp_path / "empty"))
    clear_app_caches()
    try:
        at = AppTest.from_file(PAGE, default_timeout=60).run()
        assert not at.exception
        assert any("t10k-images-idx3-ubyte.gz" in e.value for e in at.error)
    finally:
        monkeypatch.undo()
        clear_app_caches()
