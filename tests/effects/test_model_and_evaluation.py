"""The effects VAEs' shapes, the two loss scalings, the embedding scores on clusters with a known answer, and the
map."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from vae_core.core.latents import fit_map_2d
from vae_core.core.models import SeparationOutput, build_model
from vae_core.effects import evaluation as ev
from vae_core.effects.loss import effective_beta, effects_loss


def test_the_conditional_vae_starts_as_no_effect_and_has_the_stated_shapes():
    torch.manual_seed(0)
    m = build_model("effects-cvae", {"latent_dim": 16}).eval()
    x = torch.rand(3, 2, 64, 128) * 0.9 + 0.05
    out = m(x)
    assert out.sources.shape == (3, 1, 64, 128) and out.mu.shape == out.logvar.shape == (3, 1, 16)
    assert torch.allclose(out.sources[:, 0], x[:, 1], atol=1e-3)  # an untrained decoder returns the dry input
    with pytest.raises(ValueError, match="dry segment"):
        m.decode(out.mu[:, 0])


def test_the_plain_vae_shapes_with_and_without_a_local_latent():
    m = build_model("effects-conv", {"latent_dim": 8})
    out = m(torch.rand(2, 64, 128))
    assert out.sources.shape == (2, 1, 64, 128) and out.mu.shape == (2, 1, 8) and m.embedding_dim == 8
    local = build_model("effects-conv", {"latent_dim": 8, "local_channels": 2})
    assert local.latent_dim == 8 + 2 * 128 // 16 and local(torch.rand(2, 64, 128)).mu.shape == (2, 1, 24)
    assert ev.encode_means(local, torch.rand(5, 64, 128)).shape == (5, 8)  # the embedding: the global part


def test_the_two_scalings_differ_by_the_stated_factor():
    """On a hand example: x̂ - x = 0.1 in every one of P bins, KL = 2 nats."""
    p, sigma = 64 * 128, 0.1
    target = torch.zeros(1, 64, 128)
    out = SeparationOutput(torch.full((1, 1, 64, 128), 0.1), None, torch.full((1, 1, 2), 1.0),
                           torch.zeros(1, 1, 2), None)
    elbo = effects_loss(out, target, beta=1.0, scaling="elbo", recon_scale=sigma)
    report = effects_loss(out, target, beta=1.0, scaling="report", recon_scale=sigma)
    assert float(elbo["recon"]) == pytest.approx(p * 0.01 / (2 * sigma**2))  # Σ (x̂ - x)² / 2σ²
    assert float(report["recon"]) == pytest.approx(0.01)  # F.mse_loss(reduction="mean")
    assert float(elbo["kl"]) == float(report["kl"]) == pytest.approx(2 * 0.5)  # ½ μ² per dimension
    factor = float(elbo["recon"] / report["recon"])
    assert factor == pytest.approx(p / (2 * sigma**2))
    # Scaled to the ELBO's reconstruction, the report's loss weighs the KL by the effective β.
    assert float(report["total"]) * factor == pytest.approx(float(elbo["recon"] + effective_beta(1.0, "report", p, sigma) * elbo["kl"]))
    assert effective_beta(1.0, "elbo", p, sigma) == 1.0
    assert effective_beta(1.0, "report", p, 0.5**0.5) == pytest.approx(p)  # σ² = ½: plain sums of squares


def clusters(n_per: int, centres: np.ndarray, spread: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = np.concatenate([c + spread * rng.standard_normal((n_per, centres.shape[1])) for c in centres])
    return x, np.repeat(np.arange(len(centres)), n_per)


def test_probe_knn_and_silhouette_on_clusters_with_a_known_answer():
    centres = np.eye(4, 8) * 5.0
    fit_x, fit_y = clusters(30, centres, 0.5, 0)
    test_x, test_y = clusters(20, centres, 0.5, 1)
    scores = ev.embedding_scores(fit_x, fit_y, test_x, test_y)
    assert scores["probe_acc"] == 1.0 and scores["knn_acc"] == 1.0 and scores["silhouette"] > 0.7
    assert ev.knn_loo_accuracy(test_x, test_y) == 1.0
    # Pure noise: chance level (4 classes) and no structure.
    noise = ev.embedding_scores(fit_x, np.random.default_rng(2).permutation(fit_y), test_x,
                                np.random.default_rng(3).permutation(test_y))
    assert noise["knn_acc"] < 0.5 and noise["silhouette"] < 0.05


@pytest.mark.parametrize("method", ["pca", "umap"])
def test_maps_place_new_points_where_the_old_ones_went(method):
    x, _ = clusters(20, np.eye(3, 6) * 4.0, 0.3, 0)
    xy, used, place = fit_map_2d(x, method, seed=0)
    assert xy.shape == (60, 2) and used == method
    near = place(x[:5] + 0.01)
    assert near.shape == (5, 2)
    assert np.linalg.norm(near - xy[:5], axis=1).max() < 0.5 * np.ptp(xy, axis=0).max()
