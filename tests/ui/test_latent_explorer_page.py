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


def chart_spec(at: AppTest, key_part: str):
    """The Vega-Lite chart whose element id names ``key_part`` (``lx_map`` or ``lx_plane``) and its spec."""
    (chart,) = [c for c in at.get("vega_lite_chart") if key_part in c.proto.id]
    return chart, json.loads(chart.proto.spec)


def dataset(chart, name_part: str = ""):
    for ds in chart.proto.datasets:
        table = pa.ipc.open_stream(ds.data.data).read_all().to_pandas()
        if name_part in table.columns:
            return table
    raise AssertionError(f"no dataset with a {name_part!r} column")


def test_latent_map_tooltips_carry_each_points_picture(page):
    chart, spec = chart_spec(page, "lx_map")
    assert [t["field"] for t in spec["encoding"]["tooltip"]] == ["image", "class", "test mixture"]
    assert spec["params"][0]["select"]["fields"] == ["test mixture"]  # a click picks the point's mixture
    data = chart.proto.datasets[0].data.data
    table = pa.ipc.open_stream(data).read_all().to_pandas()
    assert len(table) == 1000 and table["image"].str.startswith("data:image/png;base64,").all()
    # The picture is mixture | digit | clothing of that test pair, at twice the size.
    png = Image.open(io.BytesIO(base64.b64decode(table["image"][0].split(",", 1)[1])))
    assert png.size == (168, 56)


def test_latent_plane_shows_the_manifold_the_encodings_and_a_picture_under_every_hover_point(page):
    """The first tab: the decoder's drawings over its plane (15 x 15 tiles of 28 px), and a chart with the test
    encodings and a 21 x 21 grid of hover points, each carrying the picture decoded there."""
    (figure,) = [img for img in page.get("image") if any("draws at each point of the plane" in c for c in img.captions)]
    assert "digit decoder" in figure.captions[0]
    chart, spec = chart_spec(page, "lx_plane")
    hover = dataset(chart, "image")
    assert len(hover) == 21 * 21 and hover["image"].str.startswith("data:image/png;base64,").all()
    x, y = (c for c in hover.columns if c != "image")
    assert hover[x].min() == -3 and hover[x].max() == 3 and hover[y].min() == -3 and hover[y].max() == 3
    # The pictures differ along both axes: the decoder's output depends on both coordinates it is given.
    assert hover["image"].nunique() > 21
    encodings = dataset(chart, "class")
    assert len(encodings) == 1000
    (select,) = spec["params"]
    assert select["select"]["fields"] == [x, y] and select["select"]["on"] == "click"  # moves the sliders there
    # The clothing decoder's plane is another picture.
    page.radio(key="lx_plane_source").set_value(1).run()
    (clothing,) = [img for img in page.get("image") if any("draws at each point" in c for c in img.captions)]
    assert "clothing decoder" in clothing.captions[0] and clothing.value != figure.value


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


def choose(at: AppTest, name: str) -> AppTest:
    """Pick a checkpoint in the explorer's own sidebar picker."""
    picker = at.sidebar.selectbox(key="explorer_image_select")
    picker.set_value(next(o for o in picker.options if o.startswith(name + " "))).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_the_explorer_starts_on_the_two_dimensional_model_and_keeps_its_own_choice(page, image_checkpoint):  # noqa: F811
    """The image page's default separates best; the explorer starts on the model whose prior fills its plane."""
    assert page.session_state["explorer_image_name"] == "image-mlp-z2"
    assert [s.key for s in latent_sliders(page, 0)] == ["z:image-mlp-z2:0:0", "z:image-mlp-z2:0:1"]


def test_show_all_dimensions(page, image_checkpoint):  # noqa: F811
    choose(page, image_checkpoint.name)
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
    interp = page.tabs[3].get("image")[0].value[0]
    page.number_input(key="lx_interp_b").set_value(7).run()
    assert page.tabs[3].get("image")[0].value[0] != interp


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
