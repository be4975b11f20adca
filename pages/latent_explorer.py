"""Latent explorer: scrub each latent dimension and see what the two decoders draw."""
from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from lab_ui.charts import png_data_url
from lab_ui.common import checkpoint_picker_ui, image_scale, load_separator_ui
from vae_core import LabError
from vae_core.core.audio_io import wav_bytes
from vae_core.audio.latents import AudioLatentSummary, decode_patch, patch_db, summarize_audio, unit_label
from vae_core.audio.model import AUDIO_SOURCES
from vae_core.audio.inference import AudioSeparator
from vae_core.image.demo import CLASS_NAMES, test_pair_strips, tile, upscale
from vae_core.core.latents import ACTIVE_THRESHOLD, map_2d
from vae_core.image.latents import LatentSummary, decode, interpolate, summarize, traversal
from vae_core.image.model import SOURCES
from vae_core.image.inference import ImageSeparator

SLIDER_RANGE = 3.0
SHOWN_DIMS = 8


@st.cache_resource(show_spinner="Encoding 2,000 test mixtures…", max_entries=4)
def _summary(_sep: ImageSeparator, key: str) -> LatentSummary:
    return summarize(_sep)


@st.cache_data(max_entries=16)
def _map(_summary: LatentSummary, key: str, source: int, method: str) -> tuple[np.ndarray, str]:
    return map_2d(_summary.mu[:, source], method)


def _key(sep: ImageSeparator, source: int, dim: int) -> str:
    return f"z:{sep.name}:{source}:{dim}"


def set_point(sep: ImageSeparator, z: np.ndarray) -> None:
    """Move every slider to ``z`` ``(2, latent_dim)`` (called before the sliders are drawn)."""
    for s in range(len(SOURCES)):
        for d in range(sep.latent_dim):
            st.session_state[_key(sep, s, d)] = float(np.clip(z[s, d], -SLIDER_RANGE, SLIDER_RANGE))


def current_point(sep: ImageSeparator) -> np.ndarray:
    return np.array([[st.session_state.get(_key(sep, s, d), 0.0) for d in range(sep.latent_dim)]
                     for s in range(len(SOURCES))], dtype=np.float32)


def start_ui(sep: ImageSeparator, summary: LatentSummary) -> None:
    c1, c2, c3, c4 = st.columns([2, 1, 1, 1], vertical_alignment="bottom")
    index = c1.number_input("Test mixture", 0, len(summary.mu) - 1, 0, key="lx_index",
                            help="Start from the encoding (posterior mean) of this test mixture.")
    c2.button("Start here", key="lx_from_test", on_click=lambda: set_point(sep, summary.mu[int(index)]))
    c3.button("Zero", key="lx_zero", on_click=lambda: set_point(sep, np.zeros((2, sep.latent_dim))))

    def prior() -> None:
        seed = st.session_state.get("lx_prior_seed", 0) + 1
        st.session_state.lx_prior_seed = seed
        set_point(sep, np.random.default_rng(seed).standard_normal((2, sep.latent_dim)))

    c4.button("Sample from the prior", key="lx_prior", on_click=prior)


def sliders_ui(sep: ImageSeparator, summary: LatentSummary) -> None:
    show_all = st.toggle(f"Show all {sep.latent_dim} dimensions (otherwise the {SHOWN_DIMS} with the most KL)",
                         key="lx_all")
    cols = st.columns(2)
    for s, col in enumerate(cols):
        order = summary.order(s)
        with col:
            st.markdown(f"**{SOURCES[s]} latent** · {summary.active[s].sum()} of {sep.latent_dim} units active")
            for d in (order if show_all else order[:SHOWN_DIMS]):
                mark = "●" if summary.active[s, d] else "○"
                st.slider(f"{mark} z{d}  (KL {summary.kl[s, d]:.2f} nats)", -SLIDER_RANGE, SLIDER_RANGE,
                          step=0.05, key=_key(sep, s, int(d)))


def decoded_ui(sep: ImageSeparator) -> None:
    images = decode(sep, current_point(sep))
    s = image_scale()
    with st.container(horizontal=True, gap="small"):
        st.image(upscale(images[0], s), caption="digit decoder", width=28 * s)
        st.image(upscale(images[1], s), caption="clothing decoder", width=28 * s)
        st.image(upscale(0.5 * images[0] + 0.5 * images[1], s), caption="re-mixed (w = 0.5)", width=28 * s)


