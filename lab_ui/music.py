"""The music task's page widgets: its Train page settings and live picture, its part of the Latent explorer, and the
pieces the Music page draws (spectrograms, players with a download)."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from lab_ui.common import model_key
from lab_ui.state import bound, float_in, int_in, one_of, remember, restore, text
from vae_core import LabError
from vae_core.core.audio_io import wav_bytes
from vae_core.music.demo import clip_excerpt, spectrogram_db, test_clips
from vae_core.music.inference import MusicGenerator
from vae_core.music.latents import MusicLatentSummary, summarize_music
from vae_core.music.task import MusicTrainConfig, preset

TRAIN_LABEL = "Music generation (GTZAN classical clips)"
PREVIEW_CAPTION = ("One held-out segment as the model rebuilds it now (low frequencies at the bottom): input · "
                   "reconstruction.")
PRESET_LABELS = {
    "default": "spectrogram VAE (the default, 22.05 kHz)",
    "course-base": "course: base (latent 2, no dropout, β 1)",
    "course-dropout-z2": "course: dropout, latent 2",
    "course-dropout-z20": "course: dropout, latent 20",
    "course-beta10": "course: β 10, latent 10",
    "course-beta100": "course: β 100, latent 10",
}
MUSIC_BETAS = [0.0, 0.1, 0.3, 1.0, 3.0, 10.0, 100.0]
LRS = [1e-4, 3e-4, 1e-3, 2e-3]
BATCH_SIZES = [8, 16, 32, 64]
SLIDER_RANGE = 3.0
SHOWN_DIMS = 8


# --------------------------------------------------------------------------- pictures and players


def spectrogram_figure(wave: np.ndarray, rate: int, title: str, height: int = 220) -> go.Figure:
    db = spectrogram_db(wave, rate)
    n_fft = 2 * (db.shape[0] - 1)
    hop_s = n_fft / 4 / rate
    fig = go.Figure(go.Heatmap(z=db, x=np.arange(db.shape[1]) * hop_s, y=np.arange(db.shape[0]) * rate / n_fft,
                               zmin=-80, zmax=0, colorscale="Magma", colorbar=dict(title="dB"),
                               hovertemplate="%{x:.2f} s, %{y:.0f} Hz: %{z:.0f} dB<extra></extra>"))
    fig.update_layout(title=title, height=height, margin=dict(l=10, r=10, t=40, b=10), xaxis_title="s",
                      yaxis_title="Hz")
    return fig


def player_ui(wave: np.ndarray, rate: int, title: str, key: str, picture: bool = True) -> None:
    """A player at the clip's true level (WAV bytes: st.audio would normalise an array), its spectrogram and a
    download."""
    data = wav_bytes(wave, rate)
    st.markdown(f"**{title}** · {len(wave) / rate:.1f} s at {rate} Hz")
    st.audio(data, format="audio/wav")
    if picture:
        st.plotly_chart(spectrogram_figure(wave, rate, ""), key=f"{key}_spec")
    st.download_button("Download WAV", data, f"{key}.wav", "audio/wav", key=f"{key}_dl",
                       icon=":material/download:")


# --------------------------------------------------------------------------- Train page


def train_config_ui() -> tuple[MusicTrainConfig, str]:
    """Settings of a music run: a preset (the default spectrogram VAE or one of the course report's five), then
    the fields a student changes."""
    names = list(PRESET_LABELS)
    name = bound("music_train_preset", one_of(names), lambda: st.radio(
        "Preset", names, format_func=PRESET_LABELS.get, key="music_train_preset", horizontal=True,
        help="The course presets are the report's waveform VAE at 3 kHz (20 epochs, about 4 minutes each); the "
             "default is a spectrogram VAE at 22.05 kHz."))
    d = preset(name)
    k = f"_{name}"  # one set of widget states per preset, so switching presets shows its values
    c1, c2, c3 = st.columns(3)
    beta = bound("music_train_beta" + k, one_of(MUSIC_BETAS), lambda: c1.select_slider(
        "β (KL weight)", MUSIC_BETAS, value=d.beta, key="music_train_beta" + k))
    epochs = bound("music_train_epochs" + k, int_in(1, 300), lambda: c2.number_input(
        "Epochs", 1, 300, d.epochs, key="music_train_epochs" + k,
        help="The default preset is 30 epochs (about 4 minutes on 2 cores); a course preset 20 (about 4)."))
    budget = bound("music_train_budget" + k, int_in(10, 3600), lambda: c3.number_input(
        "Time budget (s)", 10, 3600, 300, step=10, key="music_train_budget" + k,
        help="The run stops (keeping its best model) when time is up."))
    c1, c2, c3, c4 = st.columns(4)
    lr = bound("music_train_lr" + k, one_of(LRS), lambda: c1.select_slider(
        "Learning rate", LRS, value=d.lr, format_func=lambda v: f"{v:g}", key="music_train_lr" + k))
    batch = bound("music_train_batch" + k, one_of(BATCH_SIZES), lambda: c2.select_slider(
        "Batch size (segments)", BATCH_SIZES, value=d.batch_size, key="music_train_batch" + k))
    anneal = bound("music_train_anneal" + k, float_in(0.0, 100.0), lambda: c3.number_input(
        "KL annealing (epochs)", 0.0, 100.0, float(d.kl_anneal_epochs), 0.5, key="music_train_anneal" + k))
    free_bits = bound("music_train_freebits" + k, float_in(0.0, 5.0), lambda: c4.number_input(
        "Free bits (nats / dim)", 0.0, 5.0, float(d.free_bits), 0.05, key="music_train_freebits" + k))
    seed = bound("music_train_seed" + k, int_in(0, 2**31 - 1), lambda: st.number_input(
        "Seed", 0, 2**31 - 1, int(d.seed), key="music_train_seed" + k))
    run_name = bound("music_train_name", text(40), lambda: st.text_input(
        "Run name (optional)", key="music_train_name", max_chars=40))
    cfg = preset(name, beta=float(beta), epochs=int(epochs), time_budget_s=float(budget), lr=float(lr),
                 batch_size=int(batch), kl_anneal_epochs=float(anneal), free_bits=float(free_bits), seed=int(seed))
    return cfg, run_name.strip()


def monitor_note(history: dict) -> str | None:
    if history.get("val_lsd_db"):
        return (f"Log-spectral distance of the held-out clips' reconstructions after the last epoch: "
                f"{history['val_lsd_db'][-1]:.2f} dB (lower is closer; the epoch with the best validation loss is "
                "kept).")
    return None


def preview_picture(preview: np.ndarray) -> np.ndarray:
    """The live picture (input and reconstruction spectrograms side by side) about as wide as tall: the 513 bins of
    the spectrogram model halved, the 129 of the course model doubled, every frame three pixels wide."""
    rows = preview[::2] if preview.shape[0] > 300 else np.repeat(preview, 2, axis=0)
    return np.repeat(rows, 3, axis=1)


# --------------------------------------------------------------------------- Latent explorer


@st.cache_resource(show_spinner="Encoding 8 test clips…", max_entries=4)
def _summary(_gen: MusicGenerator, key: str) -> MusicLatentSummary:
    return summarize_music(_gen)


def _slider_key(gen: MusicGenerator, dim: int) -> str:
    return f"mx:{gen.name}:{dim}"


def latent_explorer_ui(gen: MusicGenerator) -> None:
    """Move one latent dimension at every step of a test clip's encoding, and hear what the decoder makes."""
    try:
        summary = _summary(gen, model_key(gen))
        clips = test_clips()
    except LabError as exc:
        st.error(f"{exc} The explorer needs the test clips to start from.")
        return
    ids = [c.clip_id for c in clips]
    restore("mx_clip", one_of(ids), "the clip")
    clip_id = st.selectbox("Start from the encoding of a test clip (5 s)", ids, key="mx_clip")
    remember("mx_clip", clip_id)
    wave = clip_excerpt(clips[ids.index(clip_id)], gen.rate, 0.0, 5.0)
    z = gen.encode(wave, gen.rate)
    order = np.argsort(-summary.activity)[: min(SHOWN_DIMS, gen.step_dim)]
    st.markdown(f"{int(summary.active.sum())} of {gen.step_dim} dimensions of a latent step are active (their "
                f"posterior means vary across {summary.clips} test clips). The {len(order)} most active; each slider "
                "adds its value to that dimension at every step:")
    left, right = st.columns([2, 3])
    with left:
        for d in order:
            mark = "●" if summary.active[d] else "○"
            st.slider(f"{mark} dimension {d} (spread {np.sqrt(summary.activity[d]):.2f})", -SLIDER_RANGE,
                      SLIDER_RANGE, 0.0, 0.1, key=_slider_key(gen, int(d)))
    moved = z.copy()
    for d in order:
        moved[:, d] += st.session_state.get(_slider_key(gen, int(d)), 0.0)
    with right:
        player_ui(gen.decode(moved, seconds=len(wave) / gen.rate), gen.rate, "Decoded", "mx_decoded")
        player_ui(wave, gen.rate, f"Input: {clip_id}", "mx_input", picture=False)
