"""The effects VAE's loss as named terms, in the project's ELBO and in the course report's scaling.

- ``elbo`` (the project's definition): a Gaussian likelihood with scale σ = ``recon_scale`` on every bin of the
  normalised log-mel, so ``recon = Σ (x − x̂)² / (2σ²)`` summed over the example's bins (constants dropped), and
  ``kl`` = KL(q(z|x) ‖ N(0, I)) summed over latent dimensions, both averaged over the batch; ``total = recon +
  β·kl`` is the negative ELBO for β = 1 (Kingma & Welling 2014; β as in Higgins et al. 2017).
- ``report``: the student report's ``F.mse_loss(x, x_hat, reduction="mean")`` (the mean over every bin of the
  batch) plus the same ``β·kl``. Multiplying that loss by P/(2σ²), P the bins of one example, gives the ELBO's
  reconstruction term and a KL weight of β·P/(2σ²): the report's β is the ELBO's :func:`effective_beta`. With
  P = 64 × 128 bins and σ = 0.1 its β = 1 is β ≈ 410,000 (with σ² = ½, a plain sum of squared errors, it is
  β·P = 8,192): the posterior collapses and every input decodes to the dataset's average.
"""
from __future__ import annotations

import torch

from vae_core.core.losses import kl_per_dim
from vae_core.core.models import SeparationOutput

EFFECTS_LOSS_TERMS = ("total", "recon", "kl")
SCALINGS = ("elbo", "report")


def effects_loss(out: SeparationOutput, target: torch.Tensor, beta: float = 1.0, scaling: str = "elbo",
                 recon_scale: float = 0.1, free_bits: float = 0.0) -> dict[str, torch.Tensor]:
    """Loss terms of ``out`` (one source) against ``target`` ``(batch, mels, frames)``."""
    err = (out.sources[:, 0] - target).pow(2).flatten(1)
    recon = err.mean() if scaling == "report" else (err.sum(1) / (2 * recon_scale ** 2)).mean()
    kl = kl_per_dim(out.mu, out.logvar)  # (batch, 1, latent_dim)
    kl_total = kl.sum((1, 2)).mean()
    kl_opt = kl.mean(0).clamp(min=free_bits).sum() if free_bits > 0 else kl_total
    return {"total": recon + beta * kl_opt, "recon": recon, "kl": kl_total}


def effective_beta(beta: float, scaling: str, bins: int, recon_scale: float) -> float:
    """The β of the ELBO (likelihood scale ``recon_scale``) that a loss of ``scaling`` with ``beta`` amounts to:
    the same optimum, up to a constant factor of the whole loss."""
    return beta if scaling == "elbo" else beta * bins / (2 * recon_scale ** 2)
