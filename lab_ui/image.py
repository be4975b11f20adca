"""The image task's page widgets: its part of the Latent explorer (sliders, decoded images, traversal, latent
map, KL per dimension, interpolation)."""
from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from lab_ui.charts import png_data_url
from lab_ui.latent_pad import atlas_url, latent_pad
from lab_ui.common import LEARNING_RATES, image_scale, model_key
from lab_ui.state import BadValue, boolean, bound, float_in, int_in, one_of, remember, restore, text
from vae_core import LabError
from vae_core.core.latents import ACTIVE_THRESHOLD, map_2d
from vae_core.image.demo import CLASS_NAMES, test_pair_strips, tile, upscale
from vae_core.image.inference import ImageSeparator
from vae_core.image.latents import (PLANE_SPAN, LatentSummary, decode, interpolate, plane, plane_dims,
                                    summarize, traversal)
from vae_core.image.model import SOURCES, remix
from vae_core.image.demo import GRID_COLUMNS
from vae_core.image.task import PRESETS, TrainConfig

SLIDER_RANGE = 3.0
BETAS = [0.0, 0.01, 0.05, 0.1, 0.5, 1.0, 2.0, 4.0, 10.0, 100.0]
PRESET_LABELS = {"quick": "quick (≈ 1 min)", "full": "full (≈ 10 min)"}
MODEL_DEFAULTS = {"mlp": {"hidden": [512, 256]}, "conv": {"channels": [16, 32, 64], "hidden": 512}}
TRAIN_LABEL = "Image separation (MNIST + Fashion-MNIST)"
PREVIEW_CAPTION = "Current separations of fixed test mixtures. Columns: " + " · ".join(GRID_COLUMNS[:4])
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
            # Two decimals: the URL keeps the point that way, and a link must redraw the very same images.
            st.session_state[_key(sep, s, d)] = round(float(np.clip(z[s, d], -SLIDER_RANGE, SLIDER_RANGE)), 2)


def point_parser(shape: tuple[int, ...]):
    """A URL latent point: ``prod(shape)`` comma-separated numbers within the sliders' range."""
    values = float_in(-SLIDER_RANGE, SLIDER_RANGE)

    def parse(raw: str) -> np.ndarray:
        parts = raw.split(",")
        if len(parts) != int(np.prod(shape)):
            raise BadValue(f"{int(np.prod(shape))} comma-separated numbers from {-SLIDER_RANGE:g} to {SLIDER_RANGE:g}")
        return np.array([values(v) for v in parts], dtype=np.float32).reshape(shape)
    return parse


def current_point(sep: ImageSeparator) -> np.ndarray:
    return np.array([[st.session_state.get(_key(sep, s, d), 0.0) for d in range(sep.latent_dim)]
                     for s in range(len(SOURCES))], dtype=np.float32)


def start_ui(sep: ImageSeparator, summary: LatentSummary) -> None:
    c1, c2, c3, c4 = st.columns([2, 1, 1, 1], vertical_alignment="bottom")
    index = bound("lx_index", int_in(0, len(summary.mu) - 1), lambda: c1.number_input(
        "Test mixture", 0, len(summary.mu) - 1, 0, key="lx_index",
        help="Start from the encoding (posterior mean) of this test mixture."))
    c2.button("Start here", key="lx_from_test", on_click=lambda: set_point(sep, summary.mu[int(index)]))
    c3.button("Zero", key="lx_zero", on_click=lambda: set_point(sep, np.zeros((2, sep.latent_dim))))

    def prior() -> None:
        seed = st.session_state.get("lx_prior_seed", 0) + 1
        st.session_state.lx_prior_seed = seed
        set_point(sep, np.random.default_rng(seed).standard_normal((2, sep.latent_dim)))

    c4.button("Sample from the prior", key="lx_prior", on_click=prior)


def sliders_ui(sep: ImageSeparator, summary: LatentSummary) -> None:
    # A small latent shows every slider; the switch only where there are more dimensions than SHOWN_DIMS
    show_all = sep.latent_dim <= SHOWN_DIMS or bound("lx_all", boolean, lambda: st.toggle(
        f"Show all {sep.latent_dim} dimensions (otherwise the {SHOWN_DIMS} with the most KL)", key="lx_all"))
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
        st.image(upscale(remix(images[None], 0.5)[0], s), caption="re-mixed (w = 0.5)", width=28 * s)


