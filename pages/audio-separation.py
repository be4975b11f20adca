"""Audio separation: pull the singing voice out of a MIR-1K clip or your own recording, and listen."""
from __future__ import annotations

import hashlib

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from lab_ui.state import boolean, bound, float_in, one_of, remember, restore
from lab_ui.common import checkpoint_picker_ui, load_separator_ui, side_by_side
from vae_core import LabError
from vae_core.core.mir1k import ORIGINAL_URL, Clip
from vae_core.audio.demo import (ClipResult, separate_clip, separate_recording, shared_db_range,
                                 spectrogram_db, test_clips)
from vae_core.core.audio_io import MAX_SECONDS, AudioInputError, read_audio, wav_bytes
from vae_core.audio.inference import ONE_PASS_OVERLAP, ONE_PASS_SPEEDS
from lab_ui.concepts import concept_ui
from lab_ui.shell import leave_folder_mode

leave_folder_mode()  # before anything is drawn: a cold server's deep link (see lab_ui.shell)

UPLOAD_TYPES = ["wav", "flac", "ogg", "oga", "mp3", "aiff", "aif"]


@st.cache_data(show_spinner=False)
def _test_clips() -> list[Clip]:
    return test_clips()


def clip_picker_ui(clips: list[Clip]) -> tuple[Clip, float]:
    """Choose a test clip (or a random one) and the voice-to-music ratio; returns both."""
    ids = [c.clip_id for c in clips]
    restore("audio_clip", one_of(ids), "the clip")
    if "audio_clip" not in st.session_state:
        st.session_state["audio_clip"] = ids[0]
    c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
    if c2.button("Random clip", icon=":material/shuffle:", key="audio_random"):
        st.session_state["audio_clip"] = ids[int(np.random.default_rng().integers(len(ids)))]
    clip_id = c1.selectbox(f"MIR-1K test clip ({len(ids)}; none was used in training)", ids, key="audio_clip")
    remember("audio_clip", clip_id)
    snr = bound("audio_snr", float_in(-10.0, 10.0), lambda: st.slider(
        "Voice-to-music ratio (dB)", -10.0, 10.0, 0.0, 1.0, key="audio_snr",
        help="0 dB is the standard MIR-1K protocol: voice and accompaniment equally loud."), "the voice-to-music ratio")
    return clips[ids.index(clip_id)], snr


def players_ui(r: ClipResult, name: str, prefix: str) -> None:
    """Players that keep relative loudness (WAV bytes: st.audio would normalise numpy arrays)."""
    tracks = r.tracks()
    wavs = [wav_bytes(wave, r.sample_rate) for _, wave in tracks]  # encoded once: players and downloads share them
    for col, (label, _), wav in zip(side_by_side(len(tracks)), tracks, wavs):
        col.markdown(f"**{label}**")
        col.audio(wav, format="audio/wav")
    row = st.container(horizontal=True)
    row.download_button("Download voice (WAV)", wavs[1], f"{name}-voice.wav",
                        "audio/wav", icon=":material/download:", key=f"{prefix}_dl_voice")
    row.download_button("Download accompaniment (WAV)", wavs[2],
                        f"{name}-accompaniment.wav", "audio/wav", icon=":material/download:", key=f"{prefix}_dl_acc")


def spectrograms_ui(r: ClipResult, prefix: str) -> None:
    """Plotly heatmaps on one colour scale, so a quiet track looks quiet."""
    specs = [(label, *spectrogram_db(w, r.sample_rate)) for label, w in r.tracks()]
    zmin, zmax = shared_db_range([s[1] for s in specs])
    cols = st.columns(2)
    for k, (label, db, times, freqs) in enumerate(specs):
        fig = go.Figure(go.Heatmap(z=db, x=times, y=freqs, zmin=zmin, zmax=zmax, colorscale="Magma",
                                   colorbar=dict(title="dB"), hovertemplate="%{x:.2f} s, %{y:.0f} Hz: %{z:.0f} dB"
                                   "<extra></extra>"))
        fig.update_layout(title=label, height=260, margin=dict(l=10, r=10, t=40, b=10),
                          xaxis_title="time (s)", yaxis_title="Hz")
        cols[k % 2].plotly_chart(fig, width="stretch", key=f"{prefix}_spec_{k}")


