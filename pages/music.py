"""Music: listen to real classical clips and to what a VAE makes of them, sample new music from its prior,
walk between two clips in latent space, and compare the course report's models by Fréchet distance."""
from __future__ import annotations

import time

import numpy as np
import pandas as pd
import streamlit as st

from lab_ui.common import checkpoint_picker_ui, load_separator_ui, model_key, side_by_side
from lab_ui.music import player_ui
from lab_ui.concepts import concept_ui
from lab_ui.shell import leave_folder_mode
from lab_ui.state import bound, float_in, int_in, one_of, remember, restore
from vae_core import LabError
from vae_core.core.store import list_checkpoints
from vae_core.music.demo import clip_excerpt, test_clips
from vae_core.music.frechet import scoring_state, start_scoring
from vae_core.music.task import COURSE_PRESETS

leave_folder_mode()  # before anything is drawn: a cold server's deep link (see lab_ui.shell)

CLIP_COUNTS = [1, 2, 4, 8]
PRIOR_LABELS = {"standard": "N(0, I), the VAE's prior", "fitted": "the prior fitted to real codes"}
# The course report's Fréchet distances ("FID", its own latent-20 VAE encoder as the extractor): test / train.
REPORT_FD = {"course-base": (101.0, 23.0), "course-dropout-z2": (68.6, 8.6), "course-dropout-z20": (14.6, 49.3),
             "course-beta10": (111.5, 61.1), "course-beta100": (96.0, 20.1)}


@st.cache_data(max_entries=32, show_spinner="Rebuilding the clip through the VAE…")
def _reconstruction(_gen, model_key: str, clip_id: str, start: float, _wave: np.ndarray) -> np.ndarray:
    return _gen.reconstruct(_wave, _gen.rate)


@st.cache_data(max_entries=16, show_spinner="Decoding the latent path…")
def _path(_gen, model_key: str, a: str, b: str, points: int, _wa: np.ndarray, _wb: np.ndarray) -> np.ndarray:
    return _gen.interpolate(_wa, _wb, _gen.rate, points=points)


def generate_ui(gen) -> None:
    c1, c2, c3, c4 = st.columns(4)
    temperature = bound("music_temperature", float_in(0.0, 2.0), lambda: c1.slider(
        "Temperature", 0.0, 2.0, 1.0, 0.05, key="music_temperature",
        help="z ~ N(0, T² I): below 1 the samples stay nearer the prior's centre (safer, blander)."), "the temperature")
    seed = bound("music_seed", int_in(0, 10**6), lambda: c2.number_input("Seed", 0, 10**6, 0, key="music_seed"), "the seed")
    seconds = bound("music_seconds", float_in(1.0, 15.0), lambda: c3.slider(
        "Length (s)", 1.0, 15.0, 5.0, 0.5, key="music_seconds"), "the length")
    n = bound("music_n", one_of(CLIP_COUNTS), lambda: c4.select_slider(
        "Clips", CLIP_COUNTS, value=4, key="music_n"), "the number of clips")
    priors = ["fitted", "standard"] if gen.fitted_prior is not None else ["standard"]
    prior = bound("music_prior", one_of(priors), lambda: st.radio(
        "Sample from", priors, key="music_prior", horizontal=True, format_func=PRIOR_LABELS.get,
        help="The VAE is trained towards N(0, I), but its codes of real music never fill it exactly, and they move "
             "smoothly from step to step. The fitted prior (a first-order autoregression over latent steps, fitted "
             "to the training clips' codes after training) samples where real codes lie."), "the prior")
    request = (gen.name, float(temperature), int(seed), float(seconds), int(n), prior)
    if st.button("Generate", type="primary", icon=":material/music_note:", key="music_generate") or \
            st.session_state.get("music_generated", (None,))[0] == request:
        if st.session_state.get("music_generated", (None,))[0] != request:
            with st.spinner(f"Sampling {n} clips of {seconds:g} s…"):
                st.session_state["music_generated"] = (request, gen.generate(n, seconds, seed=seed,
                                                                             temperature=temperature, prior=prior))
        clips = st.session_state["music_generated"][1]
        cols = side_by_side(len(clips), most=4)
        for i, wave in enumerate(clips):
            with cols[i]:
                player_ui(wave, gen.rate, f"Sample {i + 1}", f"sample-{gen.name}-s{seed}-{i}")
    else:
        st.caption("Press Generate to draw new clips from the prior.")


