"""The latent prior fitted after training: it recovers a known autoregression, stays stable, samples the shapes
asked for, and a generator uses it only when it has one."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from vae_core.core.errors import LabError
from vae_core.core.models import build_model
from vae_core.music.inference import MusicGenerator
from vae_core.music.prior import MAX_RADIUS, FittedPrior, fit_prior


def var1(a: np.ndarray, mean: np.ndarray, steps: int, seed: int) -> np.ndarray:
    g = np.random.default_rng(seed)
    z = np.zeros((steps, len(mean)))
    for t in range(1, steps):
        z[t] = a @ z[t - 1] + 0.3 * g.standard_normal(len(mean))
    return z + mean


def test_fit_recovers_a_known_transition_and_mean():
    a = np.array([[0.8, 0.1], [0.0, 0.5]])
    mean = np.array([2.0, -1.0])
    prior = fit_prior([var1(a, mean, 4000, s) for s in range(3)])
    np.testing.assert_allclose(prior.transition, a, atol=0.03)
    np.testing.assert_allclose(prior.mean, mean, atol=0.1)
    noise = np.asarray(prior.noise_chol) @ np.asarray(prior.noise_chol).T
    np.testing.assert_allclose(noise, 0.09 * np.eye(2), atol=0.01)


def test_an_explosive_fit_is_shrunk_and_long_samples_stay_bounded():
    drift = np.cumsum(np.ones((500, 3)), axis=0) * 0.01  # a slow trend: least squares gives a radius >= 1
    prior = fit_prior([drift + np.random.default_rng(0).standard_normal((500, 3)) * 0.01])
    assert np.abs(np.linalg.eigvals(np.asarray(prior.transition))).max() <= MAX_RADIUS + 1e-9
    z = prior.sample(2, 5000, 1.0, np.random.default_rng(0))
    assert z.shape == (2, 5000, 3) and np.isfinite(z).all() and np.abs(z).max() < 100


def test_sampling_repeats_for_a_seed_and_temperature_zero_follows_the_mean_path():
    prior = fit_prior([var1(np.eye(2) * 0.5, np.array([1.0, 1.0]), 300, 0)])
    g = lambda: np.random.default_rng(4)  # noqa: E731
    np.testing.assert_array_equal(prior.sample(3, 10, 1.0, g()), prior.sample(3, 10, 1.0, g()))
    cold = prior.sample(1, 5, 0.0, g())
    np.testing.assert_allclose(cold[0], np.tile(prior.mean, (5, 1)), atol=1e-5)


def test_a_generator_samples_the_fitted_prior_only_when_it_has_one():
    torch.manual_seed(0)
    model = build_model("music-spec", {"hidden": 16, "latent_channels": 4})
    plain = MusicGenerator(model, {"name": "plain"})
    with pytest.raises(LabError, match="fit-prior"):
        plain.generate(1, 1.0, prior="fitted")
    with pytest.raises(LabError):
        plain.generate(1, 1.0, prior="uniform")
    prior = fit_prior([var1(np.eye(4) * 0.9, np.full(4, 3.0), 200, 0)])
    fitted = MusicGenerator(model, {"name": "fitted", "latent_prior": prior.to_json()})
    a = fitted.generate(2, 1.0, seed=1, prior="fitted")
    assert a.shape == (2, 22050)
    np.testing.assert_array_equal(a, fitted.generate(2, 1.0, seed=1, prior="fitted"))
    assert not np.array_equal(a, fitted.generate(2, 1.0, seed=1, prior="standard"))


def test_a_malformed_stored_prior_is_refused_with_a_sentence():
    with pytest.raises(LabError, match="fit-prior"):
        FittedPrior.from_json({"mean": [0.0, 1.0], "start_chol": [[1.0]], "transition": [[0.0]], "noise_chol": [[1.0]],
                               "steps": 3})
    with pytest.raises(LabError):
        FittedPrior.from_json({"mean": [0.0]})