def traversal_ui(sep: ImageSeparator, summary: LatentSummary) -> None:
    st.markdown("**Traversal**: one dimension at a time around the sliders' point")
    c1, c2, c3 = st.columns(3)
    source = bound("lx_trav_source", one_of([0, 1]), lambda: c1.radio(
        "Latent", [0, 1], format_func=SOURCES.__getitem__, horizontal=True, key="lx_trav_source"))
    n_dims = bound("lx_trav_dims", int_in(1, min(12, sep.latent_dim)), lambda: c2.slider(
        "Dimensions (most KL first)", 1, min(12, sep.latent_dim), min(6, sep.latent_dim), key="lx_trav_dims"))
    span = bound("lx_trav_span", float_in(1.0, 4.0), lambda: c3.slider(
        "Values from -a to a", 1.0, 4.0, 3.0, 0.5, key="lx_trav_span"))
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
    remember("z", np.round(current_point(sep).ravel(), 2).tolist())
    with right:
        decoded_ui(sep)
        traversal_ui(sep, summary)


def interpolation_ui(sep: ImageSeparator, summary: LatentSummary) -> None:
    c1, c2, c3 = st.columns(3)
    last = len(summary.mu) - 1
    a = bound("lx_interp_a", int_in(0, last), lambda: c1.number_input(
        "From test mixture", 0, last, 0, key="lx_interp_a"))
    b = bound("lx_interp_b", int_in(0, last), lambda: c2.number_input(
        "To test mixture", 0, last, 1, key="lx_interp_b"))
    steps = bound("lx_interp_steps", int_in(3, 12), lambda: c3.slider("Steps", 3, 12, 8, key="lx_interp_steps"))
    path = interpolate(sep, summary.mu[int(a)], summary.mu[int(b)], steps)
    st.caption("Rows: digit decoder, clothing decoder; columns: from the first encoding to the second.")
    st.image(tile(path.transpose(1, 0, 2, 3), scale=2), clamp=True)


MAP_POINTS = 1000  # each carries its picture for the hover tooltip (about 1.5 kB), so the map stays light


@st.cache_data(show_spinner=False, max_entries=2)
def _thumbnails(n: int) -> list[str]:
    return [png_data_url(strip) for strip in test_pair_strips(n)]


def map_ui(sep: ImageSeparator, summary: LatentSummary) -> None:
    c1, c2 = st.columns(2)
    source = bound("lx_map_source", one_of([0, 1]), lambda: c1.radio(
        "Latent", [0, 1], format_func=SOURCES.__getitem__, horizontal=True, key="lx_map_source"))
    method = bound("lx_map_method", one_of(["pca", "umap"]), lambda: c2.radio(
        "Projection", ["pca", "umap"], horizontal=True, key="lx_map_method",
        help="UMAP is used when the umap-learn package is installed; PCA otherwise."))
    proj, used = _map(summary, model_key(sep), source, method)
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


PLANE_TILES = 15  # decoded tiles per axis of the manifold figure under the marker
PLANE_ATLAS = 41  # pictures per axis the drag pad can show (steps of 0.15 over [-3, 3]), decoded in advance
# Pixel sides of the pad and its picture, and the scatter's height: normal, and in projector mode (one column,
# the scatter below the pad)
PLANE_SIZES = {False: (360, 150, 330), True: (480, 240, 480)}


@st.cache_data(show_spinner=False, max_entries=16)
def _plane_pictures(_sep: ImageSeparator, key: str, source: int, dims: tuple[int, int],
                    z0: tuple[float, ...]) -> tuple[str, str]:
    """The manifold figure ``(PLANE_TILES, PLANE_TILES)`` and the drag pad's atlas ``(PLANE_ATLAS, PLANE_ATLAS)``,
    each tiled into one PNG data URL; cached per model, source, plane and ``z0``: the values of that source's other
    dimensions (what the pictures depend on; a 2-D latent has none, so its pictures are computed once)."""
    point = np.zeros((len(SOURCES), _sep.latent_dim), dtype=np.float32)
    point[source] = z0
    figure = atlas_url(plane(_sep, source, dims, point, PLANE_TILES), levels=256)
    return figure, atlas_url(plane(_sep, source, dims, point, PLANE_ATLAS))


