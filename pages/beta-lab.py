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

GRID_PROJECTOR_BETAS = 4  # β columns per block of the grid in projector mode
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
    """Choose the runs to compare: the shipped sweep, your own runs, or both; then which latent sizes and βs."""
    infos, sweeps = comparable_runs()
    groups = [f"sweep: {s}" for s in sweeps] + ["all runs with a history"]
    c1, c2, c3 = st.columns([2, 2, 3])
    group = bound("bl_group", one_of(groups), lambda: c1.selectbox("Runs from", groups, key="bl_group"), "the runs")
    pool = infos if group == groups[-1] else [c for c in infos if c.meta.get("sweep") == group.split(": ", 1)[1]]
    latents = sorted({run_latent(c) for c in pool})
    default_latent = [z for z in (2, 10, 32) if z in latents] or latents[:1]
    chosen_latents = bound("bl_latents", some_of(latents), lambda: c2.multiselect(
        "Latent sizes", latents, default=default_latent, key="bl_latents"), "the latent sizes")
    betas = sorted({run_beta(c) for c in pool})
    chosen_betas = bound("bl_betas", some_of(betas), lambda: c3.multiselect(
        "β values", betas, default=betas, format_func=lambda b: f"{b:g}", key="bl_betas",
        help="Fewer βs give each one more room: for a class, e.g. 0, 1, 10 and 100."), "the β values")
    pool = sorted((c for c in pool if run_latent(c) in chosen_latents and run_beta(c) in chosen_betas),
                  key=lambda c: (run_latent(c), run_beta(c)))
    return pool


def curves_ui(runs: list[CheckpointInfo]) -> None:
    log_y = bound("bl_log", boolean, lambda: st.toggle("Log scale", value=True, key="bl_log"))
    fig = runs_curves_figure([(run_label(r), r.meta["history"]) for r in runs], log_y,
                             groups=[(run_beta(r), run_latent(r)) for r in runs])
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


def grid_ui(runs: list[CheckpointInfo]) -> None:
    """One compact grid: β across, latent size down; each cell what the two decoders draw for the same test mixtures
    (no mixture consistency, which would hide a collapse) and the cell's collapse verdict."""
    n = bound("bl_n", int_in(2, 8), lambda: st.slider("Test mixtures per cell", 2, 8, 4, key="bl_n"))
    betas = sorted({run_beta(r) for r in runs})
    latents = sorted({run_latent(r) for r in runs})
    by_cell = {(run_latent(r), run_beta(r)): r for r in runs}
    try:
        mixtures, _ = raw_reconstructions(load_separator(runs[0]), n)
    except LabError as exc:
        st.error(str(exc))
        return
    st.image(tile(mixtures[None], scale=2), clamp=True, width=min(480, 60 * n),
             caption="The test mixtures every cell separates. In each cell: digit decoder (top row), clothing decoder "
                     "(bottom row).")
    # On a projector at most four βs side by side, the rest in a second block below: cells stay readable.
    per_block = GRID_PROJECTOR_BETAS if st.session_state.get("projector") else len(betas)
    for start in range(0, len(betas), per_block):
        block = betas[start:start + per_block]
        widths = [2] + [3] * per_block
        header = st.columns(widths, vertical_alignment="bottom")
        header[0].markdown("**latent size**")
        for col, beta in zip(header[1:], block):
            col.markdown(f"**β = {beta:g}**")
        for latent in latents:
            cells = st.columns(widths, vertical_alignment="top")
            cells[0].markdown(f"**{latent}**")
            for col, beta in zip(cells[1:], block):
                cell_ui(col, by_cell.get((latent, beta)), n)


def cell_ui(col, run: CheckpointInfo | None, n: int) -> None:
    """One cell of the grid: the two decoders' raw drawings for the ``n`` test mixtures and the collapse verdict."""
    if run is None:
        col.caption("no run")
        return
    _, outputs = raw_reconstructions(load_separator(run), n)
    report = _stats(run, str(run.path))
    verdict = ("**collapsed**" if any(report[s]["collapsed"] for s in ("digit", "clothing"))
               else f"{report['digit']['active_units']} + {report['clothing']['active_units']} active")
    col.image(tile(outputs, pad=1), clamp=True, width="stretch")
    col.caption(f"{verdict} · KL {report['digit']['kl_nats'] + report['clothing']['kl_nats']:.0f} nats")


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
    # One screen at a time: the grid shows the verdict at a glance, the other tabs the evidence behind it.
    tabs = st.tabs(["β × latent size", "Loss curves", "Against β", "Posterior collapse"], key="bl_tab",
                   bind="query-params")
    with tabs[0]:
        grid_ui(runs)
    with tabs[1]:
        curves_ui(runs)
    with tabs[2]:
        summary_ui(runs)
    with tabs[3]:
        collapse_ui(runs)