def clips_ui(gen, clips) -> None:
    ids = [c.clip_id for c in clips]
    restore("music_clip", one_of(ids), "the clip")
    c1, c2 = st.columns([3, 1])
    clip_id = c1.selectbox(f"Test clip ({len(ids)}; none was used in training)", ids, key="music_clip")
    remember("music_clip", clip_id)
    start = bound("music_start", float_in(0.0, 10.0), lambda: c2.number_input(
        "Start (s)", 0.0, 10.0, 0.0, 0.5, key="music_start"), "the start")
    wave = clip_excerpt(clips[ids.index(clip_id)], gen.rate, start, 5.0)
    left, right = st.columns(2)
    with left:
        player_ui(wave, gen.rate, f"Real: {clip_id}", f"real-{clip_id}")
    with right:
        player_ui(_reconstruction(gen, model_key(gen), clip_id, start, wave), gen.rate, "Through the VAE (posterior mean)",
                  f"recon-{gen.name}-{clip_id}")


def interpolation_ui(gen, clips) -> None:
    ids = [c.clip_id for c in clips]
    c1, c2, c3 = st.columns([2, 2, 1])
    a = bound("music_from", one_of(ids), lambda: c1.selectbox("From", ids, index=0, key="music_from"), "the first clip")
    b = bound("music_to", one_of(ids), lambda: c2.selectbox("To", ids, index=min(1, len(ids) - 1), key="music_to"), "the second clip")
    points = bound("music_points", int_in(3, 7), lambda: c3.number_input("Points", 3, 7, 5, key="music_points"), "the number of points")
    wa = clip_excerpt(clips[ids.index(a)], gen.rate, 0.0, 3.0)
    wb = clip_excerpt(clips[ids.index(b)], gen.rate, 0.0, 3.0)
    row = _path(gen, model_key(gen), a, b, int(points), wa, wb)
    cols = side_by_side(len(row))
    for i, (col, wave) in enumerate(zip(cols, row)):
        with col:
            t = i / (len(row) - 1)
            player_ui(wave, gen.rate, f"{1 - t:.2f}·{a} + {t:.2f}·{b}" if 0 < t < 1 else (a if t == 0 else b),
                      f"path-{i}", picture=False)
    st.caption("Each clip decodes a point on the straight line between the two clips' latent codes (3 s each).")


FD_COLUMNS = {  # sidecar key -> column (course = the shipped course encoder, cdpam = the CDPAM embedding)
    "course_test": "FD test (course encoder)", "course_train": "FD train (course encoder)",
    "course_test_fitted": "FD test, fitted prior (course encoder)",
    "cdpam_test": "FAD test (CDPAM)", "cdpam_train": "FAD train (CDPAM)", "cdpam_test_inf": "FAD∞ test (CDPAM)",
    "cdpam_test_fitted": "FAD test, fitted prior (CDPAM)", "cdpam_test_inf_fitted": "FAD∞ test, fitted prior (CDPAM)",
}
BASELINES = {"floor": "floor: real train clips vs test clips", "ceiling": "ceiling: train clips through the "
             "spectrogram chain, no latent", "noise": "noise with the train clips' spectrum"}


def _fd_row(label: str, fd: dict, report: tuple = (None, None)) -> dict:
    return {"model": label, "report FD test": report[0], "report FD train": report[1],
            **{column: fd.get(key) for key, column in FD_COLUMNS.items()}}


def _baseline_rows(fd: dict, rate: int) -> list[dict]:
    rows = []
    for kind, label in BASELINES.items():
        values = {f"{ex}_test": fd.get(f"{ex}_{kind}") for ex in ("course", "cdpam")}
        if any(v is not None for v in values.values()):
            rows.append(_fd_row(f"{label} ({rate / 1000:g} kHz)", values))
    return rows