def traversal_ui(sep: ImageSeparator, summary: LatentSummary) -> None:
    st.markdown("**Traversal**: one dimension at a time around the sliders' point")
    c1, c2, c3 = st.columns(3)
    source = c1.radio("Latent", [0, 1], format_func=SOURCES.__getitem__, horizontal=True, key="lx_trav_source")
    n_dims = c2.slider("Dimensions (most KL first)", 1, min(12, sep.latent_dim), min(6, sep.latent_dim),
                       key="lx_trav_dims")
    span = c3.slider("Values from -a to a", 1.0, 4.0, 3.0, 0.5, key="lx_trav_span")
    dims = [int(d) for d in summary.order(source)[:n_dims]]
    values = list(np.linspace(-span, span, 9))
    grid = traversal(sep, current_point(sep), source, dims, values)
    st.image(tile(grid, scale=2), clamp=True,
             caption=f"Rows: {', '.join(f'z{d}' for d in dims)}; columns: values {-span:g} … {span:g}.")


@st.fragment
def scrub_ui(sep: ImageSeparator, summary: LatentSummary) -> None:
    """Sliders and everything drawn from them: a slider move reruns only this part of the page."""
    left, right = st.columns([3, 2])
    with left:
        sliders_ui(sep, summary)
    with right:
        decoded_ui(sep)
        traversal_ui(sep, summary)


def interpolation_ui(sep: ImageSeparator, summary: LatentSummary) -> None:
    c1, c2, c3 = st.columns(3)
    a = c1.number_input("From test mixture", 0, len(summary.mu) - 1, 0, key="lx_interp_a")
    b = c2.number_input("To test mixture", 0, len(summary.mu) - 1, 1, key="lx_interp_b")
    steps = c3.slider("Steps", 3, 12, 8, key="lx_interp_steps")
    path = interpolate(sep, summary.mu[int(a)], summary.mu[int(b)], steps)
    st.caption("Rows: digit decoder, clothing decoder; columns: from the first encoding to the second.")
    st.image(tile(path.transpose(1, 0, 2, 3), scale=2), clamp=True)


MAP_POINTS = 1000  # each carries its picture for the hover tooltip (about 1.5 kB), so the map stays light


@st.cache_data(show_spinner=False, max_entries=2)
def _thumbnails(n: int) -> list[str]:
    return [png_data_url(strip) for strip in test_pair_strips(n)]


def map_ui(sep: ImageSeparator, summary: LatentSummary) -> None:
    c1, c2 = st.columns(2)
    source = c1.radio("Latent", [0, 1], format_func=SOURCES.__getitem__, horizontal=True, key="lx_map_source")
    method = c2.radio("Projection", ["pca", "umap"], horizontal=True, key="lx_map_method",
                      help="UMAP is used when the umap-learn package is installed; PCA otherwise.")
    proj, used = _map(summary, f"{sep.path}:{sep.meta.get('weights_sha256')}", source, method)
    n = min(MAP_POINTS, len(proj))
    labels = summary.digit_labels if source == 0 else summary.clothing_labels
    names = CLASS_NAMES[SOURCES[source]]
    table = pd.DataFrame({"x": proj[:n, 0], "y": proj[:n, 1], "class": [names[c] for c in labels[:n]],
                          "test mixture": np.arange(n), "image": _thumbnails(n)})
    pick = alt.selection_point(name="pick", fields=["test mixture"], on="click")
    chart = (alt.Chart(table, title=f"{SOURCES[source]} latent means of {n} test mixtures ({used.upper()}); hover: "
                                    "mixture | digit | clothing, click: start the sliders there")
             .mark_circle(size=36, opacity=0.8)
             .encode(x=alt.X("x", title="component 1"), y=alt.Y("y", title="component 2"),
                     color=alt.Color("class:N", sort=list(names), scale=alt.Scale(scheme="category10")),
                     tooltip=["image", "class", "test mixture"])
             .add_params(pick).properties(height=460))

    def picked() -> None:
        points = st.session_state.get("lx_map", {}).get("selection", {}).get("pick", [])
        if points:
            row = int(points[0]["test mixture"])
            st.session_state.lx_picked = row
            set_point(sep, summary.mu[row])

    st.altair_chart(chart, key="lx_map", on_select=picked, selection_mode="pick", width="stretch")
    if used != method:
        st.caption("umap-learn is not installed: showing PCA.")
    if "lx_picked" in st.session_state:
        st.caption(f"Sliders start from test mixture {st.session_state.lx_picked} (click a point to choose another).")


