"""The music ELBO as named terms: ``total = recon + beta * kl`` (Kingma & Welling 2014; β as in Higgins et al.
2017), every term a per-example sum (over samples or spectrogram bins, over latent dimensions) averaged over the
batch, the project's one definition of the ELBO.

- ``music-course``: a Gaussian likelihood on the waveform with σ² = 1/2, i.e. the summed squared error (the
  report's reconstruction term, summed rather than averaged so that β = 1 is the ELBO).
- ``music-spec``: a Laplace likelihood on the normalised log-magnitude with scale ``recon_scale`` (0.05 = 5 dB):
  ``sum |x - x̂| / recon_scale``, which keeps spectra sharper than a squared error.

With ``free_bits`` each latent dimension's batch-mean KL is floored at that many nats in the optimised total
(Kingma et al. 2016); the reported ``kl`` stays the true KL.
"""
from __future__ import annotations

import torch

from vae_core.core.losses import kl_per_dim
from vae_core.core.models import SeparationOutput

MUSIC_LOSS_TERMS = ("total", "recon", "kl")


def music_loss(out: SeparationOutput, target: torch.Tensor, kind: str, beta: float = 1.0, free_bits: float = 0.0,
               recon_scale: float = 0.05) -> dict[str, torch.Tensor]:
    """Negative ELBO terms of ``out`` (one source) against ``target`` (the model's input)."""
    estimate = out.sources[:, 0]
    if kind == "music-course":
        recon = (estimate - target).pow(2).flatten(1).sum(1).mean()
    else:
        recon = ((estimate - target).abs() / recon_scale).flatten(1).sum(1).mean()
    kl = kl_per_dim(out.mu, out.logvar)  # (batch, 1, latent_dim)
    kl_total = kl.sum((1, 2)).mean()
    kl_opt = kl.mean(0).clamp(min=free_bits).sum() if free_bits > 0 else kl_total
    return {"total": recon + beta * kl_opt, "recon": recon, "kl": kl_total}
