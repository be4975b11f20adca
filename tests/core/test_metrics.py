"""PSNR and SSIM against hand computations and scikit-image."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from skimage.metrics import structural_similarity

from vae_core.image.data import load_split
from vae_core.core.metrics import PSNR_CAP_DB, psnr, ssim


def sk_ssim(a: torch.Tensor, b: torch.Tensor) -> float:
    return structural_similarity(a.double().numpy(), b.double().numpy(), data_range=1,
                                 gaussian_weights=True, sigma=1.5, use_sample_covariance=False)


def test_psnr_constant_error_is_20_db():
    target = torch.full((2, 28, 28), 0.5)
    out = psnr(target + 0.1, target)
    assert out.shape == (2,)
    torch.testing.assert_close(out, torch.full((2,), 20.0), atol=1e-4, rtol=0)
    torch.testing.assert_close(psnr(target - 0.01, target), torch.full((2,), 40.0), atol=1e-3, rtol=0)


def test_psnr_by_hand_per_image():
    g = torch.Generator().manual_seed(0)
    a, b = torch.rand((3, 4, 8, 8), generator=g), torch.rand((3, 4, 8, 8), generator=g)
    out = psnr(a, b)
    assert out.shape == (3, 4)
    for i in range(3):
        for j in range(4):
            mse = float(((a[i, j].double() - b[i, j].double()) ** 2).mean())
            assert out[i, j].item() == pytest.approx(10 * math.log10(1 / mse), abs=1e-4)
    # data_range scales the peak
    assert psnr(a * 255, b * 255, data_range=255.0)[0, 0].item() == pytest.approx(out[0, 0].item(), abs=1e-3)


def test_psnr_exact_match_is_capped():
    x = torch.rand((3, 28, 28))
    out = psnr(x, x.clone())
    assert torch.isfinite(out).all()
    assert torch.equal(out, torch.full((3,), PSNR_CAP_DB))
    # Mixed batch: only the exact image is capped.
    y = x.clone()
    y[1] = (y[1] + 0.1).clamp(0, 1)
    out = psnr(y, x)
    assert out[0] == PSNR_CAP_DB and out[2] == PSNR_CAP_DB and out[1] < 40


def test_ssim_identical_images_is_one():
    x = torch.rand((4, 28, 28), generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(ssim(x, x.clone()), torch.ones(4), atol=1e-6, rtol=0)
    z = torch.zeros((28, 28))
    assert ssim(z, z).item() == pytest.approx(1.0, abs=1e-6)  # constant images too


def test_ssim_shapes_and_range():
    g = torch.Generator().manual_seed(2)
    a, b = torch.rand((2, 3, 28, 28), generator=g), torch.rand((2, 3, 28, 28), generator=g)
    s = ssim(a, b)
    assert s.shape == (2, 3)
    assert (s < 0.5).all() and (s > -1).all()
    assert ssim(a[0, 0], b[0, 0]).shape == ()


def test_ssim_matches_skimage_random():
    g = torch.Generator().manual_seed(3)
    a = torch.rand((3, 28, 28), generator=g)
    b = (a + 0.2 * torch.randn((3, 28, 28), generator=g)).clamp(0, 1)
    c = torch.rand((3, 28, 28), generator=g)
    for x, y in ((a, b), (a, c), (b, c)):
        ours = ssim(x, y)
        for i in range(3):
            assert ours[i].item() == pytest.approx(sk_ssim(x[i], y[i]), abs=1e-4)
    # A non-square image as well
    x, y = torch.rand((20, 33), generator=g), torch.rand((20, 33), generator=g)
    assert ssim(x, y).item() == pytest.approx(sk_ssim(x, y), abs=1e-4)


def test_ssim_matches_skimage_real(data_dir):
    d, _ = load_split("mnist", "test")
    c, _ = load_split("fashion-mnist", "test")
    digits, clothes = torch.from_numpy(d[:4]).float() / 255, torch.from_numpy(c[:4]).float() / 255
    mixed = 0.5 * digits + 0.5 * clothes
    ours_dc, ours_dm = ssim(digits, clothes), ssim(mixed, digits)
    for i in range(4):
        assert ours_dc[i].item() == pytest.approx(sk_ssim(digits[i], clothes[i]), abs=1e-4)
        assert ours_dm[i].item() == pytest.approx(sk_ssim(mixed[i], digits[i]), abs=1e-4)
    assert float(np.mean(ours_dm.numpy())) > float(np.mean(ours_dc.numpy()))