def plane_ui(sep: ImageSeparator, summary: LatentSummary) -> None:
    """The latent plane of one decoder: what it draws over the plane with a marker to drag (the picture under the
    marker redraws in the browser as it moves), and the test encodings on the plane."""
    source = bound("lx_plane_source", one_of([0, 1]), lambda: st.radio(
        "Decoder", [0, 1], format_func=SOURCES.__getitem__, horizontal=True, key="lx_plane_source"))
    dims = plane_dims(summary, source)
    a, b = (f"z{d}" for d in dims)
    point = current_point(sep)
    others = sep.latent_dim > 2
    others_at = np.round(point[source], 2)
    others_at[list(dims)] = 0.0  # the plane's own axes are drawn over their range, whatever the sliders say
    figure, atlas = _plane_pictures(sep, model_key(sep), source, dims, tuple(others_at.tolist()))

    def picked(value: tuple[float, float]) -> None:
        moved = current_point(sep)
        moved[source, dims[0]], moved[source, dims[1]] = value
        set_point(sep, moved)

    projector = bool(st.session_state.get("projector"))
    pad_px, picture_px, scatter_px = PLANE_SIZES[projector]
    left, right = (st.container(), st.container()) if projector else st.columns([0.63, 0.37])
    with left:
        start = (float(point[source, dims[0]]), float(point[source, dims[1]]))
        latent_pad(atlas, figure, PLANE_ATLAS, PLANE_SPAN, start, (a, b), key="lx_pad", on_pick=picked,
                   size=pad_px, preview=picture_px, large=projector,
                   hint=f"Drag the ring (or hover, or use the arrow keys): the {SOURCES[source]} decoder's drawing "
                        "there shows at once. Let go to move the sliders to that point."
                        + (" The other dimensions stay at the sliders' values." if others else ""))
    n = min(MAP_POINTS, len(summary.mu))
    labels = summary.digit_labels if source == 0 else summary.clothing_labels
    names = CLASS_NAMES[SOURCES[source]]
    encodings = pd.DataFrame({a: summary.mu[:n, source, dims[0]], b: summary.mu[:n, source, dims[1]],
                              "class": [names[c] for c in labels[:n]]})
    scale = alt.Scale(domain=[-PLANE_SPAN, PLANE_SPAN])
    color = alt.Color("class:N", sort=list(names), scale=alt.Scale(scheme="category10"), legend=None)
    dots = (alt.Chart(encodings).mark_circle(size=18, opacity=0.6)
            .encode(x=alt.X(a, scale=scale, title=f"{a} (latent mean)"), y=alt.Y(b, scale=scale, title=f"{b}"),
                    color=color, tooltip=["class", alt.Tooltip(a, format=".2f"), alt.Tooltip(b, format=".2f")]))
    # Each class named where its encodings centre (the medians), in place of a legend that would take the room
    centres = encodings.groupby("class", as_index=False)[[a, b]].median()
    named = alt.Chart(centres).encode(x=alt.X(a, scale=scale), y=alt.Y(b, scale=scale), text="class")
    halo = named.mark_text(fontSize=17, fontWeight="bold", stroke="white", strokeWidth=5, strokeJoin="round")
    chart = alt.layer(dots, halo, named.mark_text(fontSize=17, fontWeight="bold").encode(color=color)).properties(
        height=scatter_px, title=alt.TitleParams(f"{n} test encodings", subtitle=(
            f"where the encoder puts {('digits', 'clothing items')[source]} on the plane")))
    with right:
        if projector:  # a square plot under the pad, rather than the page's whole width
            st.altair_chart(chart.properties(width=scatter_px), key="lx_plane", width="content")
        else:
            st.altair_chart(chart, key="lx_plane", width="stretch")
    st.caption("Where the coloured encodings crowd, the decoder has learnt that class; between the clusters it "
               "blends them, and far from them (beyond about ±2) the prior puts little mass and the drawings blur. "
               f"The pad shows pictures decoded in advance at {PLANE_ATLAS} × {PLANE_ATLAS} points (steps of "
               f"{2 * PLANE_SPAN / (PLANE_ATLAS - 1):.2f}); the sliders decode the exact point.")


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


def latent_explorer_ui(sep: ImageSeparator) -> None:
    """The Latent explorer for an image checkpoint."""
    try:
        summary = _summary(sep, model_key(sep))
    except LabError as exc:
        st.error(f"{exc} The explorer needs the test mixtures to place its starting points.")
        return
    if _key(sep, 0, 0) not in st.session_state:
        shape = (len(SOURCES), sep.latent_dim)
        restore("lx_z", point_parser(shape), "the latent point", url_key="z")
        set_point(sep, st.session_state.pop("lx_z", summary.mu[0]))
    start_ui(sep, summary)
    scrub_ui(sep, summary)
    tabs = st.tabs(["Latent plane", "Latent map", "KL per dimension", "Interpolation"], key="lx_tab",
                   bind="query-params")
    with tabs[0]:
        plane_ui(sep, summary)
    with tabs[1]:
        map_ui(sep, summary)
    with tabs[2]:
        kl_ui(sep, summary)
    with tabs[3]:
        interpolation_ui(sep, summary)