def scores_ui(r: ClipResult) -> None:
    if not r.scores:
        return
    rows = []
    for method, metrics in r.scores.items():
        for s, source in enumerate(("voice", "accompaniment")):
            rows.append({"method": method, "source": source,
                         **{m: round(v[s], 2) for m, v in metrics.items()}})
    st.markdown("**This clip's scores (dB)**: BSS Eval v3; NSDR is the gain over doing nothing (the mixture); "
                "the oracle ideal ratio mask knows the true sources and marks what masking can reach.")
    st.dataframe(rows, hide_index=True, width="stretch")


def speeds_ui(separator) -> tuple[tuple[float, ...], int]:
    """The test-time speeds and patch overlap to separate with: the checkpoint's tuned ones, or one quick pass."""
    speeds = tuple(separator.speeds)
    if len(speeds) == 1:
        return speeds, separator.overlap
    listed = ", ".join(f"{s:g}×" for s in speeds)
    with st.sidebar:
        on = bound("audio_tta", boolean, lambda: st.toggle(
            f"Average over {len(speeds)} playback speeds", value=True, key="audio_tta",
            help=f"The mixture is also separated played slower and faster ({listed}: the singer a little lower and "
                 "higher, as in training) and the voices are averaged: a cleaner voice for a longer wait. Off: one "
                 "quick pass."))
    return (speeds, separator.overlap) if on else (ONE_PASS_SPEEDS, ONE_PASS_OVERLAP)


def dataset_ui(separator, setting: tuple[tuple[float, ...], int]) -> None:
    try:
        clips = _test_clips()
    except LabError as exc:
        st.error(f"{exc} You can still upload your own recording in the other tab.")
        return
    clip, snr = clip_picker_ui(clips)
    key = ("clip", separator.name, clip.clip_id, snr, setting)
    result = st.session_state.get("audio_result")
    if not result or result[0] != key:
        with st.spinner(f"Separating {clip.clip_id}…"):
            try:
                st.session_state["audio_result"] = (key, separate_clip(separator, clip, snr, speeds=setting[0],
                                                                        overlap=setting[1]))
            except LabError as exc:
                st.error(str(exc))
                return
    r = st.session_state["audio_result"][1]
    players_ui(r, clip.clip_id, "clip")
    scores_ui(r)
    spectrograms_ui(r, "clip")


def upload_ui(separator, setting: tuple[tuple[float, ...], int]) -> None:
    st.caption(f"WAV, FLAC, OGG or MP3 (what libsndfile reads), up to {MAX_SECONDS / 60:.0f} minutes and "
               f"{st.get_option('server.maxUploadSize')} MB. Stereo is mixed down; any sample rate is resampled "
               "for the model and the results come back at the file's own rate.")
    uploaded = st.file_uploader("Your recording", type=UPLOAD_TYPES, key="audio_upload")
    if uploaded is None:
        return
    data = uploaded.getvalue()
    key = ("upload", separator.name, hashlib.sha256(data).hexdigest(), setting)
    result = st.session_state.get("audio_upload_result")
    if not result or result[0] != key:
        try:
            rec = read_audio(data, name=f"“{uploaded.name}”")
        except AudioInputError as exc:
            st.error(str(exc))
            return
        bar = st.progress(0.0, text=f"Separating {rec.seconds:.1f} s…")
        r = separate_recording(separator, rec.audio, rec.sample_rate, speeds=setting[0], overlap=setting[1],
                               progress=lambda f: bar.progress(f, text=f"Separating {rec.seconds:.1f} s… {f:.0%}"))
        bar.empty()
        notes = [f"{rec.seconds:.1f} s at {rec.sample_rate} Hz"] + rec.notes
        st.session_state["audio_upload_result"] = (key, r, notes)
    _, r, notes = st.session_state["audio_upload_result"]
    st.caption("; ".join(notes) + ".")
    stem = uploaded.name.rsplit(".", 1)[0] or "recording"
    players_ui(r, stem, "upload")
    spectrograms_ui(r, "upload")


def main() -> None:
    st.title("Audio separation")
    concept_ui("audio-separation")
    info = checkpoint_picker_ui("audio")
    separator = load_separator_ui(info)
    if separator is None:
        if info is None:
            st.info(f"No audio checkpoint yet. Train one with `python -m vae_core train audio` (MIR-1K: "
                    f"{ORIGINAL_URL}).")
        return
    setting = speeds_ui(separator)
    tab_clip, tab_upload = st.tabs(["MIR-1K test clip", "Upload a recording"])
    with tab_clip:
        dataset_ui(separator, setting)
    with tab_upload:
        upload_ui(separator, setting)


main()
