"""The separation ELBO, returned as named terms so loss curves can plot each one by name.

Every term is a per-example sum (over pixels or latent dimensions) averaged over the batch:
``total = recon_digit + recon_clothing + recon_mixture + beta * (kl_digit + kl_clothing)``
(+ ``consistency * recon_consistent`` when that option is on).
"""
from __future__ import annotations

import torch




def kl_per_dim(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(q(z|x) || N(0, I)) per example and dimension, same shape as ``mu``.

    Closed form for diagonal Gaussians (Kingma & Welling 2014, appendix B):
    ``-1/2 (1 + log sigma^2 - mu^2 - sigma^2)``.
    """
    return -0.5 * (1.0 + logvar - mu.pow(2) - logvar.exp())




