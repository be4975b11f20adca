"""The audio separation ELBO as named terms (same shape of result as :mod:`vae_core.losses`).

Every term is a per-example sum over spectrogram bins (or latent dimensions) averaged over the batch:
``total = recon_voice + recon_accompaniment + recon_mixture + mask_weight * (masked_voice +
masked_accompaniment) + beta * (kl_voice + kl_accompaniment)``.
"""
from __future__ import annotations

import torch

from vae_core.core.losses import kl_per_dim
from vae_core.core.models import SeparationOutput
from vae_core.audio.model import AUDIO_SOURCES, db_to_amplitude
from vae_core.core.spectral import soft_masks

AUDIO_LOSS_TERMS = ("total", "recon", "kl", "recon_voice", "recon_accompaniment", "recon_mixture",
                    "masked", "masked_voice", "masked_accompaniment", "kl_voice", "kl_accompaniment")


def gaussian_nll(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Squared error summed over bins, averaged over the batch: the Gaussian log-likelihood with unit
    variance on the normalised dB scale, up to constants."""
    return (pred - target).pow(2).flatten(1).sum(1).mean()


def audio_separation_loss(out: SeparationOutput, targets: torch.Tensor, mixture: torch.Tensor,
                          mixture_mag: torch.Tensor, source_mags: torch.Tensor, beta: float = 1.0,
                          mask_weight: float = 1.0, free_bits: float = 0.0,
                          mask_power: float = 2.0) -> dict[str, torch.Tensor]:
    """Negative separation ELBO with a beta-weighted KL (Higgins et al. 2017), plus the masked terms.

    ``targets`` ``(batch, source, F, T)`` and ``mixture`` ``(batch, F, T)`` are normalised dB; ``mixture_mag``
    ``(batch, F, T)`` and ``source_mags`` ``(batch, source, F, T)`` are linear magnitudes relative to the
    mixture patch's loudest bin. The masked terms score what the app plays: the soft masks made from the
    decoded magnitudes applied to the mixture (L1 on linear magnitudes, so loud bins count as they do in SDR).
    """
    terms: dict[str, torch.Tensor] = {}
    for s, name in enumerate(AUDIO_SOURCES):
        terms[f"recon_{name}"] = gaussian_nll(out.sources[:, s], targets[:, s])
    terms["recon_mixture"] = gaussian_nll(out.mixture, mixture)
    masks = soft_masks(db_to_amplitude(out.sources), mask_power)
    for s, name in enumerate(AUDIO_SOURCES):
        terms[f"masked_{name}"] = (masks[:, s] * mixture_mag - source_mags[:, s]).abs().flatten(1).sum(1).mean()
    kl = kl_per_dim(out.mu, out.logvar)  # (batch, source, latent_dim)
    for s, name in enumerate(AUDIO_SOURCES):
        terms[f"kl_{name}"] = kl[:, s].sum(-1).mean()
    terms["recon"] = terms["recon_voice"] + terms["recon_accompaniment"] + terms["recon_mixture"]
    terms["masked"] = terms["masked_voice"] + terms["masked_accompaniment"]
    terms["kl"] = terms["kl_voice"] + terms["kl_accompaniment"]
    kl_opt = kl.mean(0).clamp(min=free_bits).sum() if free_bits > 0 else terms["kl"]
    terms["total"] = terms["recon"] + mask_weight * terms["masked"] + beta * kl_opt
    return terms
