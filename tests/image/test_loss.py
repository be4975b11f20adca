"""The separation ELBO terms against hand computations on tiny tensors."""
from __future__ import annotations

import math

import pytest
import torch

from vae_core.image.loss import LOSS_TERMS, bernoulli_nll, separation_loss
from vae_core.image.model import ratio_split
from vae_core.core.losses import kl_per_dim
from vae_core.core.models import SeparationOutput

B, D = 3, 2


def _bce_by_hand(pred: torch.Tensor, target: torch.Tensor) -> float:
    total = 0.0
    for p, t in zip(pred.flatten().tolist(), target.flatten().tolist()):
        total -= t * math.log(p) + (1 - t) * math.log(1 - p)
    return total / len(pred)


def _kl_by_hand(mu: torch.Tensor, logvar: torch.Tensor) -> float:
    """Per-example KL summed over dimensions, averaged over the batch; mu, logvar are (B, D)."""
    total = 0.0
    for m_row, lv_row in zip(mu.tolist(), logvar.tolist()):
        total += -0.5 * sum(1 + lv - m * m - math.exp(lv) for m, lv in zip(m_row, lv_row))
    return total / len(mu)


@pytest.fixture
def case():
    g = torch.Generator().manual_seed(0)
    sources = torch.rand((B, 2, 4, 4), generator=g) * 0.9 + 0.05
    w = 0.4
    mixture_out = w * sources[:, 0] + (1 - w) * sources[:, 1]
    mu = torch.randn((B, 2, D), generator=g)
    logvar = torch.randn((B, 2, D), generator=g) * 0.5
    out = SeparationOutput(sources, mixture_out, mu, logvar, mu.clone())
    digit = torch.rand((B, 4, 4), generator=g)
    clothing = (torch.rand((B, 4, 4), generator=g) > 0.5).float()
    mixture = w * digit + (1 - w) * clothing
    return out, digit, clothing, mixture


def test_terms_are_named(case):
    terms = separation_loss(*case)
    assert set(terms) == set(LOSS_TERMS) == {"total", "recon", "kl", "recon_digit", "recon_clothing",
                                             "recon_mixture", "kl_digit", "kl_clothing",
                                             "recon_consistent", "recon_split"}
    assert all(t.ndim == 0 for t in terms.values())


def test_terms_by_hand(case):
    out, digit, clothing, mixture = case
    terms = separation_loss(out, digit, clothing, mixture, beta=1.0)
    assert terms["recon_digit"].item() == pytest.approx(_bce_by_hand(out.sources[:, 0], digit), rel=1e-5)
    assert terms["recon_clothing"].item() == pytest.approx(_bce_by_hand(out.sources[:, 1], clothing), rel=1e-5)
    assert terms["recon_mixture"].item() == pytest.approx(_bce_by_hand(out.mixture, mixture), rel=1e-5)
    assert terms["kl_digit"].item() == pytest.approx(_kl_by_hand(out.mu[:, 0], out.logvar[:, 0]), rel=1e-5)
    assert terms["kl_clothing"].item() == pytest.approx(_kl_by_hand(out.mu[:, 1], out.logvar[:, 1]), rel=1e-5)
    recon = terms["recon_digit"] + terms["recon_clothing"] + terms["recon_mixture"]
    kl = terms["kl_digit"] + terms["kl_clothing"]
    torch.testing.assert_close(terms["recon"], recon)
    torch.testing.assert_close(terms["kl"], kl)
    torch.testing.assert_close(terms["total"], recon + kl)


@pytest.mark.parametrize("beta", [0.0, 0.25, 4.0])
def test_total_is_recon_plus_beta_kl(case, beta):
    terms = separation_loss(*case, beta=beta)
    torch.testing.assert_close(terms["total"], terms["recon"] + beta * terms["kl"])
    # The reported terms do not depend on beta.
    base = separation_loss(*case, beta=1.0)
    torch.testing.assert_close(terms["kl"], base["kl"])
    torch.testing.assert_close(terms["recon"], base["recon"])


def test_kl_is_zero_for_the_prior_and_positive_otherwise():
    zeros = torch.zeros((2, 2, 3))
    assert torch.equal(kl_per_dim(zeros, zeros), zeros)
    mu = torch.tensor([[1.0, -2.0]])
    logvar = torch.tensor([[0.0, math.log(4.0)]])
    # -1/2 (1 + lv - mu^2 - e^lv): dim 0 -> 0.5, dim 1 -> -0.5 (1 + ln4 - 4 - 4)
    expected = torch.tensor([[0.5, -0.5 * (1 + math.log(4.0) - 8.0)]])
    torch.testing.assert_close(kl_per_dim(mu, logvar), expected)


def test_bce_of_perfect_prediction_is_finite():
    target = torch.tensor([[0.0, 1.0], [1.0, 0.0]])
    value = bernoulli_nll(target.clone(), target)  # pred exactly 0 / 1 is clamped, not log(0)
    assert math.isfinite(value.item()) and 0 <= value.item() < 1e-4