def kl_ui(sep: ImageSeparator, summary: LatentSummary) -> None:
    fig = go.Figure()
    for s, color in ((0, "#1f77b4"), (1, "#ff7f0e")):
        active = summary.active[s]
        fig.add_trace(go.Bar(x=[f"z{d}" for d in range(sep.latent_dim)], y=summary.kl[s], name=SOURCES[s],
                             marker=dict(color=color, opacity=np.where(active, 1.0, 0.3).tolist()),
                             customdata=summary.activity[s],
                             hovertemplate="%{x}: KL %{y:.2f} nats, Cov(E[z|x]) %{customdata:.3f}<extra></extra>"))
    fig.update_layout(barmode="group", height=340, margin=dict(l=10, r=10, t=30, b=10), yaxis_title="KL (nats)",
                      title="KL per latent dimension (faded: inactive units)")
    st.plotly_chart(fig, key="lx_kl")
    st.caption(f"A unit is active when the variance over the data of its posterior mean exceeds {ACTIVE_THRESHOLD} "
               "(Burda et al. 2016). Inactive units carry no information about the input: the decoder ignores them.")


# --------------------------------------------------------------------------- audio checkpoints

@st.cache_resource(show_spinner="Encoding patches of 12 test clips…", max_entries=4)
def _audio_summary(_sep: AudioSeparator, key: str) -> AudioLatentSummary:
    return summarize_audio(_sep)


def _akey(sep: AudioSeparator, source: int, unit: int) -> str:
    return f"az:{sep.name}:{source}:{unit}"


def audio_shown_units(sep: AudioSeparator, summary: AudioLatentSummary, source: int) -> list[int]:
    return [int(u) for u in summary.order(source)[:SHOWN_DIMS]]


def set_audio_point(sep: AudioSeparator, summary: AudioLatentSummary, z: np.ndarray) -> None:
    """Make ``z`` ``(2, latent_dim)`` the point: the units without a slider keep its values."""
    st.session_state[f"az_base:{sep.name}"] = np.asarray(z, dtype=np.float32).copy()
    for s in range(len(AUDIO_SOURCES)):
        for u in audio_shown_units(sep, summary, s):
            st.session_state[_akey(sep, s, u)] = float(np.clip(z[s, u], -SLIDER_RANGE, SLIDER_RANGE))


def audio_point(sep: AudioSeparator, summary: AudioLatentSummary) -> np.ndarray:
    z = st.session_state[f"az_base:{sep.name}"].copy()
    for s in range(len(AUDIO_SOURCES)):
        for u in audio_shown_units(sep, summary, s):
            z[s, u] = st.session_state.get(_akey(sep, s, u), z[s, u])
    return z


def audio_start_ui(sep: AudioSeparator, summary: AudioLatentSummary) -> None:
    c1, c2, c3, c4 = st.columns([2, 1, 1, 1], vertical_alignment="bottom")
    index = c1.selectbox("Patch of a test clip (1 s, 0 dB mixture)", range(len(summary.labels)),
                         format_func=summary.labels.__getitem__, key="ax_index")
    c2.button("Start here", key="ax_from_test", on_click=lambda: set_audio_point(sep, summary, summary.mu[index]))
    c3.button("Zero", key="ax_zero", on_click=lambda: set_audio_point(sep, summary, np.zeros_like(summary.mu[0])))

    def prior() -> None:
        seed = st.session_state.get("ax_prior_seed", 0) + 1
        st.session_state.ax_prior_seed = seed
        set_audio_point(sep, summary, np.random.default_rng(seed).standard_normal(summary.mu[0].shape))

    c4.button("Sample from the prior", key="ax_prior", on_click=prior)


def spectrogram_figure(db: np.ndarray, title: str, sep: AudioSeparator) -> go.Figure:
    hop_s = sep.stft.hop / sep.stft.sample_rate
    freqs = np.arange(db.shape[0]) * sep.stft.sample_rate / sep.stft.n_fft
    fig = go.Figure(go.Heatmap(z=db, x=np.arange(db.shape[1]) * hop_s, y=freqs, zmin=-80, zmax=0, colorscale="Magma",
                               colorbar=dict(title="dB"), hovertemplate="%{x:.2f} s, %{y:.0f} Hz: %{z:.0f} dB<extra></extra>"))
    fig.update_layout(title=title, height=240, margin=dict(l=10, r=10, t=40, b=10), xaxis_title="s", yaxis_title="Hz")
    return fig


