"""The Effects map page, run headless with AppTest on the real held-out audio, with the shipped effects checkpoint
when it exists (else a tiny untrained one)."""
from __future__ import annotations

import sys

import pytest
from streamlit.testing.v1 import AppTest

from ui.app_fixtures import app_runs_dir, effects_checkpoint, open_page  # noqa: F401

TIMEOUT = 180


@pytest.fixture(autouse=True)
def _env(app_runs_dir, effects_checkpoint, monkeypatch):  # noqa: F811
    monkeypatch.setenv("VAE_RUNS_DIR", str(app_runs_dir))


def run(query: dict[str, str] | None = None) -> AppTest:
    return open_page("pages/effects-map.py", query, TIMEOUT)


def charts(at: AppTest) -> list[str]:
    """The Vega-Lite specs (JSON text) of the page's Altair charts."""
    return [c.proto.spec for c in at.get("vega_lite_chart")]


def test_both_maps_show_the_chosen_effects_and_the_page_explains_the_elbo():
    at = run({"fx_effects": "clean,reverb,lowpass", "fx_kind": "voice", "fx_per": "6"})
    assert any("KL" in m.value for m in at.latex)
    specs = charts(at)
    assert len(specs) >= 2
    assert "Raw log-mel" in specs[0] and "VAE latent means" in specs[1]
    assert at.multiselect(key="fx_effects").value == ["clean", "reverb", "lowpass"]
    assert "clean,reverb,lowpass" in str(at.query_params["fx_effects"])  # kept in the link


def test_the_scores_and_the_loss_scale_tabs():
    at = run({"fx_per": "4"})
    text = " ".join(m.value for m in at.markdown)
    assert "reduction=\\\"mean\\\"" in text or 'reduction="mean"' in text
    assert any("effective" in m.value for m in at.latex)
    if at.dataframe:  # a scored checkpoint (the shipped one)
        table = at.dataframe[0].value
        assert list(table["embedding"]) == ["VAE latent means", "PCA of the raw log-mel",
                                            "PCA of processed minus dry log-mel", "the same encoder, untrained"]
        assert table["linear probe"][0] > table["linear probe"][1]  # the shipped map beats PCA of the log-mel
    else:
        assert any("has not been scored" in m.value for m in at.info)


def test_tampered_url_values_are_refused_with_a_sentence():
    at = run({"fx_effects": "clean,wahwah", "fx_per": "999", "fx_kind": "opera"})
    warnings = " ".join(w.value for w in at.warning)
    for words in ("for the effects is not valid", "for the number of files is not valid", "for the sources is not"):
        assert words in warnings
    assert at.multiselect(key="fx_effects").value == ["clean", "reverb", "distortion", "lowpass"]


def test_without_pedalboard_the_page_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "pedalboard", None)  # as if it were not installed: import fails
    at = run()
    assert any("pip install pedalboard" in w.value and "rest of the app works" in w.value for w in at.warning)
    assert not charts(at)


def test_the_latent_explorer_moves_an_effects_embedding_and_decodes_it():
    at = open_page("pages/latent-explorer.py", {"lx_task": "effects"}, TIMEOUT)

    def pictures() -> dict[str, str]:
        return {i.proto.imgs[0].caption: i.proto.imgs[0].url for i in at.get("image")}

    sliders = [s for s in at.slider if s.key and s.key.startswith("fxx:")]
    assert len(sliders) == 8
    before = pictures()
    decoded = "Decoded (low frequencies at the bottom)"
    assert decoded in before and "The dry segment the decoder applies the effect to" in before
    sliders[0].set_value(2.5).run()
    assert not at.exception, [e.value for e in at.exception]
    after = pictures()
    assert after[decoded] != before[decoded]  # the moved embedding decodes to another spectrogram
    assert after["The dry segment the decoder applies the effect to"] == before["The dry segment the decoder applies the effect to"]
