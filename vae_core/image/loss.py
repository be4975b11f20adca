"""The separation ELBO, returned as named terms so loss curves can plot each one by name.

Every term is a per-example sum (over pixels or latent dimensions) averaged over the batch:
``total = recon_digit + recon_clothing + recon_mixture + beta * (kl_digit + kl_clothing)``
(+ ``consistency * recon_consistent`` when that option is on).

``scaling="report"`` replaces each reconstruction term by a student report's ``F.mse_loss(x_hat, x,
reduction="mean")`` (the mean over every pixel of the batch) and keeps the summed KL: against a sum of squared
errors over the P = 784 pixels that weighs the KL P times more, the loss-scale trap the Effects map page shows.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from vae_core.core.losses import kl_per_dim

from vae_core.image.model import SOURCES, mixture_consistency, ratio_split
from vae_core.core.models import SeparationOutput

LOSS_TERMS = ("total", "recon", "kl", "recon_digit", "recon_clothing", "recon_mixture",
              "kl_digit", "kl_clothing", "recon_consistent", "recon_split")
_EPS = 1e-6


def bernoulli_nll(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy summed over pixels, averaged over the batch (pixels in [0, 1])."""
    return F.binary_cross_entropy(pred.clamp(_EPS, 1 - _EPS), target, reduction="sum") / len(target)


def mean_squared_error(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The report's reconstruction term: the mean over every pixel of the batch."""
    return F.mse_loss(pred, target, reduction="mean")


SCALINGS = {"elbo": bernoulli_nll, "report": mean_squared_error}


def separation_loss(out: SeparationOutput, digit: torch.Tensor, clothing: torch.Tensor,
                    mixture: torch.Tensor, beta: float = 1.0, free_bits: float = 0.0,
                    inputs: torch.Tensor | None = None, weight: float = 0.5,
                    consistency: float = 0.0, scaling: str = "elbo", split: float = 0.0) -> dict[str, torch.Tensor]:
    """Negative separation ELBO with a beta-weighted KL (Higgins et al. 2017).

    ``mixture`` is the clean mixture target ``w·digit + (1-w)·clothing``. With ``free_bits > 0`` each
    latent dimension's batch-mean KL is floored at that many nats in the optimised total
    (Kingma et al. 2016, "free bits"); the reported ``kl`` terms stay the true KL.

    ``recon_consistent`` scores the sources after the mixture-consistency projection of ``inputs`` (the
    network's actual input, noise included; Wisdom et al. 2019 train through this projection). It is always
    reported and enters the total with weight ``consistency``; the per-decoder ELBO terms stay in the total, so
    each decoder still has to explain its source from its own latent alone.

    ``recon_split`` scores the sources after :func:`~vae_core.image.model.ratio_split` of ``inputs`` (what the app
    shows by default) and enters the total with weight ``split``, under the same rule.
    """
    recon = SCALINGS[scaling]
    terms: dict[str, torch.Tensor] = {
        "recon_digit": recon(out.sources[:, 0], digit),
        "recon_clothing": recon(out.sources[:, 1], clothing),
        "recon_mixture": recon(out.mixture, mixture),
    }
    kl = kl_per_dim(out.mu, out.logvar)  # (batch, source, latent_dim)
    for s, name in enumerate(SOURCES):
        terms[f"kl_{name}"] = kl[:, s].sum(-1).mean()
    terms["recon"] = terms["recon_digit"] + terms["recon_clothing"] + terms["recon_mixture"]
    terms["kl"] = terms["kl_digit"] + terms["kl_clothing"]
    kl_opt = kl.mean(0).clamp(min=free_bits).sum() if free_bits > 0 else terms["kl"]
    projected = mixture_consistency(out.sources, mixture if inputs is None else inputs, weight)
    terms["recon_consistent"] = recon(projected[:, 0], digit) + recon(projected[:, 1], clothing)
    split_sources = ratio_split(out.sources, mixture if inputs is None else inputs, weight)
    terms["recon_split"] = recon(split_sources[:, 0], digit) + recon(split_sources[:, 1], clothing)
    terms["total"] = terms["recon"] + beta * kl_opt
    if split > 0:
        terms["total"] = terms["total"] + split * terms["recon_split"]
    if consistency > 0:
        terms["total"] = terms["total"] + consistency * terms["recon_consistent"]
    return terms
