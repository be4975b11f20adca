"""What the effects embedding holds, for the Latent explorer: a few held-out segments through a few effects, what
the model saw of them, their embeddings, and each embedding dimension's spread and KL."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vae_core.core.latents import activity, kl_per_dimension
from vae_core.effects.data import dry_sources, grid_examples
from vae_core.effects.evaluation import TEST_SEED
from vae_core.effects.transforms import target

EXPLORER_EFFECTS = ("clean", "reverb", "lowpass")


@dataclass
class EffectsLatentSummary:
    """``n`` held-out examples: labels (effect · file), the model's inputs (``(n, 2, mels, frames)`` for a
    conditional model, else ``(n, mels, frames)``), the processed log-mel ``(n, mels, frames)``, the embeddings
    ``(n, embedding_dim)``, and per embedding dimension the spread of the means and the mean KL (nats)."""

    labels: list[str]
    inputs: np.ndarray
    mel: np.ndarray
    embeddings: np.ndarray
    activity: np.ndarray
    kl: np.ndarray


@torch.no_grad()
def summarize_effects(emb: Any, effects: tuple[str, ...] = EXPLORER_EFFECTS, files: int = 8,
                      data_root: Path | None = None) -> EffectsLatentSummary:
    chosen = tuple(e for e in effects if e in emb.effects) or emb.effects[:3]
    sources = dry_sources(data_root, "test", emb.kinds)
    picks = [sources[i] for i in np.linspace(0, len(sources) - 1, min(files, len(sources))).astype(int)]
    examples = grid_examples(picks, chosen, TEST_SEED)
    x = emb.example_features(examples)
    mu, logvar = emb.model.encode(x.to(emb.device))
    dim = emb.embedding_dim
    mu, logvar = mu[:, 0, :dim].cpu(), logvar[:, 0, :dim].cpu()
    return EffectsLatentSummary([f"{e.effect} · {e.file_id.split(':')[1]}" for e in examples],
                                x.numpy().astype(np.float16), target(x).numpy().astype(np.float16), mu.numpy(),
                                activity(mu).numpy(), kl_per_dimension(mu, logvar).numpy())
