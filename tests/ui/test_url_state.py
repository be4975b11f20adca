"""Page state in the URL (set, reload, same view; tampered values refused) and who the student is, across
reloads. A "reload" is a new AppTest session opened with the address the previous one left."""
from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from ui import app_fixtures
from ui.app_fixtures import app_env, app_runs_dir, audio_checkpoint, image_checkpoint  # noqa: F401

TIMEOUT = 90


@pytest.fixture(autouse=True)
def _app_env(app_env):  # noqa: F811
    """Every test here sees the app tests' runs folder (with checkpoints) as VAE_RUNS_DIR."""


def open_page(page: str, query: dict[str, str]) -> AppTest:
    return app_fixtures.open_page(page, query, TIMEOUT)


def address(at: AppTest) -> dict[str, str]:
    """The query of the page's address now (what "Copy link" gives and a reload opens)."""
    return {k: (v[-1] if isinstance(v, list) else v) for k, v in at.query_params.items()}


def link_warnings(at: AppTest) -> list[str]:
    """What the page says about values of its address it refused."""
    return [w.value for w in at.warning if w.value.startswith("The link's")]


def reload(page: str, at: AppTest) -> AppTest:
    again = open_page(page, address(at))
    assert not link_warnings(again), link_warnings(again)  # the page's own address is always valid
    return again


# --------------------------------------------------------------------------- every page: set, reload, same view

def test_image_page_round_trip(image_checkpoint):  # noqa: F811
    page = "pages/image-separation.py"
    at = open_page(page, {"who": "ada", "prior_open": "true"})
    at.radio(key="digit_mode").set_value("index").run()
    at.number_input(key="digit_index").set_value(42).run()
    at.slider(key="weight").set_value(0.3).run()
    at.radio(key="consistency").set_value("none").run()
    at.slider(key="refine").set_value(3).run()
    at.button(key="prior_new").click().run()
    images = [img.value for img in at.get("image")]
    assert address(at)["weight"] == "0.3" and address(at)["digit_index"] == "42"
    again = reload(page, at)
    assert again.radio(key="digit_mode").value == "index" and again.number_input(key="digit_index").value == 42
    assert again.slider(key="weight").value == 0.3 and again.radio(key="consistency").value == "none"
    assert again.slider(key="refine").value == 3
    assert again.session_state["prior_seed"] == 1
    assert again.sidebar.selectbox(key="checkpoint_select").value == at.sidebar.selectbox(
        key="checkpoint_select").value
    assert [m.value for m in again.metric] == [m.value for m in at.metric]
    assert [img.value for img in again.get("image")] == images  # the very same pictures
    # The other view, with its own control.
    at.radio(key="view").set_value("Batch").run()
    at.slider(key="batch_n").set_value(5).run()
    batch = reload(page, at)
    assert batch.radio(key="view").value == "Batch" and batch.slider(key="batch_n").value == 5
    assert [img.value for img in batch.get("image")] == [img.value for img in at.get("image")]


def test_image_page_refuses_tampered_values(image_checkpoint):  # noqa: F811
    at = open_page("pages/image-separation.py", {"weight": "7", "digit_mode": "guess", "noise": "nan",
                                                 "checkpoint": "../../etc/passwd"})
    warnings = link_warnings(at)
    assert len(warnings) == 4, warnings
    assert any("'7'" in w and "number from 0.05 to 0.95" in w for w in warnings)
    assert any("'guess'" in w and "one of class, index, random" in w for w in warnings)
    assert any("'../../etc/passwd'" in w and "the checkpoint" in w for w in warnings)
    assert at.slider(key="weight").value == 0.5 and at.radio(key="digit_mode").value == "class"
    assert at.slider(key="noise").value == 0.0
    assert address(at)["weight"] == "0.5"  # the address now names what is shown


def test_latent_explorer_round_trip_keeps_the_latent_point(image_checkpoint):  # noqa: F811
    page = "pages/latent-explorer.py"
    at = open_page(page, {"who": "ada", "checkpoint": image_checkpoint.name})
    at.button(key="lx_prior").click().run()
    at.slider(key="lx_trav_span").set_value(2.0).run()
    at.number_input(key="lx_interp_b").set_value(7).run()
    z = address(at)["z"]
    assert len(z.split(",")) == 2 * image_checkpoint.meta["model_config"]["latent_dim"]
    again = reload(page, at)
    assert address(again)["z"] == z
    assert again.slider(key="lx_trav_span").value == 2.0 and again.number_input(key="lx_interp_b").value == 7
    assert [img.value for img in again.get("image")] == [img.value for img in at.get("image")]
    bad = open_page(page, {"z": "1,2,3"})
    assert len(link_warnings(bad)) == 1 and "comma-separated numbers" in link_warnings(bad)[0]


