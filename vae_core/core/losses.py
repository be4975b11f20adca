"""Loss pieces every task's ELBO shares."""
from __future__ import annotations

import torch


def kl_per_dim(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(q(z|x) || N(0, I)) per example and dimension, same shape as ``mu``.

    Closed form for diagonal Gaussians (Kingma & Welling 2014, appendix B):
    ``-1/2 (1 + log sigma^2 - mu^2 - sigma^2)``.
    """
    return -0.5 * (1.0 + logvar - mu.pow(2) - logvar.exp())
