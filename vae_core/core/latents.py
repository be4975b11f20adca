"""What any latent space holds: KL per dimension, active units (Burda et al. 2016) and 2-D maps (PCA, or
UMAP when installed). Shapes: latent means and log-variances ``(N, latent_dim)`` or ``(N, source, latent_dim)``."""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from vae_core.core.losses import kl_per_dim

ACTIVE_THRESHOLD = 0.01
"""Burda et al. 2016: unit u is active when Cov_x(E_q[z_u | x]) > 0.01."""


def kl_per_dimension(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Mean KL(q(z_u|x) || N(0, 1)) over the data, per source and dimension: ``(source, latent_dim)``."""
    return kl_per_dim(mu, logvar).mean(0)


def activity(mu: torch.Tensor) -> torch.Tensor:
    """Variance over the data of each posterior mean, ``Cov_x(E_q[z_u | x])``: ``(source, latent_dim)``."""
    return mu.var(0, unbiased=False)


def active_units(mu: torch.Tensor, threshold: float = ACTIVE_THRESHOLD) -> torch.Tensor:
    """Boolean ``(source, latent_dim)``: which units carry information about the input (Burda et al. 2016)."""
    return activity(mu) > threshold


def map_2d(points: np.ndarray, method: str = "pca", seed: int = 0) -> tuple[np.ndarray, str]:
    """Project ``(N, D)`` points to ``(N, 2)`` with PCA, or UMAP when asked for and installed.

    Returns the projection and the method actually used.
    """
    proj, used, _ = fit_map_2d(points, method, seed)
    return proj, used


def fit_map_2d(points: np.ndarray, method: str = "pca",
               seed: int = 0) -> tuple[np.ndarray, str, Callable[[np.ndarray], np.ndarray]]:
    """:func:`map_2d`, and a function that places new points ``(M, D)`` on the same map ``(M, 2)``."""
    x = np.asarray(points, dtype=np.float64)
    if method == "umap":
        try:
            import umap  # optional dependency
        except ImportError:
            method = "pca"
        else:
            reducer = umap.UMAP(n_components=2, random_state=seed).fit(x)
            return reducer.embedding_, "umap", lambda new: reducer.transform(np.asarray(new, dtype=np.float64))
    mean = x.mean(0)
    x = x - mean
    if x.shape[1] == 1:
        return (np.concatenate([x, np.zeros_like(x)], 1), "pca",
                lambda new: np.concatenate([np.asarray(new) - mean, np.zeros((len(new), 1))], 1))
    _, _, vt = np.linalg.svd(x, full_matrices=False)
    proj = x @ vt[:2].T
    # Fix each axis' sign so the map does not flip between runs of the same data.
    sign = np.where(proj[np.abs(proj).argmax(0), range(2)] < 0, -1.0, 1.0)
    axes = vt[:2].T * sign
    return x @ axes, "pca", lambda new: (np.asarray(new, dtype=np.float64) - mean) @ axes
