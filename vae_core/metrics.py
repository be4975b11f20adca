"""Image quality metrics: PSNR per image and SSIM (Wang et al. 2004), both for pixels in [0, 1]."""
from __future__ import annotations

import torch
import torch.nn.functional as F

PSNR_CAP_DB = 100.0
"""PSNR of an exact reconstruction is infinite; it is reported as this cap so means stay finite."""


def psnr(estimate: torch.Tensor, target: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """PSNR in dB of each image: ``(..., H, W) -> (...)``."""
    mse = (estimate.double() - target.double()).pow(2).mean(dim=(-2, -1))
    value = 10.0 * torch.log10(data_range**2 / mse.clamp(min=1e-300))
    return value.clamp(max=PSNR_CAP_DB).float()


def _gaussian_1d(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    return g / g.sum()


def ssim(estimate: torch.Tensor, target: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Mean SSIM of each image ``(..., H, W) -> (...)``.

    Gaussian 11x11 window, sigma 1.5, K1 = 0.01, K2 = 0.03, population (co)variances, computed over
    the 'valid' region (the settings of Wang et al. 2004 and scikit-image's ``gaussian_weights=True``).
    The window is separable, so the five local moments are filtered in one grouped 1-D pass per axis.
    """
    lead = estimate.shape[:-2]
    a = estimate.reshape(-1, 1, *estimate.shape[-2:]).float()
    b = target.reshape(-1, 1, *target.shape[-2:]).float()
    g = _gaussian_1d().float().to(a.device)
    moments = torch.cat([a, b, a * a, b * b, a * b], dim=1)  # (N, 5, H, W)
    moments = F.conv2d(moments, g.view(1, 1, 1, -1).expand(5, 1, 1, -1), groups=5)
    mu_a, mu_b, aa, bb, ab = F.conv2d(moments, g.view(1, 1, -1, 1).expand(5, 1, -1, 1), groups=5).unbind(1)
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    var_a, var_b, cov = aa - mu_a**2, bb - mu_b**2, ab - mu_a * mu_b
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return s.mean(dim=(-2, -1)).reshape(lead)