def test_free_bits_floor_the_total_only(case):
    out, digit, clothing, mixture = case
    mu = out.mu.clone()
    logvar = out.logvar.clone()
    mu[:, 0, 0], logvar[:, 0, 0] = 0.0, 0.0  # one dimension with exactly zero KL
    out = out._replace(mu=mu, logvar=logvar)
    plain = separation_loss(out, digit, clothing, mixture, beta=2.0)
    fb = 0.5
    floored = separation_loss(out, digit, clothing, mixture, beta=2.0, free_bits=fb)
    # Reported KL terms are the true ones.
    for name in ("kl", "kl_digit", "kl_clothing", "recon"):
        torch.testing.assert_close(floored[name], plain[name])
    # Each dimension's batch-mean KL is floored at fb in the optimised total.
    per_dim = kl_per_dim(mu, logvar).mean(0)  # (source, D)
    assert per_dim[0, 0] == 0 and (per_dim < fb).any() and (per_dim > fb).any()
    by_hand = sum(max(v, fb) for v in per_dim.flatten().tolist())
    assert floored["total"].item() == pytest.approx(plain["recon"].item() + 2.0 * by_hand, rel=1e-5)
    assert floored["total"] > plain["total"]


def test_free_bits_gradient_vanishes_below_the_floor(case):
    out, digit, clothing, mixture = case
    mu = torch.zeros((B, 2, D), requires_grad=True)
    logvar = torch.zeros((B, 2, D))
    with torch.no_grad():
        logvar[:, 1] = 3.0  # source 1 far above the floor
    logvar.requires_grad_(True)
    mu_small = mu + 0.01  # source 0 tiny KL, below the floor
    out = out._replace(mu=mu_small, logvar=logvar)
    separation_loss(out, digit, clothing, mixture, free_bits=1.0)["total"].backward()
    assert torch.all(logvar.grad[:, 0] == 0) and torch.all(mu.grad[:, 0] == 0)
    assert torch.all(logvar.grad[:, 1] != 0)


def test_consistency_term_scores_projected_sources(case):
    out, digit, clothing, mixture = case
    inputs = mixture.clamp(0, 1)
    terms = separation_loss(out, digit, clothing, mixture, beta=1.0, inputs=inputs, weight=0.5)
    w = 0.5
    r = inputs - (w * out.sources[:, 0] + (1 - w) * out.sources[:, 1])
    d_proj = (out.sources[:, 0] + r).clamp(1e-6, 1 - 1e-6)  # w / (w^2 + (1-w)^2) = 1 at w = 0.5
    c_proj = (out.sources[:, 1] + r).clamp(1e-6, 1 - 1e-6)
    expected = _bce_by_hand(d_proj, digit) + _bce_by_hand(c_proj, clothing)
    assert terms["recon_consistent"].item() == pytest.approx(expected, rel=1e-4)
    # Off by default: reported, but not in the total; with a weight it is added.
    assert terms["total"].item() == pytest.approx((terms["recon"] + terms["kl"]).item(), rel=1e-6)
    on = separation_loss(out, digit, clothing, mixture, beta=1.0, inputs=inputs, weight=0.5, consistency=2.0)
    assert on["total"].item() == pytest.approx((terms["total"] + 2.0 * terms["recon_consistent"]).item(), rel=1e-6)


def test_split_term_scores_ratio_split_sources(case):
    out, digit, clothing, mixture = case
    inputs = mixture.clamp(0, 1)
    terms = separation_loss(out, digit, clothing, mixture, beta=1.0, inputs=inputs, weight=0.4)
    split = ratio_split(out.sources, inputs, 0.4)
    expected = _bce_by_hand(split[:, 0].clamp(1e-6, 1 - 1e-6), digit) + \
        _bce_by_hand(split[:, 1].clamp(1e-6, 1 - 1e-6), clothing)
    assert terms["recon_split"].item() == pytest.approx(expected, rel=1e-4)
    assert terms["total"].item() == pytest.approx((terms["recon"] + terms["kl"]).item(), rel=1e-6)
    on = separation_loss(out, digit, clothing, mixture, beta=1.0, inputs=inputs, weight=0.4, split=0.5)
    assert on["total"].item() == pytest.approx((terms["total"] + 0.5 * terms["recon_split"]).item(), rel=1e-6)


def test_the_reports_scaling_is_a_mean_over_pixels_and_keeps_the_summed_kl():
    """The loss-scale trap: F.mse_loss(reduction="mean") per reconstruction term, the KL summed as in the ELBO."""
    b = 4
    digit, clothing = torch.zeros(b, 28, 28), torch.ones(b, 28, 28)
    mixture = 0.5 * digit + 0.5 * clothing
    sources = torch.stack([torch.full((b, 28, 28), 0.1), torch.full((b, 28, 28), 0.7)], 1)
    mu = torch.ones(b, 2, 3)
    out = SeparationOutput(sources, 0.5 * sources[:, 0] + 0.5 * sources[:, 1], mu, torch.zeros_like(mu), mu)
    elbo = separation_loss(out, digit, clothing, mixture, beta=1.0)
    report = separation_loss(out, digit, clothing, mixture, beta=1.0, scaling="report")
    assert float(report["recon_digit"]) == pytest.approx(0.1 ** 2)
    assert float(report["recon_clothing"]) == pytest.approx(0.3 ** 2)
    assert float(report["recon_mixture"]) == pytest.approx(0.1 ** 2)
    assert float(report["kl"]) == pytest.approx(float(elbo["kl"])) == pytest.approx(2 * 3 * 0.5)
    # Per pixel, the ELBO's term is 784 times larger: the report's KL weighs that much more.
    assert float(elbo["recon_digit"]) / float(report["recon_digit"]) > 784 * 5
