"""Mixtures of one MNIST digit and one Fashion-MNIST item: ``x = w·digit + (1-w)·clothing (+ noise)``.

Splits: ``train`` and ``val`` come from the official training files (a fixed, seeded 55k/5k split);
``test`` is the official t10k files. Test pairs are fixed by a pair seed: digit ``i`` is mixed with
clothing item ``perm[i]`` where ``perm`` is a permutation drawn from that seed.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import torch

from vae_core.image.data import FASHION_MNIST, MNIST, load_split

SPLIT_SEED = 0
"""Seed of the train/validation split; fixed so that every run is validated on the same images."""
VAL_SIZE = 5000


def mix(digit: torch.Tensor, clothing: torch.Tensor, weight: float = 0.5, noise: float = 0.0,
        generator: torch.Generator | None = None) -> torch.Tensor:
    """Weighted mixture of two image batches ``(N, 28, 28)`` in [0, 1], plus optional Gaussian noise.

    With noise the result is clipped back to [0, 1] so the input stays a valid image.
    """
    x = weight * digit + (1.0 - weight) * clothing
    if noise > 0:
        x = (x + noise * torch.randn(x.shape, generator=generator, dtype=x.dtype)).clamp_(0.0, 1.0)
    return x


def pair_permutation(n: int, seed: int) -> torch.Tensor:
    """The clothing index paired with each digit index, drawn deterministically from ``seed``."""
    g = torch.Generator().manual_seed(seed)
    return torch.randperm(n, generator=g)


def split_indices(n: int, split: str, val_size: int = VAL_SIZE) -> torch.Tensor:
    """Indices of ``train`` or ``val`` within an official training set of ``n`` images."""
    perm = pair_permutation(n, SPLIT_SEED)
    return perm[val_size:] if split == "train" else perm[:val_size]


@dataclass
class PairSet:
    """Aligned digit and clothing images (uint8 ``(N, 28, 28)``) with their labels.

    Row ``i`` is one mixture: ``digits[i]`` mixed with ``clothes[i]``. ``digit_index`` and
    ``clothing_index`` are the rows' positions in the official files, for display and reproducibility.
    """

    digits: torch.Tensor
    clothes: torch.Tensor
    digit_labels: torch.Tensor
    clothing_labels: torch.Tensor
    digit_index: torch.Tensor
    clothing_index: torch.Tensor

    def __len__(self) -> int:
        return len(self.digits)

    def sources(self, rows: torch.Tensor | slice) -> tuple[torch.Tensor, torch.Tensor]:
        """Float digit and clothing images in [0, 1], each ``(B, 28, 28)``."""
        return self.digits[rows].float() / 255.0, self.clothes[rows].float() / 255.0

    def repaired(self, generator: torch.Generator) -> "PairSet":
        """The same images with the clothing items shuffled into new pairs (fresh mixtures each epoch)."""
        p = torch.randperm(len(self), generator=generator)
        return replace(self, clothes=self.clothes[p], clothing_labels=self.clothing_labels[p],
                       clothing_index=self.clothing_index[p])

    def subset(self, n: int) -> "PairSet":
        return PairSet(*(t[:n] for t in (self.digits, self.clothes, self.digit_labels,
                                         self.clothing_labels, self.digit_index, self.clothing_index)))


def load_pairs(split: str, pair_seed: int = 0, root: Path | None = None, download: bool = False,
               limit: int | None = None) -> PairSet:
    """Pairs for ``train``, ``val`` or ``test``.

    ``pair_seed`` fixes which clothing item goes with which digit. ``limit`` keeps the first rows.
    """
    if split not in ("train", "val", "test"):
        raise ValueError(f"split must be 'train', 'val' or 'test', not {split!r}")
    official = "test" if split == "test" else "train"
    d_img, d_lab = map(torch.from_numpy, load_split(MNIST, official, root, download))
    c_img, c_lab = map(torch.from_numpy, load_split(FASHION_MNIST, official, root, download))
    if split == "test":
        d_idx = torch.arange(len(d_img))
        c_idx = pair_permutation(len(c_img), pair_seed)
    else:
        d_idx = split_indices(len(d_img), split)
        # The clothing split uses the same seeded split; pairing is a second permutation.
        c_split = split_indices(len(c_img), split)
        c_idx = c_split[pair_permutation(len(c_split), pair_seed + 1)]
    pairs = PairSet(d_img[d_idx], c_img[c_idx], d_lab[d_idx], c_lab[c_idx], d_idx, c_idx)
    return pairs.subset(limit) if limit else pairs
