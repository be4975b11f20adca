"""Effects map: audio through digital audio effects, embedded by a spectrogram VAE and mapped to 2-D beside the raw
spectrograms; how well the embedding tells the effects apart; and the loss-scale trap that made a student's VAE
decode every input to the dataset's average."""
from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st

from lab_ui.charts import png_data_url
from lab_ui.common import checkpoint_picker_ui, load_separator_ui, model_key
from lab_ui.effects import cached_map, map_chart, mel_picture, player
from lab_ui.concepts import concept_ui
from lab_ui.shell import leave_folder_mode
from lab_ui.state import bound, int_in, one_of, some_of
from vae_core import LabError
from vae_core.core.audio_io import read_audio
from vae_core.core.inference import load_checkpoint
from vae_core.core.store import list_checkpoints
from vae_core.effects.bench import TRAP
from vae_core.effects.data import EFFECTS, PARAM_RANGES, pedalboard_module
from vae_core.effects.demo import MAX_EFFECTS, MIN_EFFECTS, loss_scale_rows
from vae_core.image.demo import raw_reconstructions, tile

leave_folder_mode()  # before anything is drawn: a cold server's deep link (see lab_ui.shell)

KINDS = {"voice": ("voice",), "music": ("music",), "both": ("voice", "music")}
DEFAULT_EFFECTS = ["clean", "reverb", "distortion", "lowpass"]
TRAP_LABELS = ("β = 0", "β = 1, ELBO", "β = 1, report's scaling")
IMAGE_TRAP = ("loss-scale/image-beta0", "loss-scale/image-elbo", "loss-scale/image-report")
IMAGE_PIXELS = 28 * 28


def choice_ui() -> tuple[tuple[str, ...], tuple[str, ...], int, str]:
    c1, c2, c3, c4 = st.columns([3, 1, 1, 1])

    effects = bound("fx_effects", some_of(EFFECTS, MIN_EFFECTS, MAX_EFFECTS), lambda: c1.multiselect(
        "Effects (2 to 5)", list(EFFECTS), default=DEFAULT_EFFECTS, key="fx_effects", max_selections=MAX_EFFECTS),
        "the effects")
    kind = bound("fx_kind", one_of(list(KINDS)), lambda: c2.radio("Sources", list(KINDS), index=2, key="fx_kind"),
                 "the sources")
    per = bound("fx_per", int_in(4, 40), lambda: c3.number_input("Files", 4, 40, 20, key="fx_per",
                                                                 help="Held-out files; each goes through every "
                                                                      "chosen effect."), "the number of files")
    method = bound("fx_method", one_of(["pca", "umap"]), lambda: c4.radio(
        "Projection", ["pca", "umap"], key="fx_method", format_func=str.upper,
        help="UMAP when the umap-learn package is installed; PCA otherwise. UMAP takes a few seconds the first "
             "time."), "the projection")
    return tuple(effects), KINDS[kind], int(per), method


@st.cache_data(max_entries=8, show_spinner=False)
def _thumbs(key: str, mel: np.ndarray) -> list[str]:
    return [png_data_url(mel_picture(m), 1) for m in mel]


def maps_ui(emb, fx, key: str) -> None:
    thumbs = _thumbs(key, fx.mel)
    left, right = st.columns(2)
    left.altair_chart(map_chart(fx.raw_xy, fx, f"Raw log-mel spectrograms ({fx.method.upper()})", thumbs),
                      width="stretch")
    right.altair_chart(map_chart(fx.latent_xy, fx, f"VAE latent means ({fx.method.upper()})", thumbs, key="pick"),
                       key="fx_map", on_select="rerun", selection_mode="pick", width="stretch")
    st.caption("Hover a point: its log-mel spectrogram (low frequencies at the bottom), effect and file. Click a "
               "point on the right-hand map to hear it, dry and processed.")
    points = st.session_state.get("fx_map", {}).get("selection", {}).get("pick", [])
    if points:
        e = fx.examples[int(points[0]["point"])]
        c1, c2 = st.columns(2)
        with c1:
            player(e.dry, f"Dry: {e.file_id.split(':')[1]}", "fx_dry")
        with c2:
            params = ", ".join(f"{k} {v:.2f}" for k, v in e.params.items()) or "no effect"
            player(e.wave, f"{e.effect} ({params})", "fx_wet")
    upload_ui(emb, fx, thumbs)


