"""The one home of the metrics every task uses: image quality (PSNR per image and SSIM, Wang et al. 2004, for
pixels in [0, 1]) and audio separation (BSS Eval v3 SDR/SIR/SAR, SI-SDR, NSDR and the MIR-1K GNSDR/GSIR/GSAR;
see the audio section below)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy.linalg import solve, toeplitz
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


# ----------------------------------------------------------------- audio: BSS Eval, SI-SDR, NSDR
# Source-separation metrics: BSS Eval SDR/SIR/SAR, SI-SDR, NSDR and the MIR-1K summary figures.
#
# BSS Eval (Vincent, Gribonval & Févotte 2006, v3 as in mir_eval): the estimate of source j is split into
# ``target + interference + artifacts`` by least-squares projections onto the references delayed by up to
# ``filter_length - 1`` samples (a time-invariant distortion filter is allowed), then
#
#     SDR = 10 log10(|target|² / |interf + artif|²)   SIR = 10 log10(|target|² / |interf|²)
#     SAR = 10 log10(|target + interf|² / |artif|²)
#
# SI-SDR (Le Roux et al. 2019) allows only a gain. MIR-1K results (Hsu & Jang 2010; Huang et al. 2014) report
# GNSDR, GSIR, GSAR: means over clips weighted by clip length, with NSDR = SDR(estimate) - SDR(mixture).
#
# Shapes: references and estimates ``(source, samples)`` numpy arrays (one clip).

_EPS = 1e-12


def _db(num: float, den: float) -> float:
    if den <= 0:
        return float("inf")
    if num <= 0:
        return float("-inf")
    return float(10.0 * np.log10(num / den))


def _project(refs: np.ndarray, est: np.ndarray, flen: int) -> np.ndarray:
    """Least-squares projection of ``est`` onto all ``refs`` delayed by 0..flen-1 samples (length + flen - 1)."""
    nsrc, n = refs.shape
    refs = np.hstack([refs, np.zeros((nsrc, flen - 1))])
    est = np.concatenate([est, np.zeros(flen - 1)])
    n_fft = int(2 ** np.ceil(np.log2(n + flen - 1)))
    rf = np.fft.rfft(refs, n=n_fft, axis=1)
    ef = np.fft.rfft(est, n=n_fft)
    gram = np.zeros((nsrc * flen, nsrc * flen))
    for i in range(nsrc):
        for j in range(i, nsrc):
            xc = np.fft.irfft(rf[i] * np.conj(rf[j]), n=n_fft)  # cross-correlation of refs i and j
            block = toeplitz(np.concatenate([[xc[0]], xc[-1:-flen:-1]]), xc[:flen])
            gram[i * flen:(i + 1) * flen, j * flen:(j + 1) * flen] = block
            gram[j * flen:(j + 1) * flen, i * flen:(i + 1) * flen] = block.T
    rhs = np.zeros(nsrc * flen)
    for i in range(nsrc):
        xc = np.fft.irfft(rf[i] * np.conj(ef), n=n_fft)
        rhs[i * flen:(i + 1) * flen] = np.concatenate([[xc[0]], xc[-1:-flen:-1]])
    try:
        coef = solve(gram, rhs, assume_a="pos")
    except (np.linalg.LinAlgError, ValueError):
        coef = np.linalg.lstsq(gram, rhs, rcond=None)[0]
    coef = coef.reshape(nsrc, flen)
    # Filter each reference with its coefficients (a linear convolution: the FFT is long enough not to wrap). Plain
    # numpy FFTs: importing scipy.signal for this would add most of a second to every start of the CLI and the app.
    n_conv = int(2 ** np.ceil(np.log2(n + 2 * flen - 2)))
    filtered = np.fft.irfft(np.fft.rfft(coef, n=n_conv, axis=1) * np.fft.rfft(refs, n=n_conv, axis=1), n=n_conv, axis=1)
    return filtered[:, : n + flen - 1].sum(0)


def bss_eval(references: np.ndarray, estimates: np.ndarray, filter_length: int = 512) -> dict[str, np.ndarray]:
    """SDR, SIR and SAR (dB) of each estimate against the reference of the same index: ``(source,)`` each.

    The order of sources is given (no permutation search): estimate j is scored against reference j.
    """
    refs = np.asarray(references, dtype=np.float64)
    ests = np.asarray(estimates, dtype=np.float64)
    if refs.shape != ests.shape or refs.ndim != 2:
        raise ValueError(f"references and estimates must both be (source, samples), got {refs.shape}, {ests.shape}")
    nsrc, n = refs.shape
    sdr, sir, sar = (np.zeros(nsrc) for _ in range(3))
    all_proj = [_project(refs, ests[j], filter_length) for j in range(nsrc)]
    for j in range(nsrc):
        target = _project(refs[j:j + 1], ests[j], filter_length)  # s_true + spatial distortion
        interf = all_proj[j] - target
        artif = -all_proj[j]
        artif[:n] += ests[j]
        sdr[j] = _db(np.sum(target**2), np.sum((interf + artif) ** 2))
        sir[j] = _db(np.sum(target**2), np.sum(interf**2))
        sar[j] = _db(np.sum((target + interf) ** 2), np.sum(artif**2))
    return {"sdr": sdr, "sir": sir, "sar": sar}


def si_sdr(reference: np.ndarray, estimate: np.ndarray) -> float:
    """Scale-invariant SDR (dB) of one signal (Le Roux et al. 2019); means are not removed."""
    ref = np.asarray(reference, dtype=np.float64)
    est = np.asarray(estimate, dtype=np.float64)
    alpha = np.dot(est, ref) / max(np.dot(ref, ref), _EPS)
    target = alpha * ref
    return _db(np.sum(target**2), np.sum((est - target) ** 2))


@dataclass
class ClipScore:
    """One clip's scores per source (voice, accompaniment): estimate and mixture-as-estimate."""

    length: int
    sdr: np.ndarray
    sir: np.ndarray
    sar: np.ndarray
    sdr_mixture: np.ndarray

    @property
    def nsdr(self) -> np.ndarray:
        return self.sdr - self.sdr_mixture


def score_clip(references: np.ndarray, estimates: np.ndarray, mixture: np.ndarray,
               filter_length: int = 512) -> ClipScore:
    """BSS Eval of the estimates and of the mixture used as the estimate of every source (for NSDR)."""
    est = bss_eval(references, estimates, filter_length)
    mix = bss_eval(references, np.repeat(np.asarray(mixture)[None], len(references), 0), filter_length)
    return ClipScore(references.shape[1], est["sdr"], est["sir"], est["sar"], mix["sdr"])


def global_scores(clips: list[ClipScore]) -> dict[str, np.ndarray]:
    """GNSDR, GSIR, GSAR (length-weighted means over clips, per source) and the plain mean SDR."""
    w = np.array([c.length for c in clips], dtype=np.float64)
    w = w / w.sum()

    def weighted(values: list[np.ndarray]) -> np.ndarray:
        return np.tensordot(w, np.stack(values), axes=1)

    return {"gnsdr": weighted([c.nsdr for c in clips]), "gsir": weighted([c.sir for c in clips]),
            "gsar": weighted([c.sar for c in clips]), "mean_sdr": np.mean([c.sdr for c in clips], axis=0)}