def test_audio_page_round_trip(audio_checkpoint):  # noqa: F811
    page = "pages/audio-separation.py"
    at = open_page(page, {"who": "ada"})
    clips = at.selectbox(key="audio_clip").options
    at.selectbox(key="audio_clip").set_value(clips[3]).run()
    at.slider(key="audio_snr").set_value(-4.0).run()
    again = reload(page, at)
    assert again.selectbox(key="audio_clip").value == clips[3] and again.slider(key="audio_snr").value == -4.0
    bad = open_page(page, {"audio_clip": "nobody_1_01", "audio_snr": "x"})
    assert len(link_warnings(bad)) == 2 and bad.selectbox(key="audio_clip").value == clips[0]


def test_beta_lab_round_trip():
    page = "pages/beta-lab.py"
    at = open_page(page, {"who": "ada"})
    at.toggle(key="bl_log").set_value(False).run()
    at.slider(key="bl_n").set_value(4).run()
    latents = at.multiselect(key="bl_latents").options
    at.multiselect(key="bl_latents").set_value([int(latents[0]), int(latents[-1])]).run()
    betas = at.multiselect(key="bl_betas").options
    at.multiselect(key="bl_betas").set_value([betas[0], betas[-1]]).run()
    again = reload(page, at)
    assert again.toggle(key="bl_log").value is False and again.slider(key="bl_n").value == 4
    assert again.multiselect(key="bl_latents").value == at.multiselect(key="bl_latents").value
    assert again.multiselect(key="bl_betas").value == [float(betas[0]), float(betas[-1])]
    bad = open_page(page, {"bl_latents": "2,999", "bl_betas": "0,0.5x"})
    assert len(link_warnings(bad)) == 2 and "latent sizes" in " ".join(link_warnings(bad))
    assert "β values" in " ".join(link_warnings(bad))


def test_train_page_keeps_the_form_and_refuses_bad_values(tmp_path, monkeypatch):
    monkeypatch.setenv("VAE_RUNS_DIR", str(tmp_path / "runs"))
    page = "pages/train.py"
    at = open_page(page, {"who": "ada"})
    at.radio(key="train_preset").set_value("full").run()
    at.text_input(key="train_name_full").set_value("my big run").run()
    at.select_slider(key="train_beta_full").set_value(4.0).run()
    again = reload(page, at)
    assert again.radio(key="train_preset").value == "full"
    assert again.text_input(key="train_name_full").value == "my big run"
    assert again.select_slider(key="train_beta_full").value == 4.0
    bad = open_page(page, {"train_preset": "full", "train_epochs_full": "100000", "train_beta_full": "3"})
    assert len(link_warnings(bad)) == 2 and bad.number_input(key="train_epochs_full").value == 10


def test_through_the_app_a_page_refuses_tampered_values_and_its_address_holds_every_choice(
        image_checkpoint):  # noqa: F811
    """app.py holds a run's address changes and sends them as one (lab_ui.state.one_address_change): a refused
    value still leaves the address, and the one address sent names every control the page drew."""
    at = AppTest.from_file(str(app_fixtures.REPO / "app.py"), default_timeout=TIMEOUT)
    for key, value in {"who": "ada", "weight": "7", "digit_mode": "index", "digit_index": "42"}.items():
        at.query_params[key] = value
    at.run()
    at.switch_page("pages/image-separation.py").run()
    assert not at.exception, [e.value for e in at.exception]
    warnings = link_warnings(at)
    assert len(warnings) == 1 and "'7'" in warnings[0]
    assert at.slider(key="weight").value == 0.5 and at.number_input(key="digit_index").value == 42
    held = address(at)
    assert held["weight"] == "0.5" and held["digit_index"] == "42" and held["who"] == "ada"
    assert {"checkpoint", "view", "clothing_mode", "noise", "refine", "consistency"} <= set(held)
    assert "digit_class" not in held  # the index picker is shown, not the class picker
    at.slider(key="weight").set_value(0.3).run()  # a fragment's own rerun writes at once
    assert address(at)["weight"] == "0.3"
    # A rerun whose address lags behind (a quick second change sent before the first one's address reached the
    # browser) keeps what the student set; only Back or Forward lets the address win (checked in Chromium).
    at.query_params["weight"] = "0.5"
    at.slider(key="noise").set_value(0.2).run()
    assert at.slider(key="weight").value == 0.3 and address(at)["weight"] == "0.3" and address(at)["noise"] == "0.2"


