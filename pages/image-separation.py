"""Image separation: un-mix a digit and a clothing item, one pair or a batch."""
from __future__ import annotations

import numpy as np
import streamlit as st

from lab_ui.common import checkpoint_picker_ui, image_scale, load_separator_ui, markdown_table, prior_separator
from lab_ui.state import boolean, bound, counter, float_in, forget, int_in, one_of, remember, restore
from vae_core import LabError
from vae_core.image.demo import CLASS_NAMES, GRID_COLUMNS, PairResult, TestImages, batch_grid, load_test_images, prior_samples, separate_pair, tile, upscale
from vae_core.image.inference import ImageSeparator
from vae_core.image.model import REFINE_STEPS
from lab_ui.concepts import concept_ui
from lab_ui.shell import leave_folder_mode

leave_folder_mode()  # before anything is drawn: a cold server's deep link (see lab_ui.shell)


@st.cache_resource(show_spinner="Loading the test sets…")
def _test_images() -> TestImages:
    return load_test_images()


def test_images_ui() -> TestImages | None:
    try:
        return _test_images()
    except LabError as exc:
        st.error(f"{exc} The model still runs: generate samples from its prior below.")
        return None


def source_picker_ui(source: str, images: TestImages) -> int:
    """Pick one test image of ``source`` by class, by index, or at random; returns its test index."""
    names = CLASS_NAMES[source]
    modes = ["class", "index", "random"]
    mode = bound(f"{source}_mode", one_of(modes), lambda: st.radio(
        f"Choose the {source} by", modes, horizontal=True, key=f"{source}_mode"))
    n = len(images.digits)
    if mode == "class":
        label = bound(f"{source}_class", one_of(range(10)), lambda: st.selectbox(
            "Class", range(10), format_func=lambda i: names[i], key=f"{source}_class",
            index=3 if source == "digit" else 0))
        candidates = images.indices_of_class(source, label)
        k = bound(f"{source}_example", int_in(0, len(candidates) - 1), lambda: st.number_input(
            f"Example (of {len(candidates)})", 0, len(candidates) - 1, 0, key=f"{source}_example"))
        forget(f"{source}_index", f"{source}_random")
        return int(candidates[int(k)])
    if mode == "index":
        forget(f"{source}_class", f"{source}_example", f"{source}_random")
        return int(bound(f"{source}_index", int_in(0, n - 1), lambda: st.number_input(
            "Test-set index", 0, n - 1, 0 if source == "digit" else 1, key=f"{source}_index")))
    forget(f"{source}_class", f"{source}_example", f"{source}_index")
    key = f"{source}_random"
    restore(key, int_in(0, n - 1))
    if st.button(f"New random {source}", key=f"{source}_reroll") or key not in st.session_state:
        st.session_state[key] = int(np.random.default_rng().integers(n))
    remember(key, st.session_state[key])
    st.caption(f"Test-set index {st.session_state[key]}")
    return st.session_state[key]


CONSISTENCY_CHOICES = {"split": "split the mixture in the decoders' ratio", "project": "add the residual back",
                       "none": "off: what the decoders draw"}


def mixing_ui() -> tuple[float, float]:
    c1, c2 = st.columns(2)
    weight = bound("weight", float_in(0.05, 0.95), lambda: c1.slider(
        "Mixing weight w of the digit", 0.05, 0.95, 0.5, 0.05, key="weight",
        help="mixture = w·digit + (1-w)·clothing"))
    noise = bound("noise", float_in(0.0, 0.5), lambda: c2.slider(
        "Noise (std of added Gaussian noise)", 0.0, 0.5, 0.0, 0.01, key="noise"))
    return weight, noise