@st.fragment
def audio_scrub_ui(sep: AudioSeparator, summary: AudioLatentSummary) -> None:
    """Sliders over the units with the most KL, and the decoded patches they give, heard with Griffin-Lim."""
    left, right = st.columns([2, 3])
    with left:
        for s, name in enumerate(AUDIO_SOURCES):
            st.markdown(f"**{name} latent** · {summary.active[s].sum()} of {sep.latent_dim} units active; "
                        f"the {SHOWN_DIMS} with the most KL:")
            for u in audio_shown_units(sep, summary, s):
                mark = "●" if summary.active[s, u] else "○"
                st.slider(f"{mark} {unit_label(sep, u)} (KL {summary.kl[s, u]:.2f})", -SLIDER_RANGE, SLIDER_RANGE,
                          step=0.05, key=_akey(sep, s, u))
    decoded = decode_patch(sep, audio_point(sep, summary))
    index = st.session_state.get("ax_index", 0)
    griffin_lim = st.session_state.get("ax_griffin_lim", False)
    with right:
        cols = st.columns(2)
        for s, name in enumerate(AUDIO_SOURCES):
            with cols[s]:
                st.plotly_chart(spectrogram_figure(patch_db(sep, decoded[s]), f"{name} decoder", sep),
                                key=f"ax_spec_{s}")
                audio = sep.patch_audio(decoded[s], float(summary.refs[index]),
                                        None if griffin_lim else summary.phases[index])
                st.audio(wav_bytes(audio, sep.stft.sample_rate), format="audio/wav")
        st.toggle("Estimate the phase with Griffin-Lim", key="ax_griffin_lim",
                  help="The decoders draw magnitudes only. By default the players borrow the chosen input patch's "
                       "phase; Griffin-Lim (32 iterations, slower) estimates one from the magnitudes alone.")


def audio_kl_ui(sep: AudioSeparator, summary: AudioLatentSummary) -> None:
    c, f, t = sep.model.config.latent_shape
    cols = st.columns(2)
    for s, name in enumerate(AUDIO_SOURCES):
        grid = summary.kl[s].reshape(c, f, t).sum(0)  # (freq', frames'): where the information sits
        hz = (np.arange(f) + 0.5) * sep.model.config.freq_bins / f * sep.stft.sample_rate / sep.stft.n_fft
        fig = go.Figure(go.Heatmap(z=grid, y=hz, x=np.arange(t), colorscale="Viridis", colorbar=dict(title="nats"),
                                   hovertemplate="cell %{x}, ≈%{y:.0f} Hz: %{z:.1f} nats<extra></extra>"))
        fig.update_layout(title=f"{name}: KL summed over channels", height=300, margin=dict(l=10, r=10, t=40, b=10),
                          xaxis_title="time cell in the patch", yaxis_title="Hz")
        cols[s].plotly_chart(fig, key=f"ax_kl_{s}")
    st.caption(f"Each source's latent is a {c} × {f} × {t} map (channels × frequency bands × time cells). A unit is "
               f"active when the variance over patches of its posterior mean exceeds {ACTIVE_THRESHOLD} "
               "(Burda et al. 2016).")


def audio_input_ui(sep: AudioSeparator, summary: AudioLatentSummary) -> None:
    index = st.session_state.get("ax_index", 0)
    st.plotly_chart(spectrogram_figure(patch_db(sep, summary.patches[index]), f"input: {summary.labels[index]}", sep),
                    key="ax_input")


def audio_explorer(sep: AudioSeparator) -> None:
    try:
        summary = _audio_summary(sep, f"{sep.path}:{sep.meta.get('weights_sha256')}")
    except LabError as exc:
        st.error(f"{exc} The explorer needs MIR-1K test clips to place its starting points.")
        return
    if f"az_base:{sep.name}" not in st.session_state:
        set_audio_point(sep, summary, summary.mu[0])
    audio_start_ui(sep, summary)
    audio_scrub_ui(sep, summary)
    tabs = st.tabs(["Input patch", "KL per unit"])
    with tabs[0]:
        audio_input_ui(sep, summary)
    with tabs[1]:
        audio_kl_ui(sep, summary)


st.title("Latent explorer")
st.markdown("Each source has its own latent. Move one dimension at a time and watch what its decoder draws.")
task = st.sidebar.radio("Model", ["image", "audio"], horizontal=True, key="lx_task",
                        format_func={"image": "images", "audio": "audio"}.get)
sep = load_separator_ui(checkpoint_picker_ui(task, key="checkpoint" if task == "image" else "audio_checkpoint"))
if isinstance(sep, AudioSeparator):
    audio_explorer(sep)
elif sep is not None:
    try:
        summary = _summary(sep, f"{sep.path}:{sep.meta.get('weights_sha256')}")
    except LabError as exc:
        st.error(f"{exc} The explorer needs the test mixtures to place its starting points.")
        st.stop()
    if _key(sep, 0, 0) not in st.session_state:
        set_point(sep, summary.mu[0])
    start_ui(sep, summary)
    scrub_ui(sep, summary)
    tabs = st.tabs(["Latent map", "KL per dimension", "Interpolation"])
    with tabs[0]:
        map_ui(sep, summary)
    with tabs[1]:
        kl_ui(sep, summary)
    with tabs[2]:
        interpolation_ui(sep, summary)
