"""The audio task's page widgets: its part of the Latent explorer (sliders over the spectrogram latent units with
the most KL, decoded patches drawn and played, where the KL sits in frequency and time)."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from lab_ui.common import LEARNING_RATES, model_key
from lab_ui.state import BadValue, boolean, bound, float_in, int_in, one_of, remember, restore, text
from vae_core import LabError
from vae_core.audio.inference import AudioSeparator
from vae_core.audio.latents import AudioLatentSummary, decode_patch, kl_map, patch_db, summarize_audio, unit_label
from vae_core.audio.model import AUDIO_SOURCES
from vae_core.audio.task import EMA_DECAY, PERTURBED_SPEEDS, WIDE_CONTEXT, AudioTrainConfig
from vae_core.core.audio_io import wav_bytes
from vae_core.core.latents import ACTIVE_THRESHOLD

SLIDER_RANGE = 3.0
SHOWN_DIMS = 8
AUDIO_BETAS = [0.0, 0.001, 0.01, 0.1, 1.0]
TRAIN_LABEL = "Audio separation (MIR-1K voice / music)"
PREVIEW_CAPTION = ("Current decoding of one held-out dev patch (1 s, low frequencies at the bottom): mixture · "
                   "voice decoder · accompaniment decoder.")

@st.cache_resource(show_spinner="Encoding patches of 12 test clips…", max_entries=4)
def _audio_summary(_sep: AudioSeparator, key: str) -> AudioLatentSummary:
    return summarize_audio(_sep)


def _akey(sep: AudioSeparator, source: int, unit: int) -> str:
    return f"az:{sep.name}:{source}:{unit}"


def audio_shown_units(sep: AudioSeparator, summary: AudioLatentSummary, source: int) -> list[int]:
    return [int(u) for u in summary.order(source)[:SHOWN_DIMS]]


def base_point(summary: AudioLatentSummary, origin: str) -> np.ndarray:
    """The point named by ``origin``: "test:<patch>" (its encoding), "zero", or "prior:<seed>" (a prior draw)."""
    kind, _, number = origin.partition(":")
    if kind == "test":
        return summary.mu[int(number)]
    if kind == "prior":
        return np.random.default_rng(int(number)).standard_normal(summary.mu[0].shape).astype(np.float32)
    return np.zeros_like(summary.mu[0])


def origin_parser(summary: AudioLatentSummary):
    test, seed = int_in(0, len(summary.labels) - 1), int_in(0, 10**6)

    def parse(raw: str) -> str:
        kind, _, number = raw.partition(":")
        if raw != "zero" and kind not in ("test", "prior"):
            raise BadValue("zero, test:<patch> or prior:<seed>")
        if kind in ("test", "prior"):
            (test if kind == "test" else seed)(number)  # raises BadValue naming the allowed range
        return raw
    return parse


def set_audio_point(sep: AudioSeparator, summary: AudioLatentSummary, origin: str) -> None:
    """Start from the point ``origin`` names (see :func:`base_point`): the units without a slider keep its
    values."""
    z = base_point(summary, origin)
    st.session_state["ax_origin"] = origin
    st.session_state[f"az_base:{sep.name}"] = np.asarray(z, dtype=np.float32).copy()
    for s in range(len(AUDIO_SOURCES)):
        for u in audio_shown_units(sep, summary, s):
            # Two decimals: the URL keeps the sliders that way, and a link must give the very same sound.
            st.session_state[_akey(sep, s, u)] = round(float(np.clip(z[s, u], -SLIDER_RANGE, SLIDER_RANGE)), 2)


def audio_point(sep: AudioSeparator, summary: AudioLatentSummary) -> np.ndarray:
    z = st.session_state[f"az_base:{sep.name}"].copy()
    for s in range(len(AUDIO_SOURCES)):
        for u in audio_shown_units(sep, summary, s):
            z[s, u] = st.session_state.get(_akey(sep, s, u), z[s, u])
    return z


def audio_start_ui(sep: AudioSeparator, summary: AudioLatentSummary) -> None:
    c1, c2, c3, c4 = st.columns([2, 1, 1, 1], vertical_alignment="bottom")
    index = bound("ax_index", one_of(range(len(summary.labels))), lambda: c1.selectbox(
        "Patch of a test clip (1 s, 0 dB mixture)", range(len(summary.labels)),
        format_func=summary.labels.__getitem__, key="ax_index"))
    c2.button("Start here", key="ax_from_test", on_click=lambda: set_audio_point(sep, summary, f"test:{index}"))
    c3.button("Zero", key="ax_zero", on_click=lambda: set_audio_point(sep, summary, "zero"))

    def prior() -> None:
        seed = st.session_state.get("ax_prior_seed", 0) + 1
        st.session_state.ax_prior_seed = seed
        set_audio_point(sep, summary, f"prior:{seed}")

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
    remember("ax_origin", st.session_state["ax_origin"])
    remember("az", [round(st.session_state[_akey(sep, s, u)], 2) for s in range(len(AUDIO_SOURCES))
                    for u in audio_shown_units(sep, summary, s)])
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
        bound("ax_griffin_lim", boolean, lambda: st.toggle(
            "Estimate the phase with Griffin-Lim", key="ax_griffin_lim",
            help="The decoders draw magnitudes only. By default the players borrow the chosen input patch's phase; "
                 "Griffin-Lim (32 iterations, slower) estimates one from the magnitudes alone."))


def audio_kl_ui(sep: AudioSeparator, summary: AudioLatentSummary) -> None:
    c, f, t = sep.model.config.latent_shape
    cols = st.columns(2)
    for s, name in enumerate(AUDIO_SOURCES):
        grid, hz = kl_map(sep, summary, s)
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


def latent_explorer_ui(sep: AudioSeparator) -> None:
    """The Latent explorer for an audio checkpoint."""
    try:
        summary = _audio_summary(sep, model_key(sep))
    except LabError as exc:
        st.error(f"{exc} The explorer needs MIR-1K test clips to place its starting points.")
        return
    if f"az_base:{sep.name}" not in st.session_state:
        restore("ax_origin", origin_parser(summary), "the starting point")
        set_audio_point(sep, summary, st.session_state.get("ax_origin", "test:0"))
        shown = [(s, u) for s in range(len(AUDIO_SOURCES)) for u in audio_shown_units(sep, summary, s)]
        values = float_in(-SLIDER_RANGE, SLIDER_RANGE)

        def sliders(raw: str) -> list[float]:
            parts = raw.split(",")
            if len(parts) != len(shown):
                raise BadValue(f"{len(shown)} comma-separated numbers from {-SLIDER_RANGE:g} to {SLIDER_RANGE:g}")
            return [values(v) for v in parts]

        restore("ax_sliders", sliders, "the sliders", url_key="az")
        for (s, u), value in zip(shown, st.session_state.pop("ax_sliders", [])):
            st.session_state[_akey(sep, s, u)] = value
    audio_start_ui(sep, summary)
    audio_scrub_ui(sep, summary)
    tabs = st.tabs(["Input patch", "KL per unit"])
    with tabs[0]:
        audio_input_ui(sep, summary)
    with tabs[1]:
        audio_kl_ui(sep, summary)


# --------------------------------------------------------------------------- Train page

MASK_WEIGHTS = [0.0, 1.0, 3.0, 10.0, 30.0]
LATENT_CHANNELS = [4, 8, 16, 32]
AUDIO_BATCH_SIZES = [4, 8, 16, 32, 64]


def train_config_ui() -> tuple[AudioTrainConfig, str]:
    """Settings of an audio run; the defaults train for about four minutes on two CPU cores."""
    d = AudioTrainConfig()
    c1, c2, c3 = st.columns(3)
    beta = bound("audio_train_beta", one_of(AUDIO_BETAS), lambda: c1.select_slider(
        "β (KL weight)", AUDIO_BETAS, value=d.beta, key="audio_train_beta"))
    mask_weight = bound("audio_train_mask", one_of(MASK_WEIGHTS), lambda: c2.select_slider(
        "Mask loss weight", MASK_WEIGHTS, value=d.mask_weight, key="audio_train_mask",
        help="Weight of the loss on the masked mixture: what you hear. 0 leaves only the ELBO on the spectrograms."))
    latent_channels = bound("audio_train_latent", one_of(LATENT_CHANNELS), lambda: c3.select_slider(
        "Latent channels (per source)", LATENT_CHANNELS, value=16, key="audio_train_latent"))
    c1, c2, c3 = st.columns(3)
    epochs = bound("audio_train_epochs", int_in(1, 200), lambda: c1.number_input(
        "Epochs (≈ 35 s each)", 1, 200, 6, key="audio_train_epochs",
        help="On two CPU cores with the default sizes. The wider context adds about 15 % per epoch (53–59 s against "
             "62–67 s for the shipped model's sizes); more latent channels or larger batches add more."))
    budget = bound("audio_train_budget", int_in(10, 3600), lambda: c2.number_input(
        "Time budget (s)", 10, 3600, 240, step=10, key="audio_train_budget",
        help="The run stops (keeping its best model) when time is up."))
    seed = bound("audio_train_seed", int_in(0, 2**31 - 1), lambda: c3.number_input(
        "Seed", 0, 2**31 - 1, 0, key="audio_train_seed"))
    c1, c2, c3, c4 = st.columns(4)
    lr = bound("audio_train_lr", one_of(LEARNING_RATES), lambda: c1.select_slider(
        "Learning rate", LEARNING_RATES, value=d.lr, format_func=lambda v: f"{v:g}", key="audio_train_lr"))
    batch = bound("audio_train_batch", one_of(AUDIO_BATCH_SIZES), lambda: c2.select_slider(
        "Batch size (patches)", AUDIO_BATCH_SIZES, value=d.batch_size, key="audio_train_batch"))
    anneal = bound("audio_train_anneal", float_in(0.0, 50.0), lambda: c3.number_input(
        "KL annealing (epochs)", 0.0, 50.0, 0.0, 0.5, key="audio_train_anneal"))
    free_bits = bound("audio_train_freebits", float_in(0.0, 5.0), lambda: c4.number_input(
        "Free bits (nats / dim)", 0.0, 5.0, 0.0, 0.1, key="audio_train_freebits"))
    c1, c2, c3 = st.columns(3)
    perturb = bound("audio_train_speeds", boolean, lambda: c1.checkbox(
        "Speed perturbation", False, key="audio_train_speeds",
        help=f"Also train on every clip played at {', '.join(f'{v:g}' for v in PERTURBED_SPEEDS)}× speed (pitch "
             "and formants shift together): more singers than the two recorded."))
    ema = bound("audio_train_ema", boolean, lambda: c2.checkbox(
        "Keep a moving average of the weights", False, key="audio_train_ema",
        help=f"Validate and save an exponential moving average (decay {EMA_DECAY}) of the weights, which swings "
             "less from epoch to epoch than the weights themselves."))
    wide = bound("audio_train_context", boolean, lambda: c3.checkbox(
        "Wider context", False, key="audio_train_context",
        help="Three more encoder layers with dilated 3×3 kernels, so each latent sees 239 frequency bins by the "
             "whole second instead of 15 by 15, and each bin's frequency as a second input: a little slower per "
             "epoch, better separation."))
    run_name = bound("audio_train_name", text(40), lambda: st.text_input(
        "Run name (optional)", key="audio_train_name", max_chars=40))
    model_config = {"latent_channels": int(latent_channels), **(WIDE_CONTEXT if wide else {})}
    cfg = AudioTrainConfig(model_config=model_config, beta=float(beta),
                           mask_weight=float(mask_weight), epochs=int(epochs), batch_size=int(batch), lr=float(lr),
                           seed=int(seed), kl_anneal_epochs=float(anneal), free_bits=float(free_bits),
                           time_budget_s=float(budget), speeds=PERTURBED_SPEEDS if perturb else d.speeds,
                           ema_decay=EMA_DECAY if ema else 0.0)
    return cfg, run_name.strip()


def monitor_note(history: dict) -> str | None:
    """What the live view says under the curves of a run."""
    if history.get("val_nsdr_voice"):
        return (f"Voice NSDR on the held-out dev clips after the last epoch: {history['val_nsdr_voice'][-1]:.2f} dB "
                "(the best epoch is kept).")
    return None


def preview_picture(preview: np.ndarray) -> np.ndarray:
    """The live preview (three spectrogram patches side by side, 513 bins tall, 64 frames each) with every
    second frequency bin and each frame four pixels wide, so the patches read as wide as they are tall."""
    return np.repeat(preview[::2], 4, axis=1)