@pytest.mark.parametrize("page, bound", [("pages/latent-explorer.py", {"lx_tab": "Latent map"}),
                                         ("pages/beta-lab.py", {"bl_tab": "Loss curves"}),
                                         ("pages/image-separation.py", {"prior_open": "true"})])
def test_through_the_app_pages_with_widgets_bound_to_the_address_run(page, bound, image_checkpoint):  # noqa: F811
    """Streamlit refuses writes to a key a widget binds itself (bind="query-params"): the app's one address change
    per run leaves those keys alone and still writes the rest."""
    at = AppTest.from_file(str(app_fixtures.REPO / "app.py"), default_timeout=TIMEOUT)
    for key, value in {"who": "ada", **bound}.items():
        at.query_params[key] = value
    at.run()
    at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    held = address(at)
    assert held["who"] == "ada" and len(held) > len(bound) + 2  # the page wrote its own choices too
    assert all(held.get(key) == value for key, value in bound.items()), held


# --------------------------------------------------------------------------- who the student is

def test_a_student_gets_a_name_that_survives_a_reload():
    at = open_page("app.py", {})
    who = address(at)["who"]
    assert who.startswith("guest-")
    assert address(reload("app.py", at))["who"] == who
    assert address(open_page("app.py", {"who": "ada"}))["who"] == "ada"
    bad = open_page("app.py", {"who": "<script>"})
    assert len(link_warnings(bad)) == 1 and "name" in link_warnings(bad)[0]
    assert address(bad)["who"].startswith("guest-")


def test_copy_link_holds_the_page_state_of_this_run(image_checkpoint):  # noqa: F811
    at = open_page("app.py", {"who": "ada"})
    at.switch_page("pages/image-separation.py").run()
    at.slider(key="weight").set_value(0.3).run()
    assert not at.exception, [e.value for e in at.exception]
    (link,) = [c.value for c in at.sidebar.code]
    assert "who=ada" in link and "weight=0.3" in link and "checkpoint=" in link


def test_pickers_list_the_students_runs_then_the_shipped_models_and_the_shipped_collections_last():
    """The image picker's 31 shipped sweep and loss-scale models no longer bury the models a student looks for."""
    from pathlib import Path

    from lab_ui.common import picker_order
    from vae_core.core.store import CheckpointInfo, list_checkpoints

    def run(name: str, owner: str, created: str) -> CheckpointInfo:
        return CheckpointInfo(name, Path(name), "user", "image", "mlp", {"owner": owner, "created": created})

    shipped = list_checkpoints("image")
    mine_old, mine_new, bobs = run("a", "ada", "2026-01-01"), run("b", "ada", "2026-02-01"), run("c", "bob", "x")
    order = [c.name for c in picker_order([*shipped, bobs, mine_old, mine_new], "ada")]
    top = [c.name for c in shipped if "/" not in c.name]
    assert order[:2 + len(top) + 1] == ["b", "a", *top, "c"]
    assert {"sweep/beta0-z2", "loss-scale/image-elbo"} <= set(order[2 + len(top) + 1:])


def test_projector_mode_enlarges_text_and_pictures_and_keeps_to_the_address(image_checkpoint):  # noqa: F811
    """The switch lives in the app's sidebar (app.py), so it holds on every page: larger fonts (a style sheet; the
    pictures are drawn 8 times their 28 pixels instead of 5, checked in the browser); a bad value in the link is
    refused in one sentence."""
    from streamlit.testing.v1 import AppTest

    def open_app(query, switch=True):
        at = AppTest.from_file(str(app_fixtures.REPO / "app.py"), default_timeout=TIMEOUT)
        for key, value in query.items():
            at.query_params[key] = value
        at.run()
        if switch:
            at.switch_page("pages/image-separation.py").run()
        assert not at.exception, [e.value for e in at.exception]
        return at

    plain = open_app({"who": "ada"})
    big = open_app({"who": "ada", "projector": "1"})
    assert big.sidebar.toggle(key="projector").value is True and address(big)["projector"] == "1"
    assert not any("<style>" in h.proto.body for h in plain.get("html"))
    assert any("font-size" in h.proto.body for h in big.get("html"))
    assert big.get("image") and not big.exception
    bad = open_app({"who": "ada", "projector": "yes"}, switch=False)
    assert any("for projector is not valid" in w.value for w in bad.warning)
