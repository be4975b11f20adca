"""The Music page (and the music side of the Train page and the latent explorer), run headless with AppTest on
the real GTZAN test clips, with the shipped music checkpoint when it exists (else a tiny untrained one)."""
from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from ui.app_fixtures import REPO, app_runs_dir, music_checkpoint  # noqa: F401

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
    assert any("KL" in m.value for m in at.latex)
    assert any("posterior collapse" in m.value for m in at.markdown)
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
    assert list(table["model"]) == ["course-base", "course-dropout-z2", "course-dropout-z20", "course-beta10",
                                    "course-beta100", "spec (our default)"]
    assert list(table["report FD test"])[:5] == [101.0, 68.6, 14.6, 111.5, 96.0]


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