def upload_ui(emb, fx, thumbs: list[str]) -> None:
    with st.expander("Your own recording: apply an effect and see where it lands", icon=":material/upload:"):
        file = st.file_uploader("An audio file (WAV, FLAC, OGG or MP3, up to 10 minutes)", key="fx_upload")
        effect = st.selectbox("Effect", list(EFFECTS), index=1, key="fx_upload_effect")
        params = {}
        cols = st.columns(max(1, len(PARAM_RANGES[effect])))
        for col, (name, (lo, hi)) in zip(cols, PARAM_RANGES[effect].items()):
            params[name] = col.slider(name, float(lo), float(hi), float(lo + hi) / 2, key=f"fx_up_{effect}_{name}")
        if file is None:
            return
        try:
            rec = read_audio(file.getvalue(), file.name)
            dry, wet, z = emb.place(rec.audio, rec.sample_rate, effect, params)
        except LabError as exc:
            st.error(str(exc))
            return
        xy = fx.place(z[None])[0]
        chart = map_chart(fx.latent_xy, fx, "Your recording (◆) on the latent map", thumbs)
        star = pd.DataFrame({"x": [xy[0]], "y": [xy[1]], "label": [f"your recording + {effect}"]})
        mark = alt.Chart(star).mark_point(shape="diamond", size=300, filled=True, color="black").encode(
            x="x", y="y", tooltip=["label"])
        st.altair_chart(chart + mark, width="stretch")
        c1, c2 = st.columns(2)
        with c1:
            player(dry, "Your recording (its loudest 2 s)", "fx_up_dry")
        with c2:
            player(wet, f"With {effect}", "fx_up_wet")


def scores_ui(info) -> None:
    m = (info.meta.get("test_metrics") or {}) if info else {}
    if "probe_acc" not in m:
        st.info("This checkpoint has not been scored yet: `python -m vae_core eval NAME --store`.")
        return
    rows = [{"embedding": label, "linear probe": m[p + "probe_acc"], "kNN-5": m[p + "knn_acc"],
             "silhouette (cosine)": m[p + "silhouette"]}
            for label, p in (("VAE latent means", ""), ("PCA of the raw log-mel", "pca_"),
                             ("PCA of processed minus dry log-mel", "pca_diff_"),
                             ("the same encoder, untrained", "random_")) if p + "probe_acc" in m]
    st.dataframe(pd.DataFrame(rows).style.format({"linear probe": "{:.1%}", "kNN-5": "{:.1%}",
                                                  "silhouette (cosine)": "{:.3f}"}), hide_index=True)
    st.caption(f"{m['n_effects']} effects ({', '.join(m['effects'])}); {m['test_examples']} held-out examples from "
               f"{m['test_files']} files no model saw, each file's segment through every effect; the probe and kNN "
               f"were fitted on {m['fit_examples']} examples of the training files. Balanced accuracy (chance "
               f"{1 / m['n_effects']:.0%}). Silhouette: how much closer a point is to its own effect than to the next "
               "(−1 to 1). PCA of the processed minus the dry log-mel is the fair rival of a model that sees the dry "
               f"audio too. {m['active_units']} of {m['latent_dim']} embedding dimensions are active. Measured by "
               "`python -m vae_core bench effects`.")


@st.cache_resource(max_entries=2, show_spinner="Rebuilding the same inputs with the three losses…")
def _trap(key: str):
    models = {label: load_checkpoint(n) for label, n in zip(TRAP_LABELS, TRAP)}
    first = next(iter(models.values()))
    return loss_scale_rows(models, first)


