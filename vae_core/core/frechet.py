"""Fréchet distance between two sets of features, each summarised by a Gaussian, and its unbiased FAD∞ limit.

The Fréchet (2-Wasserstein) distance between N(mu1, S1) and N(mu2, S2) is
``||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^{1/2})``. On Inception features of images it is the FID (Heusel et
al. 2017, "GANs Trained by a Two Time-Scale Update Rule Converge to a Local Nash Equilibrium"); on embeddings
of audio it is the FAD (Kilgour et al. 2019, "Fréchet Audio Distance: A Reference-Free Metric for Evaluating
Music Enhancement Algorithms"). Both are biased upwards by a term that shrinks like 1/N in the number N of
generated samples, so numbers from sets of different sizes do not compare; :func:`fad_infinity` fits
``FD_N = a + b / N`` over several N and reports the intercept ``a`` (Chong & Forsyth 2020, "Effectively
Unbiased FID and Inception Score and where to find them"; the FAD∞ of fadtk, Gui et al. 2024).

Everything is computed in float64; no torch, so the core's metrics stay importable on their own.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from vae_core.core.errors import ConfigError

FAD_INF_STEPS = 15  # subset sizes in the default FAD∞ fit (Chong & Forsyth use 15)


def gaussian_stats(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean ``(dim,)`` and covariance ``(dim, dim)`` (ddof=1) of ``features`` ``(n, dim)``, n >= 2, in float64."""
    x = _features(features, "features")
    return x.mean(axis=0), np.atleast_2d(np.cov(x, rowvar=False, ddof=1))


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2): means ``(dim,)``, covariances ``(dim, dim)``.

    ``Tr((S1 S2)^{1/2})`` is the sum of the square roots of the eigenvalues of the symmetric PSD matrix
    ``S1^{1/2} S2 S1^{1/2}`` (it is similar to ``S1 S2``), so singular covariances (fewer samples than
    dimensions) give a real, finite answer where the general matrix square root of ``S1 S2`` can turn complex.
    """
    mu1, mu2 = (np.asarray(m, dtype=np.float64) for m in (mu1, mu2))
    s1, s2 = (np.asarray(s, dtype=np.float64) for s in (sigma1, sigma2))
    dim = mu1.shape[0] if mu1.ndim == 1 else -1
    if mu1.shape != (dim,) or mu2.shape != (dim,) or s1.shape != (dim, dim) or s2.shape != (dim, dim):
        raise ConfigError(f"frechet_distance needs two means of shape (dim,) and two covariances of shape (dim, dim) "
                          f"with the same dim, not {mu1.shape}, {s1.shape}, {mu2.shape}, {s2.shape}.")
    if not all(np.isfinite(a).all() for a in (mu1, mu2, s1, s2)):
        raise ConfigError("frechet_distance got a mean or covariance with NaN or infinite entries; "
                          "check the features they were computed from.")
    s1, s2 = (s1 + s1.T) / 2, (s2 + s2.T) / 2
    root1 = _psd_sqrt(s1)
    inner = root1 @ s2 @ root1
    eig = np.linalg.eigvalsh((inner + inner.T) / 2)
    tr_covmean = np.sqrt(np.clip(eig, 0.0, None)).sum()
    diff = mu1 - mu2
    value = diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * tr_covmean
    # Rounding can leave a tiny negative number for (nearly) equal Gaussians; the distance itself is >= 0.
    return float(max(value, 0.0))


def frechet_from_features(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between the Gaussians fitted to ``a`` ``(n_a, dim)`` and ``b`` ``(n_b, dim)``."""
    xa, xb = _features(a, "the first feature set"), _features(b, "the second feature set")
    _same_dim(xa, xb)
    return frechet_distance(*gaussian_stats(xa), *gaussian_stats(xb))


