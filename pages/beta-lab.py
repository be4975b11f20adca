"""β lab: compare runs that differ in β (and latent size) through their curves, scores and reconstructions."""
from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from lab_ui.charts import PALETTE, runs_curves_figure
from lab_ui.state import boolean, bound, int_in, one_of, some_of
from lab_ui.common import load_separator
from vae_core import LabError
from vae_core.core.store import CheckpointInfo
from vae_core.image.demo import raw_reconstructions, tile
from vae_core.image.sweep import collapse_row, comparable_runs, run_beta, run_collapse, run_label, run_latent
from lab_ui.concepts import concept_ui
from lab_ui.shell import leave_folder_mode

leave_folder_mode()  # before anything is drawn: a cold server's deep link (see lab_ui.shell)

COLLAPSE_TEXT = """
**Why posterior collapse happens.** The KL term pulls every posterior q(z|x) towards the prior N(0, I). When β is
large, or the decoder can explain the data well enough without the latent, the cheapest solution is to ignore z:
the posterior equals the prior (KL ≈ 0), no unit is active, and the decoder draws the same average image for every
input. The ELBO is then stuck in a poor local optimum in which the latent carries no information.
**Remedies**, both options on the Train page: *KL annealing* (Bowman et al. 2016) starts with β = 0 and raises it
linearly, so the decoder learns to use z before the KL pressure arrives; *free bits* (Kingma et al. 2016) stops
penalising each dimension's KL below a floor of λ nats, so a few informative units survive. A smaller β or a
smaller decoder work too.
"""


@st.cache_resource(max_entries=64)
def _stats(_info: CheckpointInfo, key: str) -> dict:
    return run_collapse(_info, None if _info.meta.get("latent_stats") else load_separator(_info))


def runs_ui() -> list[CheckpointInfo]:
    """Choose the runs to compare: the shipped sweep, your own runs, or both."""
    infos, sweeps = comparable_runs()
    groups = [f"sweep: {s}" for s in sweeps] + ["all runs with a history"]
    c1, c2 = st.columns([1, 2])
    group = bound("bl_group", one_of(groups), lambda: c1.selectbox("Runs from", groups, key="bl_group"), "the runs")
    pool = infos if group == groups[-1] else [c for c in infos if c.meta.get("sweep") == group.split(": ", 1)[1]]
    latents = sorted({run_latent(c) for c in pool})
    default_latent = [10] if 10 in latents else latents[:1]
    chosen_latents = bound("bl_latents", some_of(latents), lambda: c2.multiselect(
        "Latent sizes", latents, default=default_latent, key="bl_latents"), "the latent sizes")
    pool = sorted((c for c in pool if run_latent(c) in chosen_latents), key=lambda c: (run_latent(c), run_beta(c)))
    return pool


def curves_ui(runs: list[CheckpointInfo]) -> None:
    log_y = bound("bl_log", boolean, lambda: st.toggle("Log scale", value=True, key="bl_log"))
    fig = runs_curves_figure([(run_label(r), r.meta["history"]) for r in runs], log_y)
    st.plotly_chart(fig, key="bl_curves")


def summary_ui(runs: list[CheckpointInfo]) -> None:
    fig = make_subplots(rows=1, cols=3, subplot_titles=("test PSNR, raw decoders (dB)", "KL at the end (nats)",
                                                        "active units (both latents)"))
    betas = sorted({run_beta(r) for r in runs})
    for i, latent in enumerate(sorted({run_latent(r) for r in runs})):
        group = sorted((r for r in runs if run_latent(r) == latent), key=run_beta)
        x = [f"{run_beta(r):g}" for r in group]
        psnr = [r.meta.get("test_metrics", {}).get("raw", {}).get("psnr_mean") for r in group]
        kl = [r.meta["history"]["val"]["kl"][-1] for r in group]
        active = [sum(_stats(r, str(r.path))[s]["active_units"] for s in ("digit", "clothing")) for r in group]
        for col, y in enumerate((psnr, kl, active), start=1):
            fig.add_trace(go.Scatter(x=x, y=y, mode="lines+markers", name=f"latent {latent}", legendgroup=str(latent),
                                     line=dict(color=PALETTE[i % len(PALETTE)]), showlegend=col == 1),
                          row=1, col=col)
    fig.update_xaxes(title_text="β", type="category", categoryorder="array",
                     categoryarray=[f"{b:g}" for b in betas])
    fig.update_layout(height=340, margin=dict(l=10, r=10, t=40, b=10), legend=dict(orientation="h", y=-0.3))
    st.plotly_chart(fig, key="bl_summary")


def reconstructions_ui(runs: list[CheckpointInfo]) -> None:
    n = bound("bl_n", int_in(3, 10), lambda: st.slider("Test mixtures", 3, 10, 6, key="bl_n"))
    shown_input = False
    for r in runs:
        try:
            mixtures, outputs = raw_reconstructions(load_separator(r), n)
        except LabError as exc:
            st.error(str(exc))
            return
        if not shown_input:
            st.image(tile(mixtures[None], scale=2), caption="the same test mixtures for every run", clamp=True)
            shown_input = True
        st.image(tile(outputs, scale=2), clamp=True,
                 caption=f"{run_label(r)}: digit decoder (top), clothing decoder (bottom), no mixture consistency")


def collapse_ui(runs: list[CheckpointInfo]) -> None:
    rows = [collapse_row(r, _stats(r, str(r.path))) for r in runs]
    st.dataframe(rows, hide_index=True, width="stretch")
    collapsed = [row["run"] for row in rows if row["posterior collapse"] != "no"]
    if collapsed:
        st.warning(f"Posterior collapse in {len(collapsed)} of {len(rows)} runs: {', '.join(collapsed)}.")
    st.markdown(COLLAPSE_TEXT)


st.title("β lab")
concept_ui("beta-lab")
runs = runs_ui()
if not runs:
    st.info("No runs to compare yet: train some on the Train page, or run `python -m vae_core sweep image`.")
else:
    st.subheader("Loss curves")
    curves_ui(runs)
    st.subheader("Against β")
    summary_ui(runs)
    st.subheader("Reconstructions")
    reconstructions_ui(runs)
    st.subheader("Posterior collapse")
    collapse_ui(runs)
