"""Fréchet distance and FAD∞: closed forms, the textbook scipy route, and the 1/N bias the extrapolation removes."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from vae_core.core.errors import ConfigError, LabError
from vae_core.core.frechet import (
    fad_infinity,
    frechet_distance,
    frechet_from_features,
    gaussian_stats,
)


def scipy_frechet(mu1, s1, mu2, s2) -> float:
    """The usual implementation (pytorch-fid, fadtk): the general matrix square root of S1 S2."""
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def test_gaussian_stats_are_the_sample_mean_and_unbiased_covariance():
    x = np.array([[1.0, 2.0], [3.0, 6.0], [5.0, 7.0]])
    mu, sigma = gaussian_stats(x)
    assert mu == pytest.approx([3.0, 5.0])
    # By hand: deviations (-2, -3), (0, 1), (2, 2); divided by n - 1 = 2.
    assert sigma == pytest.approx(np.array([[4.0, 5.0], [5.0, 7.0]]))
    assert gaussian_stats(np.arange(5.0)[:, None])[1].shape == (1, 1)


def test_diagonal_gaussians_match_the_closed_form():
    mu1, mu2 = np.array([0.0, 1.0, -2.0]), np.array([1.0, 1.0, 0.5])
    v1, v2 = np.array([1.0, 4.0, 0.25]), np.array([9.0, 1.0, 0.25])
    expected = ((mu1 - mu2) ** 2).sum() + (v1 + v2 - 2 * np.sqrt(v1 * v2)).sum()  # 7.25 + 4 + 1 + 0 = 12.25
    assert expected == pytest.approx(12.25)
    assert frechet_distance(mu1, np.diag(v1), mu2, np.diag(v2)) == pytest.approx(12.25, rel=1e-12)


def test_rotated_gaussians_match_the_closed_form():
    """Covariances that do not commute: Tr((S1 S2)^1/2) needs the full matrix square root, not the diagonals."""
    c, s = np.cos(0.7), np.sin(0.7)
    rot = np.array([[c, -s], [s, c]])
    s1 = np.diag([4.0, 1.0])
    s2 = rot @ np.diag([9.0, 0.25]) @ rot.T
    # For 2x2 PSD matrices, Tr(M^1/2) = sqrt(Tr M + 2 sqrt(det M)) with M = S1 S2.
    m = s1 @ s2
    tr_sqrt = np.sqrt(np.trace(m) + 2 * np.sqrt(np.linalg.det(m)))
    expected = np.trace(s1) + np.trace(s2) - 2 * tr_sqrt
    got = frechet_distance(np.zeros(2), s1, np.zeros(2), s2)
    assert got == pytest.approx(expected, rel=1e-10)
    assert got > 0.1  # not a degenerate case


def test_random_features_agree_with_the_scipy_sqrtm_route():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(300, 16))
    b = rng.normal(size=(250, 16)) @ rng.normal(size=(16, 16)) * 0.4 + 0.3
    stats_a, stats_b = gaussian_stats(a), gaussian_stats(b)
    ours = frechet_distance(*stats_a, *stats_b)
    assert ours == pytest.approx(scipy_frechet(*stats_a, *stats_b), rel=1e-6)
    assert frechet_from_features(a, b) == ours
    assert ours > 1.0


def test_the_distance_is_symmetric_and_zero_for_identical_sets():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(80, 12)), rng.normal(1.0, 2.0, size=(60, 12))
    assert frechet_from_features(a, b) == pytest.approx(frechet_from_features(b, a), rel=1e-9)
    assert frechet_from_features(a, a) == pytest.approx(0.0, abs=1e-9)
    assert frechet_from_features(a, a[::-1]) == pytest.approx(0.0, abs=1e-9)  # order of rows does not matter


def test_fewer_samples_than_dimensions_give_a_finite_real_distance():
    """Rank-deficient covariances (20 frames of 64 features) are routine for small evaluation sets."""
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(20, 64)), rng.normal(0.5, 1.0, size=(20, 64))
    d = frechet_from_features(a, b)
    # ||dmu||^2 alone is about 64 * 0.25; the covariance term adds to it.
    assert np.isfinite(d) and d > 10.0
    assert frechet_from_features(a, a) == pytest.approx(0.0, abs=1e-8)


@settings(max_examples=60, deadline=None)
@given(arrays(np.float64, st.tuples(st.integers(2, 7), st.integers(1, 5)),
              elements=st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False)),
       st.floats(-10, 10), st.floats(0.1, 3))
def test_the_distance_is_non_negative_and_symmetric_on_any_features(a, shift, scale):
    """Duplicated rows, constant columns and tiny sets included: never negative, never NaN, symmetric."""
    b = a[::-1] * scale + shift
    d_ab, d_ba = frechet_from_features(a, b), frechet_from_features(b, a)
    assert np.isfinite(d_ab) and d_ab >= 0.0
    assert d_ab == pytest.approx(d_ba, rel=1e-6, abs=1e-6 * (1 + np.abs(a).max() ** 2))


def test_fad_infinity_removes_the_small_sample_bias_of_equal_distributions():
    rng = np.random.default_rng(3)
    real, fake = rng.normal(size=(4000, 8)), rng.normal(size=(2000, 8))
    out = fad_infinity(real, fake, seed=0)
    assert set(out) == {"fad_inf", "slope", "r2", "sizes", "values"}
    assert out["sizes"] == sorted(out["sizes"]) and out["sizes"][-1] == 2000 and len(out["sizes"]) == 15
    values = np.array(out["values"])
    # Finite N: a clear positive bias that shrinks with N (about d(d+3)/4 / N here) ...
    assert values[0] > 0.03 and values[0] > 2 * values[-1]
    assert np.corrcoef(1 / np.array(out["sizes"]), values)[0, 1] > 0.8
    assert out["slope"] > 0
    # ... which the extrapolation removes (what is left is the bias of the 4,000 real rows).
    assert abs(out["fad_inf"]) < 0.02 and abs(out["fad_inf"]) < values[0] / 3


def test_fad_infinity_recovers_the_squared_shift_of_the_means():
    rng = np.random.default_rng(4)
    shift = np.array([0.6, 0.0, -0.8, 0.0, 0.0, 0.0])  # ||shift||^2 = 1
    # Large sets: the sample means' own error moves ||dmu||^2 by about 2 sqrt(1/n_real + 1/n_fake) = 0.014.
    real, fake = rng.normal(size=(40000, 6)), rng.normal(size=(40000, 6)) + shift
    sizes = [1000, 2000, 5000, 10000, 20000, 40000]
    out = fad_infinity(real, fake, sizes=sizes, seed=1)
    assert out["sizes"] == sizes and len(out["values"]) == len(sizes)
    assert out["fad_inf"] == pytest.approx(1.0, abs=0.06)
    assert out["values"][-1] == pytest.approx(frechet_from_features(real, fake), rel=1e-9)  # N = all rows


def test_fad_infinity_is_reproducible_by_seed():
    rng = np.random.default_rng(5)
    real, fake = rng.normal(size=(300, 4)), rng.normal(size=(200, 4))
    assert fad_infinity(real, fake, seed=7) == fad_infinity(real, fake, seed=7)
    assert fad_infinity(real, fake, seed=7)["values"] != fad_infinity(real, fake, seed=8)["values"]


@pytest.mark.parametrize(("call", "words"), [
    (lambda: gaussian_stats(np.ones((1, 4))), "at least 2 rows"),
    (lambda: gaussian_stats(np.ones(4)), "shape (n, dim)"),
    (lambda: gaussian_stats(np.array([[0.0, 1.0], [np.nan, 2.0]])), "NaN or infinite"),
    (lambda: frechet_from_features(np.ones((5, 3)), np.ones((5, 4))), "different dimensions"),
    (lambda: frechet_distance(np.zeros(2), np.eye(2), np.zeros(3), np.eye(3)), "same dim"),
    (lambda: frechet_distance(np.zeros(2), np.full((2, 2), np.inf), np.zeros(2), np.eye(2)), "NaN or infinite"),
    (lambda: fad_infinity(np.ones((5, 2)), np.ones((2, 2))), "at least 3 rows"),
    (lambda: fad_infinity(np.ones((5, 2)), np.ones((10, 2)), sizes=[5]), "at least two different"),
    (lambda: fad_infinity(np.ones((5, 2)), np.ones((10, 2)), sizes=[5, 11]), "between 2 and the 10 rows"),
    (lambda: fad_infinity(np.ones((5, 2)), np.ones((10, 2)), sizes=[1, 5]), "between 2 and"),
    (lambda: fad_infinity(np.ones((5, 2)), np.ones((10, 2)), sizes=[2.5, 5]), "whole numbers"),
    (lambda: fad_infinity(np.ones((5, 2)), np.ones((10, 2)), sizes=["a", 5]), "whole numbers"),
])
def test_bad_input_raises_one_sentence(call, words):
    with pytest.raises(ConfigError) as info:
        call()
    message = str(info.value)
    assert isinstance(info.value, LabError)
    assert words in message
    assert message.endswith(".") and message.count(". ") == 0 and "\n" not in message