def separation_settings_ui() -> tuple[str, int]:
    """How the decoders' drawings become the answer: latent refinement steps, then mixture consistency."""
    c1, c2 = st.columns(2)
    steps = bound("refine", int_in(0, 30), lambda: c1.slider(
        "Latent refinement steps", 0, 30, REFINE_STEPS, 1, key="refine",
        help="Gradient steps on both latents so that the two decoders explain the mixture together while each "
             "latent stays likely under its N(0, I) prior; 0 keeps the encoder's guess."))
    consistency = bound("consistency", one_of(CONSISTENCY_CHOICES), lambda: c2.radio(
        "Mixture consistency", list(CONSISTENCY_CHOICES), format_func=CONSISTENCY_CHOICES.get, key="consistency",
        help="Make the two outputs re-mix to the input. Split: each pixel of the mixture is shared out in the "
             "ratio of what the decoders drew there. Residual: the difference is added back to both (Wisdom et "
             "al. 2019)."))
    return consistency, steps


def pair_result_ui(r: PairResult, images: TestImages, digit_index: int, clothing_index: int) -> None:
    s = image_scale()
    d_name = CLASS_NAMES["digit"][images.digit_labels[digit_index]]
    c_name = CLASS_NAMES["clothing"][images.clothing_labels[clothing_index]]
    shown = [(r.mixture, "mixture (input)"), (r.estimates[0], "separated digit"),
             (r.estimates[1], "separated clothing"), (r.remix, "re-mixed reconstruction"),
             (r.truth[0], f"true digit: {d_name}"), (r.truth[1], f"true clothing: {c_name}")]
    # Wrapping rows at the images' own (upscaled, crisp) size: one row on a wide screen, two or three
    # on a projector, never stretched huge nor squeezed into slivers.
    with st.container(horizontal=True, gap="small"):
        for img, caption in shown:
            st.image(upscale(img, s), caption=caption, clamp=True, width=img.shape[-1] * s)
    with st.container(horizontal=True, gap="medium"):
        st.metric("Digit PSNR", f"{r.psnr[0]:.2f} dB", f"{r.psnr[0] - r.mixture_psnr[0]:+.2f} dB vs mixture",
                  width="content")
        st.metric("Clothing PSNR", f"{r.psnr[1]:.2f} dB", f"{r.psnr[1] - r.mixture_psnr[1]:+.2f} dB vs mixture",
                  width="content")
        st.metric("Digit SSIM", f"{r.ssim[0]:.3f}", width="content")
        st.metric("Clothing SSIM", f"{r.ssim[1]:.3f}", width="content")
    st.caption(f"Separation took {r.seconds * 1e3:.1f} ms on this machine.")


def single_ui(sep: ImageSeparator, images: TestImages) -> None:
    left, right = st.columns(2)
    with left:
        digit_index = source_picker_ui("digit", images)
    with right:
        clothing_index = source_picker_ui("clothing", images)
    weight, noise = mixing_ui()
    consistency, steps = separation_settings_ui()
    try:
        result = separate_pair(sep, images, digit_index, clothing_index, weight, noise, consistency=consistency,
                               refine_steps=steps)
    except LabError as exc:
        st.error(str(exc))
        return
    pair_result_ui(result, images, digit_index, clothing_index)


def batch_ui(sep: ImageSeparator) -> None:
    c1, c2, c3 = st.columns([2, 1, 1])
    n = bound("batch_n", int_in(2, 16), lambda: c1.slider("Number of test mixtures", 2, 16, 8, key="batch_n"))
    seed = counter("batch_seed", c2.button("New batch", key="batch_new"))
    truth = bound("batch_truth", boolean, lambda: c3.toggle("Show ground truth", value=True, key="batch_truth"))
    weight = st.session_state.get("weight", 0.5)
    noise = st.session_state.get("noise", 0.0)
    consistency = st.session_state.get("consistency", "split")
    steps = st.session_state.get("refine", REFINE_STEPS)
    grid = batch_grid(sep, n, seed, weight, noise, consistency, steps, with_truth=truth)
    st.caption("Columns, as in the course notebook: " + " · ".join(GRID_COLUMNS[:grid.shape[1]]))
    st.image(tile(grid, scale=3), clamp=True)