def table_ui(info) -> None:
    """The course report's table beside the same models trained here (from the shipped checkpoints' sidecars),
    the baselines of each rate, and the picked run of the student's own once it is scored."""
    shipped = {c.name: c for c in list_checkpoints("music") if c.origin == "shipped"}
    rows, baselines = [], []
    for p in (*COURSE_PRESETS, "spec"):
        found = shipped.get(f"music-{p}")
        fd = (found.meta.get("frechet") or {}) if found else {}
        rows.append(_fd_row(p if p != "spec" else "spec (our default)", fd, REPORT_FD.get(p, (None, None))))
        if p in ("course-base", "spec"):  # one model of each rate carries that rate's baselines
            baselines += _baseline_rows(fd, 3000 if p != "spec" else 22050)
    mine = (info.meta.get("frechet") or {}) if info is not None and info.origin == "user" else {}
    if mine:
        rows.append(_fd_row(f"your run: {info.name}", mine))
    st.dataframe(pd.DataFrame(rows + baselines), hide_index=True, width="stretch")
    st.caption("Lower is closer to the real test clips. Read each model against the rows below it: the **floor** "
               "is as close as two sets of real clips come, the **ceiling** is the best a spectrogram decoder "
               "can do before any latent is involved, and **noise** has the right spectrum and no music. The "
               "report's numbers are its own (its VAE encoder with latent 20 as the extractor); ours use one fixed "
               "shipped encoder of that design (`music-fd-encoder`) and the published CDPAM embedding, 54 "
               "generated clips of 5 s per model against the 18 test clips (CDPAM: 270 one-second frames each side; "
               "FAD∞ extrapolates to infinitely many generated frames, the 1/N fit of Chong & Forsyth 2020). Made by "
               "`python -m vae_core fd-table --extractors course,cdpam --prior both --store`.")
    scoring_ui(info)


SCORING_CHOICES = {"course encoder (a few minutes)": ("course",),
                   "course encoder and CDPAM (15–20 minutes the first time, then about 5)": ("course", "cdpam")}


def scoring_ui(info) -> None:
    """Score the student's picked run the way the table was made, in a process of its own, and watch it."""
    if info is None or info.origin != "user":
        st.info("Train a music model on the **Train** page, pick it in the sidebar, and score it here to add it "
                "to the table.")
        return
    state = scoring_state(info.path)
    running = state is not None and state.status == "running"
    c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
    choice = c1.selectbox("Extractors", list(SCORING_CHOICES), key="music_score_extractors", disabled=running)
    if c2.button("Score this run", disabled=running, key="music_score", width="stretch"):
        try:
            start_scoring(info.path, SCORING_CHOICES[choice])
        except LabError as exc:
            st.error(str(exc))
        else:
            st.rerun()
    if state is not None:
        st.fragment(scoring_status, run_every=2.0 if running else None)(info.path, running)


def scoring_status(folder, was_running: bool) -> None:
    state = scoring_state(folder)
    if state is None:
        return
    if state.status == "running":
        st.info(f"Scoring {folder.name} in the background ({time.time() - state.started:.0f} s): "
                f"{state.last_line or 'starting…'}", icon=":material/hourglass_top:")
    elif was_running:
        st.rerun()  # the whole page: the table gains the run's row
    elif state.status == "done":
        st.success(f"Scored in {(state.finished or state.started) - state.started:.0f} s; the run's row is in "
                   "the table above.")
    else:
        st.error(f"Scoring {folder.name} did not finish: {state.message} {state.last_line}".strip())


st.title("Music")
concept_ui("music")
info = checkpoint_picker_ui("music")
gen = load_separator_ui(info)
if gen is not None:
    st.caption(f"**{gen.name}**: {gen.model.kind}, {gen.rate} Hz, a latent step of {gen.step_dim} numbers every "
               f"{gen.step_seconds:.2f} s.")
    tabs = st.tabs(["Generate", "Real clips", "Interpolate", "Course report"], key="music_tab", bind="query-params")
    with tabs[0]:
        generate_ui(gen)
    try:
        clips = test_clips()
    except LabError as exc:
        clips = None
        message = f"{exc} Generation still works; the real clips need the data."
    for tab, draw in ((tabs[1], clips_ui), (tabs[2], interpolation_ui)):
        with tab:
            if clips is None:
                st.warning(message)
            else:
                draw(gen, clips)
    with tabs[3]:
        table_ui(info)
else:
    table_ui(info)
