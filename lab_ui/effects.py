"""The effects task's page widgets: its Train page settings and live picture, its part of the Latent explorer, and
the maps the Effects map page draws."""
from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st

from lab_ui.charts import png_data_url
from lab_ui.common import model_key
from lab_ui.state import bound, float_in, int_in, one_of, some_of, text
from vae_core import LabError
from vae_core.core.audio_io import wav_bytes
from vae_core.effects.data import EFFECTS, RATE
from vae_core.effects.demo import EffectsMap, effects_map
from vae_core.effects.inference import EffectsEmbedder
from vae_core.effects.latents import EffectsLatentSummary, summarize_effects
from vae_core.effects.task import EffectsTrainConfig, preset

TRAIN_LABEL = "Effects map (audio effects, pedalboard)"
PREVIEW_CAPTION = ("Two held-out segments (the same audio through two effects) as log-mel pictures, low "
                   "frequencies at the bottom: input · reconstruction.")
PRESET_LABELS = {  # the first is the page's default: a class sees a result in a few minutes
    "quick": "quick look (2 short epochs, about 1 minute)",
    "elbo": "loss-scale trap: ELBO, β 1 (8 epochs, about 3 minutes)",
    "report": "loss-scale trap: the report's scaling, β 1 (8 epochs)",
    "beta0": "loss-scale trap: β 0 (8 epochs)",
    "default": "the shipped map (30 epochs, about 15 minutes)",
}
BETAS = [0.0, 0.1, 0.3, 1.0, 3.0, 10.0]
SLIDER_RANGE = 3.0
SHOWN_DIMS = 8
# One colour per effect on every map (Tableau 10), whichever effects are chosen.
PALETTE = dict(zip(EFFECTS, ["#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#b279a2", "#9d755d",
                             "#eeca3b", "#79706e"]))


def mel_picture(mel: np.ndarray) -> np.ndarray:
    """A log-mel ``(mels, frames)`` as a picture: low frequencies at the bottom."""
    return np.asarray(mel, dtype=np.float32)[::-1]


def player(wave: np.ndarray, title: str, key: str) -> None:
    st.markdown(f"**{title}**")
    st.audio(wav_bytes(wave, RATE), format="audio/wav")
    st.download_button("Download WAV", wav_bytes(wave, RATE), f"{key}.wav", "audio/wav", key=f"{key}_dl",
                       icon=":material/download:")


# --------------------------------------------------------------------------- Train page


def train_config_ui() -> tuple[EffectsTrainConfig, str]:
    names = list(PRESET_LABELS)
    name = bound("fx_train_preset", one_of(names), lambda: st.radio(
        "Preset", names, format_func=PRESET_LABELS.get, key="fx_train_preset", horizontal=True,
        help="The three loss-scale presets train the same VAE on the same data for the same steps; only the loss "
             "differs."))
    d = preset(name)
    k = f"_{name}"  # one set of widget states per preset, so switching presets shows its values
    c1, c2, c3 = st.columns(3)
    beta = bound("fx_train_beta" + k, one_of(BETAS), lambda: c1.select_slider(
        "β (KL weight)", BETAS, value=d.beta, key="fx_train_beta" + k))
    scaling = bound("fx_train_scaling" + k, one_of(["elbo", "report"]), lambda: c2.radio(
        "Loss", ["elbo", "report"], index=["elbo", "report"].index(d.scaling), horizontal=True,
        key="fx_train_scaling" + k, format_func={"elbo": "ELBO (sums)", "report": "report (mean MSE)"}.get))
    epochs = bound("fx_train_epochs" + k, int_in(1, 100), lambda: c3.number_input(
        "Epochs", 1, 100, d.epochs, key="fx_train_epochs" + k,
        help="An epoch is 100 batches of new audio (about 20 s on 2 cores)."))
    chosen = bound("fx_train_effects" + k, some_of(EFFECTS, at_least=2), lambda: st.multiselect(
        "Effects", list(EFFECTS), default=list(d.effects), key="fx_train_effects" + k), "the effects")
    c1, c2, c3 = st.columns(3)
    budget = bound("fx_train_budget" + k, int_in(10, 3600), lambda: c1.number_input(
        "Time budget (s)", 10, 3600, 900 if name == "default" else 600, step=10, key="fx_train_budget" + k,
        help="The run stops (keeping its best model) when time is up; a server may cap it (VAE_JOB_TIME_CAP_S)."))
    seed = bound("fx_train_seed" + k, int_in(0, 2**31 - 1), lambda: c2.number_input(
        "Seed", 0, 2**31 - 1, int(d.seed), key="fx_train_seed" + k))
    scale = bound("fx_train_scale" + k, float_in(0.01, 1.0), lambda: c3.number_input(
        "Likelihood σ (of the 0–1 log-mel)", 0.01, 1.0, float(d.recon_scale), 0.01, key="fx_train_scale" + k))
    run_name = bound("fx_train_name", text(40), lambda: st.text_input(
        "Run name (optional)", key="fx_train_name", max_chars=40))
    cfg = preset(name, beta=float(beta), scaling=scaling, epochs=int(epochs), time_budget_s=float(budget),
                 seed=int(seed), recon_scale=float(scale), effects=tuple(chosen) or d.effects)
    return cfg, run_name.strip()


