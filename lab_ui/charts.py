"""Plotly figures shared by the pages (loss curves)."""
from __future__ import annotations

from typing import Any

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
    fig.update_xaxes(title_text="epoch")
    if log_y:
        fig.update_yaxes(type="log")
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=40, b=10), legend=dict(orientation="h", y=-0.25))
    return fig