def trap_ui() -> None:
    st.markdown(
        "A student's VAE rebuilt **the same average spectrogram for every input**. Its loss was "
        "`F.mse_loss(x, x_hat, reduction=\"mean\")` plus β times the KL summed over dimensions:")
    st.latex(r"\mathcal{L}_{\text{report}} = \frac{1}{P}\sum_{i=1}^{P}(x_i-\hat x_i)^2 \;+\; \beta\,\mathrm{KL}"
             r"\qquad\Longleftrightarrow\qquad \sum_{i=1}^{P}\frac{(x_i-\hat x_i)^2}{2\sigma^2} \;+\; "
             r"\underbrace{\beta\,\frac{P}{2\sigma^2}}_{\beta_{\text{effective}}}\,\mathrm{KL}")
    st.markdown(
        "Averaging the reconstruction over the P bins makes it P/(2σ²) times smaller than the ELBO's, so the KL "
        "weighs that much more: the posterior collapses to the prior, z carries nothing, and the decoder can only "
        "output the average. The three models below are the report's plain VAE (the processed spectrogram alone, "
        "32 latent numbers) trained on the same data for the same steps; only the loss differs. Its 32 numbers "
        "cannot hold a whole 2-second spectrogram, so even without a KL (β = 0) it keeps only the broad shape, "
        "different for each input; with the report's scaling it keeps nothing: one picture for every input.")
    shipped = {c.name for c in list_checkpoints("effects")}
    if not set(TRAP) <= shipped:
        st.info(f"The comparison needs {', '.join(TRAP)}: `python -m vae_core train effects --preset beta0` (and "
                "elbo, report).")
        return
    x, rows = _trap("shipped")
    st.markdown("**Spectrograms** (the same three held-out segments; low frequencies at the bottom)")
    cols = st.columns(len(rows) + 1)
    cols[0].markdown("Input")
    for i in range(len(x)):
        cols[0].image(png_data_url(mel_picture(x[i]), 2))
    for col, r in zip(cols[1:], rows):
        col.markdown(f"{r['label']} · effective β {r['effective_beta']:,.0f}")
        for i in range(len(x)):
            col.image(png_data_url(mel_picture(r["recon"][i]), 2))
        col.caption(f"RMSE {r['rmse_db']:.1f} dB")
    image_trap_ui(shipped)


@st.cache_resource(max_entries=2, show_spinner="Separating the same mixtures with the three losses…")
def _image_trap(key: str):
    out = {}
    for label, name in zip(TRAP_LABELS, IMAGE_TRAP):
        sep = load_checkpoint(name)
        cfg = sep.meta.get("train_config", {})
        beta = float(cfg.get("beta", 1.0))
        out[label] = (*raw_reconstructions(sep, 6), beta * IMAGE_PIXELS if cfg.get("scaling") == "report" else beta)
    return out


def image_trap_ui(shipped: set[str]) -> None:
    st.markdown("**Digits and clothes**: the image VAE of the Image separation page (the course MLP, 4 epochs), "
                "trained the same three ways; rows: the input mixtures, then what the digit and the clothing decoder "
                "draw from them (no mixture consistency, which would hide a collapse).")
    images = {c.name for c in list_checkpoints("image")}
    if not set(IMAGE_TRAP) <= images:
        st.info(f"The image comparison needs {', '.join(IMAGE_TRAP)} (see the README's Effects map section).")
        return
    results = _image_trap("shipped")
    cols = st.columns(len(results))
    for col, (label, (x, est, effective)) in zip(cols, results.items()):
        col.markdown(f"{label} · effective β {effective:,.0f}")
        col.image(tile(np.stack([x, est[0], est[1]]), scale=3), clamp=True)
    st.caption("Effective β of the report's scaling against a sum of squared errors over the 784 pixels: β·784. "
               "With β = 0 the decoders copy well but nothing keeps z near the prior (no sampling); with the ELBO "
               "they separate; with the report's scaling every mixture gives the same average digit and item.")

st.title("Effects map")
concept_ui("effects-map")
try:
    pedalboard_module()
except LabError as exc:
    st.warning(f"{exc} The rest of the app works without it.")
    st.stop()
info = checkpoint_picker_ui("effects")
emb = load_separator_ui(info)
tabs = st.tabs(["Map", "How well it separates effects", "The loss-scale trap"], key="fx_tab", bind="query-params")
with tabs[0]:
    if emb is not None:
        effects, kinds, per, method = choice_ui()
        if len(effects) < MIN_EFFECTS:
            st.warning(f"Choose at least {MIN_EFFECTS} effects.")
        else:
            try:
                fx = cached_map(emb, model_key(emb), effects, kinds, per, method, 0)
            except LabError as exc:
                st.error(str(exc))
            else:
                maps_ui(emb, fx, f"{model_key(emb)}:{effects}:{kinds}:{per}:{method}")
with tabs[1]:
    scores_ui(info)
with tabs[2]:
    trap_ui()
