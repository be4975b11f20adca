"""The Audio separation page (and the audio side of the latent explorer), run headless with AppTest.

Uses the shipped ``audio-conv`` checkpoint when it exists (else a tiny untrained one) and the real MIR-1K
test clips; uploads are real encoded files made here, good and bad.
"""
from __future__ import annotations

import io
import json

import numpy as np
import pytest
import soundfile as sf
from streamlit.testing.v1 import AppTest

from ui.app_fixtures import REPO, app_runs_dir, audio_checkpoint  # noqa: F401

PAGE = str(REPO / "pages/audio-separation.py")
EXPLORER = str(REPO / "pages/latent-explorer.py")
TIMEOUT = 180


RESULT_KEY = "audio_result"  # where the page keeps its separation of the chosen clip (session state)


@pytest.fixture(scope="module", autouse=True)
def _env(app_runs_dir, audio_checkpoint):  # noqa: F811
    """The runs folder with the checkpoint, for the module (the module-scoped first run below needs it too)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VAE_RUNS_DIR", str(app_runs_dir))
        yield


@pytest.fixture(scope="module")
def default_clip_result(_env):
    """The page's own separation of its default clip, from one real first run (seconds of model work: five playback
    speeds), or None if the page keeps it elsewhere. Its arrays are made read-only: it is shared, never changed."""
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT).run()
    assert not at.exception, [e.value for e in at.exception]
    if RESULT_KEY not in at.session_state:
        return None
    key, result = at.session_state[RESULT_KEY]
    for array in (result.mixture, result.estimates, result.truth):
        array.flags.writeable = False
    return key, result


@pytest.fixture
def page(default_clip_result) -> AppTest:
    """A fresh AppTest for each test. Its session starts holding the first run's separation of the default clip,
    so it renders that instead of separating it again; anything else it shows (another clip, SNR or setting, an
    upload) it computes itself. Without the seed it would only be slower."""
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT)
    if default_clip_result is not None:
        at.session_state[RESULT_KEY] = default_clip_result
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def encoded(audio: np.ndarray, rate: int, fmt: str = "WAV", subtype: str | None = None) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, audio, rate, format=fmt, subtype=subtype)
    return buf.getvalue()


def tone(seconds: float, rate: int, channels: int = 1) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    x = (0.2 * np.sin(2 * np.pi * 220 * t) + 0.1 * np.sin(2 * np.pi * 1250 * t)).astype(np.float32)
    return np.stack([x] * channels, axis=1) if channels > 1 else x


def players(at: AppTest) -> list:
    return at.get("audio")


def scores_table(at: AppTest):
    return at.dataframe[0].value


def test_clip_tab_plays_five_tracks_and_scores_model_oracle_mixture(page):
    assert len(players(page)) == 5  # mixture, two estimates, two true sources
    table = scores_table(page)
    assert set(table["method"]) == {"model", "oracle IRM", "mixture"}
    nsdr = table.set_index(["method", "source"])["NSDR"]
    assert nsdr[("mixture", "voice")] == pytest.approx(0.0, abs=1e-6)
    assert nsdr[("oracle IRM", "voice")] > 5.0  # the oracle knows the sources
    assert len(page.get("plotly_chart")) == 5  # spectrograms on one colour scale
    scales = {(json.loads(c.proto.spec)["data"][0]["zmin"], json.loads(c.proto.spec)["data"][0]["zmax"])
              for c in page.get("plotly_chart")}
    assert len(scales) == 1


def test_snr_slider_changes_the_mixture(page):
    before = scores_table(page).set_index(["method", "source"])["SDR"][("mixture", "voice")]
    page.slider(key="audio_snr").set_value(6.0).run()
    assert not page.exception
    after = scores_table(page).set_index(["method", "source"])["SDR"][("mixture", "voice")]
    assert after > before + 4  # a louder voice: the mixture is already closer to it


def test_speed_averaging_toggle_follows_the_checkpoint(page, audio_checkpoint):  # noqa: F811
    speeds = audio_checkpoint.meta["inference"]["speeds"]
    assert len(speeds) > 1  # the shipped model was tuned to average several playback speeds
    toggle = page.sidebar.toggle(key="audio_tta")
    assert toggle.value is True and f"Average over {len(speeds)} playback speeds" in toggle.label
    averaged = scores_table(page).set_index(["method", "source"])["SDR"][("model", "voice")]
    toggle.set_value(False).run()
    assert not page.exception
    one_pass = scores_table(page).set_index(["method", "source"])["SDR"][("model", "voice")]
    assert one_pass != averaged  # re-separated in one pass
    page.sidebar.toggle(key="audio_tta").set_value(True).run()
    assert scores_table(page).set_index(["method", "source"])["SDR"][("model", "voice")] == averaged


def oracle_sdr(clip_id: str, snr: float = 0.0) -> np.ndarray:
    """SDR of the oracle IRM's [voice, accompaniment] of one test clip, computed from the data (no model); it
    differs from clip to clip by dBs."""
    from vae_core.audio.demo import mixed_clip, test_clips
    from vae_core.audio.evaluation import oracle_irm
    from vae_core.core.metrics import bss_eval

    (clip,) = [c for c in test_clips() if c.clip_id == clip_id]
    _, voice, acc = mixed_clip(clip, snr)
    return bss_eval(np.stack([voice, acc]), oracle_irm(voice, acc))["sdr"]


def test_choosing_another_clip(page):
    ids = page.selectbox(key="audio_clip").options
    before = [p.proto.url for p in players(page)]  # media URLs: content-addressed, so new bytes, new URL
    page.selectbox(key="audio_clip").set_value(ids[5]).run()
    assert not page.exception and page.selectbox(key="audio_clip").value == ids[5]
    after = [p.proto.url for p in players(page)]
    assert after[0] != before[0] and after[3] != before[3]  # the mixture and the true voice are the new clip's


def test_random_clip_moves_to_another_clip_and_the_page_follows(page):
    first = page.selectbox(key="audio_clip").value
    before = [p.proto.url for p in players(page)]
    for _ in range(5):  # a draw may repeat the clip shown: 178 clips, five repeats in a row is 1 in 10^11
        page.button(key="audio_random").click().run()
        assert not page.exception, [e.value for e in page.exception]
        chosen = page.selectbox(key="audio_clip").value
        if chosen != first:
            break
    assert chosen != first, "five presses of 'Random clip' never left the first clip"
    after = [p.proto.url for p in players(page)]
    assert after[0] != before[0] and after[3] != before[3]  # the mixture and the true voice are new bytes
    # The scores are the chosen clip's: its oracle IRM scores, computed here from the data.
    sdr = scores_table(page).set_index(["method", "source"])["SDR"]
    expected = oracle_sdr(chosen)
    assert sdr[("oracle IRM", "voice")] == pytest.approx(expected[0], abs=0.006)
    assert sdr[("oracle IRM", "accompaniment")] == pytest.approx(expected[1], abs=0.006)


def test_upload_good_file_is_separated_at_its_own_rate(page):
    data = encoded(tone(3.0, 44100, channels=2), 44100, "FLAC")
    page.file_uploader(key="audio_upload").set_value(("song.flac", data, "audio/flac")).run()
    assert not page.exception, [e.value for e in page.exception]
    assert not page.error, [e.value for e in page.error]
    captions = " ".join(c.value for c in page.caption)
    assert "3.0 s at 44100 Hz" in captions and "mixed down from stereo" in captions
    assert len(players(page)) == 5 + 3  # the clip tab's five, the upload's mixture, voice, accompaniment
    labels = [b.label for b in page.get("download_button")]
    assert "Download voice (WAV)" in labels and "Download accompaniment (WAV)" in labels


BAD_UPLOADS = {
    "not audio": (b"this is plainly a text file\n" * 20, "is not audio that can be read"),
    "empty": (b"", "is empty"),
    "truncated": (None, "truncated"),
    "silent": (encoded(np.zeros(16000, np.float32), 16000), "is silent"),
    "six channels": (encoded(np.zeros((16000, 6), np.float32) + 0.1, 16000), "has 6 channels"),
    "NaN": (encoded(np.full(16000, np.nan, np.float32), 16000, subtype="FLOAT"), "NaN"),
    "an hour long": (encoded(np.full(4000 * 3600, 0.01, np.float32), 4000, subtype="PCM_U8"),
                     "the limit is 10 minutes"),
    "rate too low": (encoded(tone(1.0, 2000), 2000), "2000 Hz"),
}


@pytest.mark.parametrize("case", list(BAD_UPLOADS))
def test_bad_upload_gives_one_clear_message_and_the_app_keeps_running(page, case):
    data, expected = BAD_UPLOADS[case]
    if data is None:  # a FLAC file cut in half, as an interrupted copy leaves it
        whole = encoded(tone(2.0, 16000), 16000, "FLAC")
        data = whole[: len(whole) // 2]
    page.file_uploader(key="audio_upload").set_value(("upload.wav", data, "audio/wav")).run()
    assert not page.exception, [e.value for e in page.exception]
    errors = [e.value for e in page.error]
    assert len(errors) == 1 and expected in errors[0], errors
    assert errors[0].count(". ") <= 1  # one sentence (a decimal point or a file name may add a dot)
    assert len(players(page)) == 5  # the clip tab still works


def test_96_khz_upload_is_resampled_and_separated(page):
    data = encoded(tone(2.0, 96000), 96000)
    page.file_uploader(key="audio_upload").set_value(("hi-res.wav", data, "audio/wav")).run()
    assert not page.exception and not page.error
    assert "2.0 s at 96000 Hz" in " ".join(c.value for c in page.caption)


def test_latent_explorer_audio_sliders_change_the_decoded_voice_only():
    at = AppTest.from_file(EXPLORER, default_timeout=TIMEOUT).run()
    at.sidebar.radio(key="lx_task").set_value("audio").run()
    assert not at.exception, [e.value for e in at.exception]
    voice = [s for s in at.slider if s.key.startswith("az:") and s.key.split(":")[2] == "0"]
    acc = [s for s in at.slider if s.key.startswith("az:") and s.key.split(":")[2] == "1"]
    assert voice and acc
    charts = {c.key: c.proto.spec for c in at.get("plotly_chart") if c.key in ("ax_spec_0", "ax_spec_1")}
    assert len(charts) == 2 and len(at.get("audio")) == 2  # both decoded patches are playable
    voice[0].set_value(2.9 if voice[0].value < 0 else -2.9).run()
    after = {c.key: c.proto.spec for c in at.get("plotly_chart") if c.key in ("ax_spec_0", "ax_spec_1")}
    assert after["ax_spec_0"] != charts["ax_spec_0"]
    assert after["ax_spec_1"] == charts["ax_spec_1"]  # the accompaniment decoder sees only its own latent
    at.button(key="ax_prior").click().run()
    assert not at.exception
