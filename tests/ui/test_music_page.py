"""The Music page (and the music side of the Train page and the latent explorer), run headless with AppTest on
the real GTZAN test clips, with the shipped music checkpoint when it exists (else a tiny untrained one)."""
from __future__ import annotations

import os
import time

import pytest
from streamlit.testing.v1 import AppTest

from ui.app_fixtures import REPO, app_runs_dir, music_checkpoint, save_tiny_music_checkpoint  # noqa: F401
from vae_core.music.frechet import scoring_state

PAGE = str(REPO / "pages/music.py")
TIMEOUT = 180


@pytest.fixture(autouse=True)
def _env(app_runs_dir, music_checkpoint, monkeypatch):  # noqa: F811
    monkeypatch.setenv("VAE_RUNS_DIR", str(app_runs_dir))


def run(query: dict[str, str] | None = None) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT)
    for k, v in (query or {}).items():
        at.query_params[k] = v
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_page_explains_the_elbo_and_plays_a_real_clip_and_its_reconstruction():
    at = run()
    assert any(r"\operatorname{Tr}" in m.value for m in at.latex)  # the Fréchet distance it reports
    assert any("KL term" in m.value and "posterior collapse" in m.value for m in at.markdown)
    labels = [m.value for m in at.markdown]
    assert any(v.startswith("**Real: classical.") for v in labels)
    assert any(v.startswith("**Through the VAE") for v in labels)


def test_generate_draws_the_asked_number_of_clips_and_keeps_them_across_reruns():
    at = run({"music_n": "2", "music_seconds": "2.0", "music_seed": "5"})
    assert not any(m.value.startswith("**Sample") for m in at.markdown)
    at.button(key="music_generate").click().run()
    assert not at.exception, [e.value for e in at.exception]
    samples = [m.value for m in at.markdown if m.value.startswith("**Sample")]
    assert len(samples) == 2 and all(" · 2.0 s at " in s for s in samples)
    first = at.session_state["music_generated"][1].copy()
    at.run()  # another rerun (any widget) keeps the same clips instead of drawing new ones
    assert (at.session_state["music_generated"][1] == first).all()


def test_interpolation_row_and_course_table():
    at = run({"music_points": "3"})
    assert sum(1 for m in at.markdown if "·classical." in m.value or m.value.startswith("**classical.")) >= 3
    table = at.dataframe[0].value
    assert list(table["model"])[:6] == ["course-base", "course-dropout-z2", "course-dropout-z20", "course-beta10",
                                        "course-beta100", "spec (our default)"]
    assert list(table["report FD test"])[:5] == [101.0, 68.6, 14.6, 111.5, 96.0]
    # The shipped results carry the baselines of both rates, for both extractors.
    baselines = table.set_index("model").iloc[6:]
    for label in ("floor: real train clips vs test clips (3 kHz)", "floor: real train clips vs test clips (22.05 kHz)",
                  "ceiling: train clips through the spectrogram chain, no latent (22.05 kHz)"):
        assert baselines.loc[label, "FD test (course encoder)"] > 0
        assert baselines.loc[label, "FAD test (CDPAM)"] > 0
    spec = table.set_index("model").loc["spec (our default)"]
    assert spec["FAD test (CDPAM)"] > 0 and spec["FAD test, fitted prior (CDPAM)"] > 0


@pytest.mark.slow
def test_a_students_run_is_scored_in_a_process_of_its_own_and_joins_the_table(tmp_path, monkeypatch):
    runs = tmp_path / "runs"
    monkeypatch.setenv("VAE_RUNS_DIR", str(runs))
    folder = runs / "my-music"
    save_tiny_music_checkpoint(folder)
    at = run({"checkpoint": "my-music"})
    assert not any(str(r).startswith("your run") for r in at.dataframe[0].value["model"])
    at.selectbox(key="music_score_extractors").set_value("course encoder (a few minutes)")
    at.button(key="music_score").click().run()
    assert not at.exception, [e.value for e in at.exception]
    state = scoring_state(folder)
    assert state.status == "running" and state.argv[:3] == ["fd-table", "--checkpoints", str(folder)]
    assert at.button(key="music_score").disabled  # one scoring of a run at a time
    assert any("in the background" in m.value for m in at.info)
    while state.status == "running":  # the server's process does no scoring: a process of its own does
        assert state.pid != os.getpid()
        time.sleep(2)
        state = scoring_state(folder)
    assert state.status == "done", state.log
    at.run()
    table = at.dataframe[0].value.set_index("model")
    mine = table.loc["your run: my-music"]
    assert mine["FD test (course encoder)"] > 0 and mine["FD train (course encoder)"] > 0
    assert any(m.value.startswith("Scored in") for m in at.success)
    assert not at.button(key="music_score").disabled


def test_the_scoring_button_needs_a_run_of_ones_own():
    at = run()  # a shipped model is picked
    assert not [b for b in at.button if b.key == "music_score"]
    assert any("Train a music model" in m.value for m in at.info)


def test_tampered_url_values_are_refused_with_a_sentence():
    at = run({"music_temperature": "99", "music_n": "1000", "music_clip": "nope"})
    warnings = " ".join(w.value for w in at.warning)
    assert "temperature" in warnings.lower() or "Temperature" in warnings
    assert at.slider(key="music_temperature").value == 1.0


def test_without_the_music_data_the_page_says_where_it_looked_and_still_generates(tmp_path, monkeypatch):
    monkeypatch.setenv("VAE_DATA_DIR", str(tmp_path))  # an empty data folder
    at = run({"music_n": "1", "music_seconds": "1.0"})
    warnings = " ".join(w.value for w in at.warning)
    assert str(tmp_path / "gtzan-classical-derived" / "manifest.csv") in warnings
    assert "Generation still works" in warnings
    at.button(key="music_generate").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any(m.value.startswith("**Sample 1**") for m in at.markdown)
