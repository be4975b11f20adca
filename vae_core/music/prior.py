"""A latent prior fitted after training: where the encodings of real music actually lie, and how they move.

A VAE is trained to keep its codes close to N(0, I), but never exactly there: the aggregate posterior (all
training codes together) has its own means, spreads and, for a latent *sequence*, strong correlation from one
step to the next, while N(0, I) draws every step independently. Decoding prior draws then lands partly in
"holes" the decoder never saw. Fitting a simple density to the training encodings after training and sampling
from it instead is the ex-post density estimation of Ghosh et al. 2020 ("From Variational to Deterministic
Autoencoders"). Here it is a first-order vector autoregression over latent steps,
``z_{t+1} = m + A (z_t - m) + L e_t`` with ``e_t ~ N(0, I)``, fitted by least squares (shrunk to a spectral radius of at most 0.98, so that
long samples stay stationary); the first step is drawn
from the codes' own Gaussian ``N(m, S)``. A temperature scales the noise as it scales the N(0, I) draws.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from vae_core.core.errors import LabError

_JITTER = 1e-5
MAX_RADIUS = 0.98  # largest eigenvalue modulus of the transition: long samples stay stationary


@dataclass
class FittedPrior:
    """``mean (dim,)``, ``start_chol (dim, dim)`` (Cholesky factor of the codes' covariance), ``transition
    (dim, dim)`` and ``noise_chol (dim, dim)``; ``steps``: how many encoded steps it was fitted on."""

    mean: list[float]
    start_chol: list[list[float]]
    transition: list[list[float]]
    noise_chol: list[list[float]]
    steps: int

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, values: dict[str, Any]) -> "FittedPrior":
        try:
            prior = cls(**values)
            dim = len(prior.mean)
            ok = all(np.shape(m) == (dim, dim) for m in (prior.start_chol, prior.transition, prior.noise_chol))
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise LabError("The checkpoint's fitted prior is malformed; fit it again with "
                           "`python -m vae_core fit-prior CHECKPOINT`.")
        return prior

    def sample(self, n: int, steps: int, temperature: float, g: np.random.Generator) -> np.ndarray:
        """``(n, steps, dim)`` latent sequences."""
        m, a = np.asarray(self.mean), np.asarray(self.transition)
        s, l_noise = np.asarray(self.start_chol), np.asarray(self.noise_chol)
        z = np.empty((n, steps, len(m)), dtype=np.float64)
        z[:, 0] = m + temperature * g.standard_normal((n, len(m))) @ s.T
        for t in range(1, steps):
            z[:, t] = m + (z[:, t - 1] - m) @ a.T + temperature * g.standard_normal((n, len(m))) @ l_noise.T
        return z.astype(np.float32)


def _chol(cov: np.ndarray) -> np.ndarray:
    cov = (cov + cov.T) / 2 + _JITTER * np.eye(len(cov))
    return np.linalg.cholesky(cov)


def fit_prior(sequences: list[np.ndarray]) -> FittedPrior:
    """Fit the VAR(1) prior to encodings ``[(steps, dim), ...]`` (one per clip; at least 2 steps in all)."""
    seqs = [np.asarray(s, dtype=np.float64) for s in sequences if len(s)]
    allz = np.concatenate(seqs) if seqs else np.zeros((0, 0))
    if len(allz) < 2:
        raise LabError("Fitting a prior needs at least two encoded latent steps.")
    mean = allz.mean(0)
    start = np.atleast_2d(np.cov(allz, rowvar=False))
    prev = np.concatenate([s[:-1] for s in seqs if len(s) > 1] or [np.zeros((0, allz.shape[1]))]) - mean
    nxt = np.concatenate([s[1:] for s in seqs if len(s) > 1] or [np.zeros((0, allz.shape[1]))]) - mean
    if len(prev) > allz.shape[1]:
        transition = np.linalg.lstsq(prev, nxt, rcond=None)[0].T
        radius = float(np.abs(np.linalg.eigvals(transition)).max())
        if radius > MAX_RADIUS:  # an explosive fit (slow drifts in the music) would blow up long samples
            transition *= MAX_RADIUS / radius
        residual = nxt - prev @ transition.T
        noise = np.atleast_2d(np.cov(residual, rowvar=False))
    else:  # too few transitions to fit: independent steps from the codes' Gaussian
        transition, noise = np.zeros_like(start), start
    return FittedPrior(mean.tolist(), _chol(start).tolist(), transition.tolist(), _chol(noise).tolist(), len(allz))