# --------------------------------------------------------------------------- Train page

BATCH_SIZES = [32, 64, 128, 256, 512]


def train_config_ui() -> tuple[TrainConfig, str]:
    """The run's settings; a preset fills them in and every field stays editable."""
    name = bound("train_preset", one_of(list(PRESETS)), lambda: st.radio(
        "Preset", list(PRESETS), format_func=PRESET_LABELS.get, horizontal=True, key="train_preset"))
    p = PRESETS[name]
    k = f"_{name}"  # one set of widget states per preset, so switching presets shows its values
    c1, c2, c3 = st.columns(3)
    model = bound("train_model" + k, one_of(["mlp", "conv"]), lambda: c1.radio(
        "Model", ["mlp", "conv"], index=["mlp", "conv"].index(p["model"]), horizontal=True, key="train_model" + k,
        help="mlp: the course design. conv: the shipped convolutional design."))
    beta = bound("train_beta" + k, one_of(BETAS), lambda: c2.select_slider(
        "β (KL weight)", BETAS, value=p["beta"], key="train_beta" + k))
    latent = bound("train_latent" + k, int_in(2, 128), lambda: c3.slider(
        "Latent size (per source)", 2, 128, p["model_config"]["latent_dim"], key="train_latent" + k))
    c1, c2, c3 = st.columns(3)
    epochs = bound("train_epochs" + k, int_in(1, 200), lambda: c1.number_input(
        "Epochs", 1, 200, p["epochs"], key="train_epochs" + k))
    budget = bound("train_budget" + k, int_in(10, 3600), lambda: c2.number_input(
        "Time budget (s)", 10, 3600, int(p.get("time_budget_s") or 900), step=10, key="train_budget" + k,
        help="The run stops (keeping its best model) when time is up."))
    seed = bound("train_seed" + k, int_in(0, 2**31 - 1), lambda: c3.number_input(
        "Seed", 0, 2**31 - 1, 0, key="train_seed" + k))
    c1, c2, c3, c4 = st.columns(4)
    lr = bound("train_lr" + k, one_of(LEARNING_RATES), lambda: c1.select_slider(
        "Learning rate", LEARNING_RATES, value=p["lr"], format_func=lambda v: f"{v:g}", key="train_lr" + k))
    batch = bound("train_batch" + k, one_of(BATCH_SIZES), lambda: c2.select_slider(
        "Batch size", BATCH_SIZES, value=p["batch_size"], key="train_batch" + k))
    anneal = bound("train_anneal" + k, float_in(0.0, 50.0), lambda: c3.number_input(
        "KL annealing (epochs)", 0.0, 50.0, 0.0, 0.5, key="train_anneal" + k,
        help="β ramps up linearly from 0 over this many epochs (Bowman et al. 2016)."))
    free_bits = bound("train_freebits" + k, float_in(0.0, 5.0), lambda: c4.number_input(
        "Free bits (nats / dim)", 0.0, 5.0, 0.0, 0.1, key="train_freebits" + k,
        help="Each latent dimension's KL below this is not penalised (Kingma et al. 2016)."))
    run_name = bound("train_name" + k, text(40), lambda: st.text_input(
        "Run name (optional)", key="train_name" + k, max_chars=40))
    model_config = {**MODEL_DEFAULTS[model], "latent_dim": int(latent)}
    if model == p["model"]:
        model_config = {**p["model_config"], "latent_dim": int(latent)}
    cfg = TrainConfig(model=model, model_config=model_config, beta=float(beta), epochs=int(epochs),
                      batch_size=int(batch), lr=float(lr), seed=int(seed), kl_anneal_epochs=float(anneal),
                      free_bits=float(free_bits), time_budget_s=float(budget))
    return cfg, run_name.strip()


def monitor_note(history: dict) -> str | None:
    """What the live view says under the curves of a run."""
    if history.get("val_psnr_projected"):
        return (f"Validation PSNR after the last epoch: {history['val_psnr_projected'][-1]:.2f} dB (mixture-consistent; "
                "the best epoch is kept).")
    return None


def preview_picture(preview: np.ndarray) -> np.ndarray:
    """The live preview (rows of mixture | digit | clothing ...) as one picture, scaled for a projector."""
    return tile(preview, scale=3)