def monitor_note(history: dict) -> str | None:
    if history.get("val_knn_acc"):
        return (f"Held-out files: kNN-5 effect accuracy of the embeddings {history['val_knn_acc'][-1]:.0%} after the "
                "last epoch (each point's five nearest other points vote; the same audio through other effects is "
                "among them, so it is a hard test).")
    return None


def preview_picture(preview: np.ndarray) -> np.ndarray:
    return np.repeat(np.repeat(preview, 2, axis=0), 2, axis=1)


# --------------------------------------------------------------------------- Latent explorer


@st.cache_resource(show_spinner="Encoding held-out segments…", max_entries=4)
def _summary(_emb: EffectsEmbedder, key: str) -> EffectsLatentSummary:
    return summarize_effects(_emb)


def latent_explorer_ui(emb: EffectsEmbedder) -> None:
    """Move the embedding's dimensions from a held-out segment's encoding and see what the decoder makes of it
    (a conditional model applies the moved "effect" to the same dry segment)."""
    try:
        summary = _summary(emb, model_key(emb))
    except LabError as exc:
        st.error(f"{exc} The explorer needs the held-out audio to start from.")
        return
    start = st.selectbox("Start from the encoding of a held-out segment", range(len(summary.labels)),
                         format_func=summary.labels.__getitem__, key="fxx_start")
    x = summary.inputs[start].astype(np.float32)
    z = emb.encode_features(x[None])[0]
    spread = np.sqrt(summary.activity)
    order = np.argsort(-spread)[:SHOWN_DIMS]
    moved = z.copy()
    left, right = st.columns([2, 3])
    with left:
        st.caption(f"The {len(order)} embedding dimensions that vary most across {len(summary.labels)} held-out "
                   "segments (their spread, and their mean KL in nats); each slider adds its value to the encoding.")
        for d in order:
            moved[d] += st.slider(f"dimension {d} (spread {spread[d]:.2f}, KL {summary.kl[d]:.1f})", -SLIDER_RANGE,
                                  SLIDER_RANGE, 0.0, 0.1, key=f"fxx:{emb.name}:{d}")
    with right:
        dry = x[1] if emb.paired else None
        st.image(png_data_url(mel_picture(emb.decode(moved, dry)), 3), caption="Decoded (low frequencies at the bottom)")
        st.image(png_data_url(mel_picture(summary.mel[start]), 3), caption=f"Input: {summary.labels[start]}")
        if dry is not None:
            st.image(png_data_url(mel_picture(dry), 3), caption="The dry segment the decoder applies the effect to")


@st.cache_resource(show_spinner="Embedding held-out segments…", max_entries=8)
def cached_map(_emb: EffectsEmbedder, key: str, effects: tuple[str, ...], kinds: tuple[str, ...], per_effect: int,
                method: str, seed: int) -> EffectsMap:
    return effects_map(_emb, effects, kinds, per_effect, method, seed)


# --------------------------------------------------------------------------- the maps


def map_chart(xy: np.ndarray, fx: EffectsMap, title: str, thumbs: list[str], key: str | None = None) -> alt.Chart:
    shown = list(dict.fromkeys(fx.effects))
    table = pd.DataFrame({"x": xy[:, 0], "y": xy[:, 1], "effect": fx.effects, "point": np.arange(len(xy)),
                          "file": [e.file_id.split(":")[1] for e in fx.examples], "image": thumbs})
    chart = (alt.Chart(table, title=title).mark_circle(size=70, opacity=0.85)
             .encode(x=alt.X("x", title="component 1", axis=alt.Axis(labels=False)),
                     y=alt.Y("y", title="component 2", axis=alt.Axis(labels=False)),
                     color=alt.Color("effect:N", scale=alt.Scale(domain=shown, range=[PALETTE[e] for e in shown]),
                                     legend=alt.Legend(orient="bottom", title=None)),
                     tooltip=["image", "effect", "file"])
             .properties(height=420))
    if key:
        chart = chart.add_params(alt.selection_point(name="pick", fields=["point"], on="click"))
    return chart
