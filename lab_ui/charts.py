"""Figures shared by the pages: plotly loss curves; small PNGs for chart tooltips."""
from __future__ import annotations

import base64
import io
from typing import Any

import numpy as np
from PIL import Image

import plotly.graph_objects as go
from plotly.subplots import make_subplots

_COLORS = {"total": "#1f77b4", "recon": "#2ca02c", "kl": "#d62728"}


def loss_curves_figure(steps: dict[str, list[float]], history: dict[str, Any], log_y: bool = False,
                       height: int = 340) -> go.Figure:
    """Training curves of one run: per-step training terms (thin lines) and per-epoch train and validation
    terms (markers), reconstruction + total on the left, KL on the right (their scales differ)."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=("total and reconstruction (nats)", "KL (nats)"))
    for term in ("total", "recon", "kl"):
        col = 2 if term == "kl" else 1
        if steps.get("epoch"):
            fig.add_trace(go.Scatter(x=steps["epoch"], y=steps[term], mode="lines", name=f"train {term} (steps)",
                                     line=dict(color=_COLORS[term], width=1), opacity=0.45), row=1, col=col)
        for split, dash in (("train", "solid"), ("val", "dash")):
            values = history.get(split, {}).get(term, []) if history else []
            if values:
                fig.add_trace(go.Scatter(x=history["epoch"], y=values, mode="lines+markers", name=f"{split} {term}",
                                         line=dict(color=_COLORS[term], dash=dash)), row=1, col=col)
    for change in (history or {}).get("changes", []):  # live changes (Train page): where each took effect
        what = ", ".join(f"{'β' if k == 'beta' else 'lr'} → {change[k]:g}" for k in ("beta", "lr") if k in change)
        for col in (1, 2):
            label = dict(annotation_text=what, annotation_position="top left") if col == 1 else {}
            fig.add_vline(x=change["epoch"], line=dict(color="#555", dash="dot", width=1), row=1, col=col, **label)
    fig.update_xaxes(title_text="epoch")
    if log_y:
        fig.update_yaxes(type="log")
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=40, b=10), legend=dict(orientation="h", y=-0.25))
    return fig


RUN_TERMS = ("recon", "kl", "total")
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
            "#17becf")


SYMBOLS = ("circle", "square", "diamond", "triangle-up", "x", "star")


def runs_curves_figure(runs: list[tuple[str, dict[str, Any]]], log_y: bool = False, height: int = 380,
                       groups: list[tuple[float, int]] | None = None) -> go.Figure:
    """Per-epoch curves of several runs: one trace per run, term (recon, KL, total) and split (train solid,
    validation dashed). Without ``groups`` each run has its own colour and legend entry; with ``groups`` (each
    run's β and latent size) the colour says β and the marker the latent size, and the legend lists those and the
    two splits once each instead of every run (a sweep has dozens); hovering a line still names its run."""
    fig = make_subplots(rows=1, cols=3, subplot_titles=("reconstruction (nats)", "KL (nats)", "total (nats)"))
    betas = sorted({b for b, _ in groups}) if groups else []
    latents = sorted({z for _, z in groups}) if groups else []
    for i, (label, history) in enumerate(runs):
        if groups:
            beta, latent = groups[i]
            color, symbol = PALETTE[betas.index(beta) % len(PALETTE)], SYMBOLS[latents.index(latent) % len(SYMBOLS)]
        else:
            color, symbol = PALETTE[i % len(PALETTE)], "circle"
        for col, term in enumerate(RUN_TERMS, start=1):
            for split, dash in (("train", "solid"), ("val", "dash")):
                fig.add_trace(go.Scatter(x=history["epoch"], y=history[split][term], mode="lines+markers",
                                         name=f"{label} · {split}", legendgroup=label,
                                         showlegend=col == 1 and not groups,
                                         line=dict(color=color, dash=dash), marker=dict(size=5, symbol=symbol),
                                         hovertemplate=f"{label} · {split} {term}: %{{y:.2f}}<extra></extra>"),
                              row=1, col=col)
    if groups:  # the key: one entry per β (colour), per latent size (marker) and per split (dash)
        key = [(f"β = {b:g}", dict(color=PALETTE[k % len(PALETTE)]), {}) for k, b in enumerate(betas)]
        key += [(f"latent {z}", dict(color="#888"), dict(symbol=SYMBOLS[k % len(SYMBOLS)], size=7))
                for k, z in enumerate(latents)]
        key += [("train", dict(color="#888", dash="solid"), {}), ("validation", dict(color="#888", dash="dash"), {})]
        for name, line, marker in key:
            fig.add_trace(go.Scatter(x=[None], y=[None], mode="lines+markers" if marker else "lines", name=name,
                                     line=line, marker=marker or None, showlegend=True, hoverinfo="skip"),
                          row=1, col=1)
    fig.update_xaxes(title_text="epoch")
    if log_y:
        fig.update_yaxes(type="log")
    # "normal" order: with legend groups Plotly stacks each group on its own line.
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=40, b=10),
                      legend=dict(orientation="h", y=-0.3, traceorder="normal"))
    return fig


def png_data_url(image: np.ndarray, scale: int = 2) -> str:
    """A grey image in [0, 1] as a PNG data URL (Vega-Lite tooltips show a field named ``image`` as a picture)."""
    pixels = (np.clip(image, 0, 1) * 255).astype(np.uint8)
    img = Image.fromarray(pixels).resize((pixels.shape[1] * scale, pixels.shape[0] * scale), Image.NEAREST)
    buf = io.BytesIO()
    img.save(buf, "PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()
