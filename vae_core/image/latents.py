"""What an image model's latents hold: summaries over test mixtures, the posterior-collapse report, decoding,
traversals and interpolations. Shapes: latents ``(N, source, latent_dim)``; decoded images ``(..., 28, 28)``."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from vae_core.core.latents import activity, active_units, kl_per_dimension

from vae_core.image.mixing import load_pairs, mix
from vae_core.image.model import SOURCES
from vae_core.image.inference import ImageSeparator


@dataclass
class LatentSummary:
    """Encodings of test mixtures and what they say about each latent dimension (numpy, for pages)."""

    mu: np.ndarray  # (N, source, latent_dim)
    logvar: np.ndarray
    digit_labels: np.ndarray  # (N,)
    clothing_labels: np.ndarray
    indices: np.ndarray  # (N,) rows of the fixed test pairs (pair seed 0)
    kl: np.ndarray  # (source, latent_dim) nats
    activity: np.ndarray  # (source, latent_dim)
    active: np.ndarray  # (source, latent_dim) bool

    def order(self, source: int) -> np.ndarray:
        """Dimensions of one latent sorted by KL, most informative first."""
        return np.argsort(-self.kl[source], kind="stable")


def summarize(separator: ImageSeparator, n: int = 2000, weight: float = 0.5,
              data_root: Path | None = None) -> LatentSummary:
    """Encode the first ``n`` fixed test mixtures and summarise each latent dimension."""
    pairs = load_pairs("test", 0, root=data_root, limit=n)
    x = mix(*pairs.sources(slice(None)), weight)
    mu, logvar = separator.encode(x)
    return LatentSummary(
        mu.numpy(), logvar.numpy(), pairs.digit_labels.numpy(), pairs.clothing_labels.numpy(),
        np.arange(len(pairs)), kl_per_dimension(mu, logvar).numpy(), activity(mu).numpy(),
        active_units(mu).numpy(),
    )


COLLAPSE_KL_NATS = 0.5
COLLAPSE_SPREAD = 0.02


def collapse_report(separator: ImageSeparator, summary: LatentSummary, n: int = 500) -> dict[str, dict]:
    """Signs of posterior collapse for each source's latent.

    A latent has collapsed when its KL is near zero (< 0.5 nats in all), when none of its units is active, or
    when its decoder draws nearly the same image whatever the input (pixel standard deviation across the
    decoded test mixtures, averaged over pixels, < 0.02). Returns per source: the three figures, the reasons
    found, and ``collapsed``.
    """
    decoded = separator.decode(torch.as_tensor(summary.mu[:n])).numpy()  # (n, source, 28, 28)
    report = {}
    for s, name in enumerate(SOURCES):
        kl = float(summary.kl[s].sum())
        active = int(summary.active[s].sum())
        spread = float(decoded[:, s].std(0).mean())
        reasons = []
        if kl < COLLAPSE_KL_NATS:
            reasons.append(f"KL is near zero ({kl:.2f} nats)")
        if active == 0:
            reasons.append("no active units")
        if spread < COLLAPSE_SPREAD:
            reasons.append(f"the decoded {name}s barely vary across inputs (pixel std {spread:.3f})")
        report[name] = {"kl_nats": kl, "active_units": active, "output_spread": spread, "reasons": reasons,
                        "collapsed": bool(reasons)}
    return report


def decode(separator: ImageSeparator, z: np.ndarray) -> np.ndarray:
    """Decode latents ``(2, latent_dim)`` or ``(N, 2, latent_dim)`` into images ``(..., 2, 28, 28)``."""
    t = torch.as_tensor(np.asarray(z, dtype=np.float32))
    single = t.ndim == 2
    out = separator.decode(t[None] if single else t).numpy()
    return out[0] if single else out


def traversal(separator: ImageSeparator, z0: np.ndarray, source: int, dims: list[int],
              values: list[float]) -> np.ndarray:
    """Vary one dimension at a time of one latent around ``z0`` ``(2, latent_dim)``:
    images ``(len(dims), len(values), 28, 28)`` of that source."""
    grid = np.repeat(np.asarray(z0, dtype=np.float32)[None, None], len(dims), 0).repeat(len(values), 1)
    for i, d in enumerate(dims):
        grid[i, :, source, d] = values
    images = decode(separator, grid.reshape(-1, *grid.shape[2:]))[:, source]
    return images.reshape(len(dims), len(values), *images.shape[-2:])


def interpolate(separator: ImageSeparator, z_a: np.ndarray, z_b: np.ndarray, steps: int = 8) -> np.ndarray:
    """Decode straight-line interpolations between two latents ``(2, latent_dim)``: ``(steps, 2, 28, 28)``."""
    t = np.linspace(0.0, 1.0, steps, dtype=np.float32)[:, None, None]
    return decode(separator, (1 - t) * np.asarray(z_a, np.float32) + t * np.asarray(z_b, np.float32))


PLANE_SPAN = 3.0
"""The latent plane spans ``[-3, 3]`` on both axes: 99.7 % of the N(0, I) prior's mass on each axis."""


def plane_dims(summary: LatentSummary, source: int) -> tuple[int, int]:
    """The two dimensions of one latent that its plane shows: the two with the most KL (a 2-D latent's own
    axes, in order)."""
    order = summary.order(source)
    first, second = (int(order[0]), int(order[1])) if len(order) > 1 else (0, 0)
    return (first, second) if first < second else (second, first)


def plane_values(n: int, span: float = PLANE_SPAN) -> np.ndarray:
    """The ``n`` evenly spaced values along each axis of the plane, ``-span`` to ``span``."""
    return np.linspace(-span, span, n, dtype=np.float32)


def plane(separator: ImageSeparator, source: int, dims: tuple[int, int], z0: np.ndarray, n: int = 15,
          span: float = PLANE_SPAN) -> np.ndarray:
    """The classic manifold figure (Kingma & Welling 2014, fig. 4): what one decoder draws over a grid of its
    latent plane. ``dims`` are the two dimensions varied over ``[-span, span]``; any others stay at ``z0``
    ``(2, latent_dim)``. Returns ``(n, n, 28, 28)``: row ``i`` has the second dimension at its ``i``-th value
    from the top (largest first, as a plot's y axis), column ``j`` the first dimension's ``j``-th value."""
    values = plane_values(n, span)
    grid = np.repeat(np.asarray(z0, dtype=np.float32)[None], n * n, 0)
    ys, xs = np.meshgrid(values[::-1], values, indexing="ij")
    grid[:, source, dims[0]] = xs.ravel()
    grid[:, source, dims[1]] = ys.ravel()
    return decode(separator, grid)[:, source].reshape(n, n, 28, 28)


__all__ = ["LatentSummary", "PLANE_SPAN", "SOURCES", "collapse_report", "decode", "interpolate", "plane",
           "plane_dims", "plane_values", "summarize", "traversal"]
