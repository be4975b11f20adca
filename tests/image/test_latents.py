"""Latent statistics on synthetic encodings with known answers, and decoding helpers on a small real model."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from vae_core.core.latents import active_units, activity, kl_per_dimension, map_2d
from vae_core.image.latents import decode, interpolate, summarize, traversal
from vae_core.core.models import build_model
from vae_core.image.inference import ImageSeparator


def test_kl_per_dimension_by_hand():
    mu = torch.zeros(4, 2, 3)
    mu[:, 0, 1] = 2.0  # KL = mu^2 / 2 = 2 nats when sigma = 1
    logvar = torch.zeros(4, 2, 3)
    logvar[:, 1, 2] = np.log(4.0)  # sigma^2 = 4: KL = (4 - 1 - log 4) / 2
    kl = kl_per_dimension(mu, logvar)
    expected = torch.zeros(2, 3)
    expected[0, 1] = 2.0
    expected[1, 2] = (4.0 - 1.0 - np.log(4.0)) / 2
    assert torch.allclose(kl, expected, atol=1e-6)


def test_active_units_follow_burda_threshold():
    g = torch.Generator().manual_seed(0)
    n = 20000
    mu = torch.zeros(n, 2, 4)
    mu[:, 0, 0] = torch.randn(n, generator=g)  # variance 1: active
    mu[:, 0, 1] = 0.05 * torch.randn(n, generator=g)  # variance 0.0025: inactive
    mu[:, 0, 2] = 0.2 * torch.randn(n, generator=g)  # variance 0.04: active
    mu[:, 1, 3] = 3.0  # constant, however large: inactive
    assert torch.allclose(activity(mu)[0, :3], torch.tensor([1.0, 0.0025, 0.04]), rtol=0.05)
    assert active_units(mu).tolist() == [[True, False, True, False], [False, False, False, False]]


def test_pca_map_keeps_the_main_direction_and_is_deterministic():
    g = np.random.default_rng(0)
    t = g.normal(size=500)
    direction = np.array([1.0, 2.0, 0.0, -1.0, 0.5])
    points = np.outer(t, direction) + 0.01 * g.normal(size=(500, 5))
    proj, method = map_2d(points)
    assert method == "pca" and proj.shape == (500, 2)
    assert abs(np.corrcoef(proj[:, 0], t)[0, 1]) > 0.999  # first axis is the line
    assert proj[:, 1].std() < 0.02 * proj[:, 0].std()
    again, _ = map_2d(points[::-1].copy())
    assert np.allclose(np.sort(again[:, 0]), np.sort(proj[:, 0]))  # same map, same orientation


@pytest.fixture(scope="module")
def separator():
    torch.manual_seed(0)
    return ImageSeparator(build_model("conv", {"latent_dim": 6, "channels": [4, 4, 4], "hidden": 16}).eval(), {})


def test_traversal_changes_only_the_chosen_dimension_and_source(separator):
    z0 = np.zeros((2, 6), np.float32)
    grid = traversal(separator, z0, source=1, dims=[0, 3], values=[-3.0, 0.0, 3.0])
    assert grid.shape == (2, 3, 28, 28)
    assert np.allclose(grid[0, 1], decode(separator, z0)[1], atol=1e-6)  # value 0 is the start point
    assert not np.allclose(grid[0, 0], grid[0, 2])  # moving the dimension changes the clothing image
    z = z0.copy()
    z[1, 3] = 3.0
    assert np.allclose(grid[1, 2], decode(separator, z)[1], atol=1e-6)


def test_interpolation_starts_and_ends_at_the_two_codes(separator):
    g = np.random.default_rng(1)
    a, b = g.normal(size=(2, 6)).astype(np.float32), g.normal(size=(2, 6)).astype(np.float32)
    path = interpolate(separator, a, b, steps=5)
    assert path.shape == (5, 2, 28, 28)
    assert np.allclose(path[0], decode(separator, a), atol=1e-6)
    assert np.allclose(path[-1], decode(separator, b), atol=1e-6)


def test_summary_of_real_test_mixtures(separator):
    s = summarize(separator, n=300)
    assert s.mu.shape == (300, 2, 6) and s.kl.shape == (2, 6) and s.active.dtype == bool
    assert set(np.unique(s.digit_labels)) <= set(range(10))
    assert list(s.order(0)) == list(np.argsort(-s.kl[0], kind="stable"))


def test_the_latent_plane_is_the_decoded_grid_with_y_up(separator):
    """``plane`` decodes an n x n grid of one source's plane: row i, column j is the decoder at (x_j, y_i) with y
    from the top (largest first) and the other source's latent untouched."""
    from vae_core.image.latents import plane, plane_values

    z0 = np.random.default_rng(0).standard_normal((2, separator.latent_dim)).astype(np.float32)
    grid = plane(separator, 1, (0, 2), z0, n=5)
    assert grid.shape == (5, 5, 28, 28)
    values = plane_values(5)
    z = z0.copy()
    z[1, 0], z[1, 2] = values[3], values[::-1][1]  # column 3, row 1
    np.testing.assert_allclose(grid[1, 3], decode(separator, z)[1], atol=1e-6)
    # The pictures change along each axis.
    assert np.abs(grid[:, 0] - grid[:, -1]).mean() > 1e-3 and np.abs(grid[0] - grid[-1]).mean() > 1e-3


def test_the_shipped_two_dimensional_model_fills_its_plane(data_dir):
    """image-mlp-z2: both dimensions of each latent carry information, so its plane is the whole picture, and its
    drawings differ across the plane (a collapsed decoder would draw one image everywhere)."""
    from vae_core import load_checkpoint
    from vae_core.image.latents import plane, plane_dims

    sep = load_checkpoint("image-mlp-z2")
    summary = summarize(sep, n=500)
    assert sep.latent_dim == 2 and summary.active.all() and (summary.kl > 1.0).all()
    for source in (0, 1):
        assert plane_dims(summary, source) == (0, 1)
        grid = plane(sep, source, (0, 1), np.zeros((2, 2), np.float32), n=7)
        assert grid.reshape(49, -1).std(0).mean() > 0.1
