"""What the image pages show, computed here so that pages stay free of torch: numpy in, numpy out."""
from __future__ import annotations

import time

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from vae_core.image.data import FASHION_MNIST, MNIST, load_split
from vae_core.core.errors import LabError
from vae_core.core.metrics import psnr, ssim
from vae_core.image.mixing import load_pairs, mix
from vae_core.image.model import REFINE_STEPS, remix
from vae_core.image.inference import ImageSeparator


@dataclass
class TestImages:
    """The official test images of both datasets, as the image page browses them."""

    digits: torch.Tensor  # (10000, 28, 28) uint8
    digit_labels: np.ndarray
    clothes: torch.Tensor
    clothing_labels: np.ndarray

    def indices_of_class(self, source: str, label: int) -> np.ndarray:
        labels = self.digit_labels if source == "digit" else self.clothing_labels
        return np.flatnonzero(labels == label)


def load_test_images(data_root: Path | None = None) -> TestImages:
    """Both test sets (raises :class:`DataMissingError` naming missing files)."""
    d, dl = load_split(MNIST, "test", data_root)
    c, cl = load_split(FASHION_MNIST, "test", data_root)
    return TestImages(torch.from_numpy(d), dl, torch.from_numpy(c), cl)


CLASS_NAMES = {"digit": MNIST.classes, "clothing": FASHION_MNIST.classes}


@dataclass
class PairResult:
    mixture: np.ndarray  # (28, 28) float in [0, 1]
    estimates: np.ndarray  # (2, 28, 28): digit, clothing
    remix: np.ndarray  # (28, 28): the estimates mixed again with the same weight
    truth: np.ndarray  # (2, 28, 28)
    psnr: tuple[float, float]
    ssim: tuple[float, float]
    mixture_psnr: tuple[float, float]
    seconds: float


def separate_pair(separator: ImageSeparator, images: TestImages, digit_index: int, clothing_index: int,
                  weight: float = 0.5, noise: float = 0.0, noise_seed: int = 0, consistency: str = "split",
                  refine_steps: int = REFINE_STEPS) -> PairResult:
    """Mix one test digit with one test clothing item, separate, and score against the truth."""
    n = len(images.digits)
    for name, i in (("digit", digit_index), ("clothing", clothing_index)):
        if not 0 <= i < n:
            raise LabError(f"The {name} index must lie between 0 and {n - 1}, not {i}.")
    d = images.digits[digit_index].float()[None] / 255.0
    c = images.clothes[clothing_index].float()[None] / 255.0
    x = mix(d, c, weight, noise, torch.Generator().manual_seed(noise_seed))
    t = time.perf_counter()
    est = separator.separate(x, weight=weight, consistency=consistency, refine_steps=refine_steps)
    seconds = time.perf_counter() - t
    truth = torch.stack([d, c], 1)
    p, s = psnr(est, truth)[0], ssim(est, truth)[0]
    pm = psnr(torch.stack([x, x], 1), truth)[0]
    return PairResult(x[0].numpy(), est[0].numpy(), remix(est, weight)[0].numpy(), truth[0].numpy(),
                      (p[0].item(), p[1].item()), (s[0].item(), s[1].item()), (pm[0].item(), pm[1].item()),
                      seconds)


def batch_grid(separator: ImageSeparator, n: int = 8, seed: int = 0, weight: float = 0.5, noise: float = 0.0,
               consistency: str = "split", refine_steps: int = REFINE_STEPS, with_truth: bool = True,
               data_root: Path | None = None) -> np.ndarray:
    """The course notebook's grid for ``n`` random test mixtures: one row each, columns
    [reconstruction, clothing, digit, input] (+ [true clothing, true digit]). Returns ``(n, cols, 28, 28)``."""
    pairs = load_pairs("test", pair_seed=0, root=data_root)
    rows = torch.randperm(len(pairs), generator=torch.Generator().manual_seed(seed))[:n]
    d, c = pairs.sources(rows)
    x = mix(d, c, weight, noise, torch.Generator().manual_seed(seed))
    grid = course_columns(separator.separate(x, weight, consistency, refine_steps), x, weight)
    return np.concatenate([grid, torch.stack([c, d], 1).numpy()], 1) if with_truth else grid


def course_columns(estimates: torch.Tensor, mixtures: torch.Tensor, weight: float) -> np.ndarray:
    """The course notebook's columns for separated mixtures: [reconstruction, clothing, digit, input],
    ``(N, 2, 28, 28)`` estimates and ``(N, 28, 28)`` mixtures -> ``(N, 4, 28, 28)``."""
    return torch.stack([remix(estimates, weight), estimates[:, 1], estimates[:, 0], mixtures], 1).numpy()


GRID_COLUMNS = ("reconstruction", "clothing", "digit", "input", "true clothing", "true digit")


def tile(images: np.ndarray, pad: int = 2, scale: int = 1) -> np.ndarray:
    """Tile ``(rows, cols, H, W)`` images into one ``(rows*(H+pad), cols*(W+pad))`` picture, upscaled."""
    r, c, h, w = images.shape
    out = np.ones((r * (h + pad) - pad, c * (w + pad) - pad), dtype=np.float32)
    for i in range(r):
        for j in range(c):
            out[i * (h + pad):i * (h + pad) + h, j * (w + pad):j * (w + pad) + w] = images[i, j]
    return upscale(out, scale)


def upscale(image: np.ndarray, scale: int) -> np.ndarray:
    """Nearest-neighbour upscaling, so 28x28 images stay crisp on a projector."""
    return np.kron(np.clip(image, 0, 1), np.ones((scale, scale), dtype=np.float32)) if scale > 1 else image


def prior_samples(separator: ImageSeparator, n: int = 8, seed: int = 0) -> np.ndarray:
    """Decode ``z ~ N(0, I)``: ``(2, n, 28, 28)``, row 0 digits, row 1 clothing items (needs no dataset)."""
    s = separator.model.sample_prior(n, torch.Generator().manual_seed(seed)).cpu()
    return s.transpose(0, 1).numpy()


def raw_reconstructions(separator: ImageSeparator, n: int = 6, data_root: Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The first ``n`` fixed test mixtures ``(n, 28, 28)`` and what each decoder draws from them, without
    mixture consistency (which would hide a collapsed decoder): ``(2, n, 28, 28)``."""
    pairs = load_pairs("test", pair_seed=0, root=data_root, limit=n)
    x = mix(*pairs.sources(slice(None)))
    return x.numpy(), separator.draw(x, refine_steps=0).transpose(0, 1).numpy()


def test_pair_strips(n: int, weight: float = 0.5, data_root: Path | None = None) -> np.ndarray:
    """Mixture | digit | clothing side by side for the first ``n`` fixed test pairs (pair seed 0, the pairs the
    latent summaries encode): ``(n, 28, 84)`` floats in [0, 1]."""
    pairs = load_pairs("test", 0, root=data_root, limit=n)
    d, c = pairs.sources(slice(None))
    x = mix(d, c, weight)
    return torch.cat([x, d, c], dim=2).numpy()
