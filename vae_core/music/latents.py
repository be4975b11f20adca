"""What a music model's latent steps hold: the test clips' posterior means per step dimension, which dimensions
are active, the KL each carries, and traversals (one dimension moved over every step of a clip's encoding)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vae_core.core.latents import ACTIVE_THRESHOLD
from vae_core.core.gtzan import find_clips, read_clip, split_clips
from vae_core.music.inference import MusicGenerator
from vae_core.music.prior import FittedPrior, fit_prior


@dataclass
class MusicLatentSummary:
    """Posterior means of the test clips' steps ``mu (steps_total, dim)``; ``activity`` is their variance per
    dimension (Burda et al. 2016's criterion), ``active`` the dimensions above ``ACTIVE_THRESHOLD``."""

    mu: np.ndarray
    activity: np.ndarray
    active: np.ndarray
    clips: int


def summarize_music(gen: MusicGenerator, n_clips: int = 8, data_root: Path | None = None) -> MusicLatentSummary:
    """Encode the first ``n_clips`` test clips and summarise their latent steps."""
    _, test = split_clips(find_clips(data_root))
    mu = np.concatenate([gen.encode(read_clip(c, gen.rate), gen.rate) for c in test[:n_clips]])
    activity = mu.var(0)
    return MusicLatentSummary(mu, activity, activity > ACTIVE_THRESHOLD, min(n_clips, len(test)))


def fit_training_prior(gen: MusicGenerator, data_root: Path | None = None, max_clips: int | None = None) -> FittedPrior:
    """Fit :mod:`vae_core.music.prior`'s VAR(1) prior to the encodings of the training clips (the test clips are
    never used)."""
    train, _ = split_clips(find_clips(data_root))
    return fit_prior([gen.encode(read_clip(c, gen.rate), gen.rate) for c in train[:max_clips]])


def traversal(gen: MusicGenerator, z: np.ndarray, dim: int, values: list[float]) -> np.ndarray:
    """``len(values)`` clips ``(len(values), samples)``: ``z`` (steps, dim) with dimension ``dim`` set to each value
    at every step, decoded."""
    if not 0 <= dim < gen.step_dim:
        raise IndexError(f"dim must be in [0, {gen.step_dim}), not {dim}")
    out = []
    for v in values:
        moved = np.array(z, dtype=np.float32, copy=True)
        moved[:, dim] = v
        out.append(gen.decode(moved))
    return np.stack(out)