def stored_metrics_ui(sep: ImageSeparator) -> None:
    m = sep.meta.get("test_metrics")
    if not m:
        st.info("This checkpoint has no stored test metrics; run `python -m vae_core eval " + sep.name + "`.")
        return
    rows = []
    for label, key in (("default: refined latents, split", "refined_split"), ("encoder's guess, split", "split"),
                       ("encoder's guess, residual added back", "projected"), ("refined latents, raw decoders", "refined_raw"),
                       ("encoder's guess, raw decoders", "raw"), ("mixture as estimate (baseline)", "mixture_baseline")):
        r = m.get(key)
        if r is None:  # scored before this estimate existed: `python -m vae_core eval NAME` adds it
            continue
        rows.append({"estimate": label, "PSNR digit (dB)": round(r["psnr_digit"], 2),
                     "PSNR clothing (dB)": round(r["psnr_clothing"], 2), "PSNR mean (dB)": round(r["psnr_mean"], 2),
                     "SSIM mean": round(r["ssim_mean"], 3)})
    digits = {"PSNR digit (dB)": "{:.2f}", "PSNR clothing (dB)": "{:.2f}", "PSNR mean (dB)": "{:.2f}",
              "SSIM mean": "{:.3f}"}
    st.markdown(markdown_table(rows, digits))
    st.caption(f"{m['n']} official test mixtures, w = {m['weight']}, pair seed {m['pair_seed']}.")


def _test_psnr(sep: ImageSeparator) -> str:
    scores = sep.meta.get("test_metrics", {}).get("refined_split")
    return f"{scores['psnr_mean']:.1f} dB" if scores else "an unmeasured PSNR"


def prior_ui(sep: ImageSeparator) -> None:
    """Decode z ~ N(0, I), by default with the model whose prior samples look like digits and clothes."""
    other = prior_separator("image", sep)
    if other is not None:
        choices = {"prior": f"{other.name} (2-D latents: samples look like the data)",
                   "chosen": f"{sep.name} (the checkpoint above)"}
        which = bound("prior_model", one_of(choices), lambda: st.radio(
            "Sample with", list(choices), format_func=choices.get, horizontal=True, key="prior_model"))
        st.caption(
            f"The trade-off: {other.name} has two latent dimensions per source, which the prior fills, so "
            f"almost every z ~ N(0, I) decodes to a digit or a clothing item; but two numbers "
            f"cannot hold a whole image, and it separates at {_test_psnr(other)}. {sep.name} separates at "
            f"{_test_psnr(sep)} with {sep.latent_dim} dimensions and a small β, and most of its prior space, which "
            f"no training image was encoded near, decodes to scribbles.")
        sep = other if which == "prior" else sep
    samples = prior_samples(sep, 10, counter("prior_seed", st.button("Sample again", key="prior_new")))
    st.image(tile(samples, scale=3), clamp=True,
             caption=f"{sep.name}. Top row: digit decoder on z ~ N(0, I). Bottom row: clothing decoder on z ~ N(0, I).")


VIEWS = ["One mixture", "Batch"]

st.title("Image separation")
st.markdown("Pick a digit and a clothing item, mix them, and watch the VAE take the mixture apart.")
concept_ui("image-separation")
sep = load_separator_ui(checkpoint_picker_ui("image"))
if sep is not None:
    images = test_images_ui()
    if images is not None:
        # Only the chosen view is computed and drawn; a control of the single mixture reruns only that view.
        view = bound("view", one_of(VIEWS), lambda: st.radio(
            "View", VIEWS, horizontal=True, key="view", label_visibility="collapsed"))
        if view == VIEWS[0]:
            st.fragment(single_ui)(sep, images)
        else:
            batch_ui(sep)
    st.subheader("Test-set scores of this checkpoint")
    stored_metrics_ui(sep)
    # Drawn only while open (and the open state is in the address): the prior's model and samples cost a first
    # visit's server and browser time that most visits never look at.
    prior_box = st.expander("Generate from the prior", expanded=images is None, key="prior_open", on_change="rerun",
                            bind="query-params")
    with prior_box:
        if prior_box.open:
            prior_ui(sep)