def fad_infinity(real_features: np.ndarray, fake_features: np.ndarray, sizes: Sequence[int] | None = None,
                 seed: int = 0) -> dict[str, Any]:
    """FAD∞: the Fréchet distance extrapolated to infinitely many generated samples (Chong & Forsyth 2020).

    ``real_features`` ``(n_real, dim)`` are summarised once; for each subset size N in ``sizes`` (default: 15
    sizes evenly spaced from a fifth of ``fake_features`` ``(n_fake, dim)`` to all of it) N rows of the fake set
    are drawn without replacement (``numpy.random.default_rng(seed)``) and their FD to the real set computed.
    A least-squares line ``FD = a + b / N`` gives ``fad_inf`` = a (an extrapolation: it can be slightly negative
    when the sets match), ``slope`` = b, and ``r2``, how well the line fits. The bias of the finite real set
    stays in ``a``. Returns ``{"fad_inf", "slope", "r2", "sizes", "values"}``.
    """
    real = _features(real_features, "real_features")
    fake = _features(fake_features, "fake_features", min_rows=3)
    _same_dim(real, fake)
    n_fake = fake.shape[0]
    ns = _subset_sizes(sizes, n_fake)
    mu_r, sigma_r = gaussian_stats(real)
    rng = np.random.default_rng(seed)
    values = []
    for n in ns:
        subset = fake[rng.choice(n_fake, size=n, replace=False)]
        values.append(frechet_distance(mu_r, sigma_r, *gaussian_stats(subset)))
    inv_n = 1.0 / np.asarray(ns, dtype=np.float64)
    y = np.asarray(values)
    design = np.stack([np.ones_like(inv_n), inv_n], axis=1)
    (intercept, slope), *_ = np.linalg.lstsq(design, y, rcond=None)
    spread = float(((y - y.mean()) ** 2).sum())
    residual = float(((y - design @ np.array([intercept, slope])) ** 2).sum())
    r2 = 1.0 - residual / spread if spread > 0 else 1.0
    return {"fad_inf": float(intercept), "slope": float(slope), "r2": r2, "sizes": ns, "values": values}


def _psd_sqrt(s: np.ndarray) -> np.ndarray:
    """Symmetric square root of a symmetric PSD matrix; eigenvalues that rounding made negative count as 0."""
    eig, vec = np.linalg.eigh(s)
    return (vec * np.sqrt(np.clip(eig, 0.0, None))) @ vec.T


def _features(features: np.ndarray, name: str, min_rows: int = 2) -> np.ndarray:
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2:
        raise ConfigError(f"{name} must be a matrix of shape (n, dim), one row per sample, not shape {x.shape}.")
    if x.shape[0] < min_rows or x.shape[1] < 1:
        raise ConfigError(f"{name} has {x.shape[0]} rows of {x.shape[1]} features; at least {min_rows} rows of at "
                          f"least one feature are needed{' for a covariance' if min_rows == 2 else ''}.")
    if not np.isfinite(x).all():
        raise ConfigError(f"{name} contains NaN or infinite values; the model that produced them has diverged "
                          "or was given invalid input.")
    return x


def _same_dim(a: np.ndarray, b: np.ndarray) -> None:
    if a.shape[1] != b.shape[1]:
        raise ConfigError(f"the two feature sets have different dimensions ({a.shape[1]} and {b.shape[1]}); "
                          "they must come from the same embedding model.")


def _subset_sizes(sizes: Sequence[int] | None, n_fake: int) -> list[int]:
    if sizes is None:
        low = max(2, n_fake // 5)
        return sorted({round(float(n)) for n in np.linspace(low, n_fake, FAD_INF_STEPS)})
    try:
        whole = all(not isinstance(n, bool) and int(n) == n for n in sizes)
        ns = sorted({int(n) for n in sizes})
    except (TypeError, ValueError, OverflowError):
        whole, ns = False, []
    if not whole or len(ns) < 2 or ns[0] < 2 or ns[-1] > n_fake:
        raise ConfigError(f"sizes must hold at least two different whole numbers between 2 and the {n_fake} rows "
                          f"of fake_features, not {list(sizes)!r}.")
    return ns
