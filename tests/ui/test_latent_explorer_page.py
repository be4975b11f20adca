"""The Latent explorer page, run headless with AppTest against the shipped image checkpoint."""
from __future__ import annotations

import base64
import io
import json

import numpy as np
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
    """The Vega-Lite chart whose element id names ``key_part`` (a chart with a selection, e.g. ``lx_map``) and its
    spec."""
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


def pad_data(at: AppTest) -> dict:
    """What the latent pad (``lab_ui.latent_pad``) was given to draw."""
    (pad,) = [e for e in at.get("bidi_component") if e.proto.component_name == "vae_lab.latent_pad"]
    return json.loads(pad.proto.json)


def data_url_pixels(url: str) -> np.ndarray:
    assert url.startswith("data:image/png;base64,")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))))


def test_latent_plane_pad_holds_the_decoded_plane_and_starts_at_the_sliders(page):
    """The first tab: a pad over the digit decoder's manifold figure (15 x 15 tiles), with an atlas of 41 x 41
    pictures decoded in advance for the marker to show as it moves, starting at the digit sliders' point; beside
    it the 1,000 test encodings on the same plane with each class named at its middle."""
    data = pad_data(page)
    assert data["n"] == 41 and data["span"] == 3.0 and data["names"] == ["z0", "z1"]
    assert data["point"] == pytest.approx([s.value for s in latent_sliders(page, 0)])
    atlas = data_url_pixels(data["atlas"]).astype(float)
    assert atlas.shape == (41 * 28, 41 * 28)
    assert data_url_pixels(data["background"]).shape == (15 * 28, 15 * 28)
    tiles = atlas.reshape(41, 28, 41, 28).transpose(0, 2, 1, 3)
    # The decoder's drawing depends on both coordinates: it changes along each axis of the plane.
    assert np.abs(tiles[20, 0] - tiles[20, 40]).mean() > 10 and np.abs(tiles[0, 20] - tiles[40, 20]).mean() > 10
    (chart,) = [c for c in page.get("vega_lite_chart") if "test encodings" in c.proto.spec]
    assert len(dataset(chart, "z0")) == 1000
    # The class names sit where each class's encodings centre.
    centres = [t for t in (pa.ipc.open_stream(d.data.data).read_all().to_pandas() for d in chart.proto.datasets)
               if len(t) == 10]
    assert len(centres) == 1 and sorted(centres[0]["class"]) == [str(d) for d in range(10)]
    # The clothing decoder's plane is another atlas, starting at the clothing sliders.
    page.radio(key="lx_plane_source").set_value(1).run()
    clothing = pad_data(page)
    assert clothing["atlas"] != data["atlas"] and clothing["background"] != data["background"]
    assert clothing["point"] == pytest.approx([s.value for s in latent_sliders(page, 1)])


def test_the_atlas_tiles_pictures_in_rows_and_columns_with_grey_levels_kept():
    """``atlas_url``: picture (i, j) is the tile at row i, column j, to within half a grey step."""
    from lab_ui.latent_pad import ATLAS_LEVELS, atlas_url

    pictures = np.random.default_rng(0).random((3, 4, 28, 28))
    pixels = data_url_pixels(atlas_url(pictures)).astype(float) / 255
    assert pixels.shape == (3 * 28, 4 * 28)
    step = 256 // ATLAS_LEVELS / 255
    for i in range(3):
        for j in range(4):
            tile = pixels[i * 28:(i + 1) * 28, j * 28:(j + 1) * 28]
            assert np.abs(tile - pictures[i, j]).max() <= step / 2 + 1e-6
    exact = data_url_pixels(atlas_url(pictures, levels=256)).astype(float) / 255
    assert np.abs(exact[:28, :28] - pictures[0, 0]).max() <= 0.5 / 255 + 1e-6


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
    assert not [t for t in page.toggle if t.key == "lx_all"]  # two sliders each: nothing to show or hide


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
