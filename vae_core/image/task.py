"""The image separation task for the shared trainer: MNIST digit + Fashion-MNIST clothing mixtures.

Training uses a fixed 55,000 / 5,000 train/validation split of the official training files, draws new
digit–clothing pairs every epoch, and keeps the model with the lowest validation loss.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vae_core.core.errors import ConfigError, LabError
from vae_core.image.loss import LOSS_TERMS, SCALINGS, separation_loss
from vae_core.core.metrics import psnr
from vae_core.core.trainer import TrainingConfig, TrainingTask
from vae_core.image.data import DATASETS
from vae_core.image.demo import course_columns
from vae_core.image.mixing import PairSet, load_pairs, mix
from vae_core.image.model import IMAGE_MODEL_KINDS, mixture_consistency, ratio_split
from vae_core.core.models import SeparationVAE, build_model


@dataclass
class TrainConfig(TrainingConfig):
    """Everything that determines an image training run; saved in the checkpoint beside the weights."""

    model: str = "conv"
    weight: float = 0.5
    noise: float = 0.0
    consistency: float = 0.0  # weight of the loss on mixture-consistent outputs (Wisdom et al. 2019)
    split: float = 0.0  # weight of the loss on ratio-split outputs (model.ratio_split, the app's default view)
    scaling: str = "elbo"  # "elbo" (per-example sums) or "report" (a student report's mean-reduced MSE; see loss)
    train_limit: int | None = None  # use only the first N training pairs (quick runs, tests)
    val_limit: int | None = None

    def checks(self) -> list[tuple[bool, str]]:
        return [
            (self.model in IMAGE_MODEL_KINDS,
             f"model must be one of {', '.join(IMAGE_MODEL_KINDS)}, not {self.model!r}."),
            *super().checks(),
            (0 < self.weight < 1, f"weight must be strictly between 0 and 1, not {self.weight}."),
            (0 <= self.noise <= 1, f"noise must be between 0 and 1, not {self.noise}."),
            (self.consistency >= 0, f"consistency must be >= 0, not {self.consistency}."),
            (self.split >= 0, f"split must be >= 0, not {self.split}."),
            (self.scaling in SCALINGS, f"scaling must be one of {', '.join(SCALINGS)}, not {self.scaling!r}."),
            (self.train_limit is None or self.train_limit >= self.batch_size,
             f"train_limit must be at least the batch size ({self.batch_size}), not {self.train_limit}."),
            (self.val_limit is None or self.val_limit >= 1, f"val_limit must be at least 1, not {self.val_limit}."),
        ]


PRESETS: dict[str, dict[str, Any]] = {
    # About a minute on 2 CPU cores: the course MLP, a few passes over the data. The time budget is only a cap: a
    # run watched in a browser on the same two cores takes up to 1.4x as long (`bench watch-quick`) and must
    # still finish its 4 epochs.
    "quick": dict(model="mlp", model_config={"latent_dim": 16, "hidden": [512, 256]}, beta=1.0, epochs=4,
                  batch_size=256, lr=2e-3, time_budget_s=150.0),
    # About ten minutes: the shipped convolutional design, a third of its schedule.
    "full": dict(model="conv", model_config={"latent_dim": 64, "channels": [16, 32, 64], "hidden": 512},
                 beta=0.05, epochs=10, batch_size=256, lr=2e-3),
}
"""Named starting points for training runs (the app's presets and ``bench train-quick``)."""


def preset(name: str, **overrides: Any) -> TrainConfig:
    """A :class:`TrainConfig` from a named preset, with some fields replaced."""
    if name not in PRESETS:
        raise ConfigError(f"Unknown preset {name!r}; choose one of {', '.join(PRESETS)}.")
    values = {**PRESETS[name], **overrides}
    values["model_config"] = dict(values["model_config"])
    return TrainConfig(**values)


def empty_history() -> dict[str, Any]:
    return {"epoch": [], "seconds": [], "beta": [], "val_psnr": [], "val_psnr_projected": [], "val_psnr_split": [],
            "train": {t: [] for t in LOSS_TERMS}, "val": {t: [] for t in LOSS_TERMS}}


@torch.no_grad()
def evaluate_losses(model: SeparationVAE, pairs: PairSet, cfg: TrainConfig, device: torch.device,
                    batch_size: int = 1000) -> tuple[dict[str, float], dict[str, float]]:
    """Mean loss terms (at the full beta) and mean PSNR over both sources: raw, projected and ratio-split."""
    model.eval()
    g = torch.Generator().manual_seed(cfg.seed + 12345)  # same validation noise every epoch
    sums = {t: 0.0 for t in LOSS_TERMS}
    psnr_sums = {"val_psnr": 0.0, "val_psnr_projected": 0.0, "val_psnr_split": 0.0}
    for start in range(0, len(pairs), batch_size):
        d, c = pairs.sources(slice(start, start + batch_size))
        x = mix(d, c, cfg.weight, cfg.noise, g)
        clean = mix(d, c, cfg.weight)
        d, c, x, clean = d.to(device), c.to(device), x.to(device), clean.to(device)
        out = model(x, cfg.weight)
        terms = separation_loss(out, d, c, clean, cfg.beta, inputs=x, weight=cfg.weight,
                                consistency=cfg.consistency, scaling=cfg.scaling, split=cfg.split)
        for t in LOSS_TERMS:
            sums[t] += terms[t].item() * len(d)
        truth = torch.stack([d, c], 1)
        for key, est in (("val_psnr", out.sources), ("val_psnr_projected", mixture_consistency(out.sources, x, cfg.weight)),
                         ("val_psnr_split", ratio_split(out.sources, x, cfg.weight))):
            psnr_sums[key] += psnr(est, truth).mean(1).sum().item()
    n = len(pairs)
    return {t: v / n for t, v in sums.items()}, {k: v / n for k, v in psnr_sums.items()}


class ImageTask(TrainingTask):
    """One image run: fresh digit–clothing pairs every epoch, the separation ELBO, validation PSNR."""

    name = "image"
    loss_terms = LOSS_TERMS
    figures = ("val_psnr", "val_psnr_projected", "val_psnr_split")

    def __init__(self, config: TrainConfig, data_root: Path | None = None, download: bool = False,
                 preview_count: int = 4):
        self.config = config
        self.data_root = data_root
        self.train_pairs = load_pairs("train", pair_seed=config.seed, root=data_root, download=download,
                                      limit=config.train_limit)
        self.val_pairs = load_pairs("val", pair_seed=0, root=data_root, download=download, limit=config.val_limit)
        self.preview_count = preview_count

    @functools.cached_property
    def preview_x(self) -> torch.Tensor | None:
        """The first test mixtures, read when the first preview is drawn (runs outside the app draw none)."""
        try:
            preview = load_pairs("test", 0, root=self.data_root, limit=self.preview_count)
        except LabError:  # no test files: training works, the live view shows no separations
            return None
        return mix(*preview.sources(slice(None)), self.config.weight)

    def build_model(self) -> SeparationVAE:
        return build_model(self.config.model, self.config.model_config)

    def steps_per_epoch(self) -> int:
        return len(self.train_pairs) // self.config.batch_size  # drop the ragged last batch

    def start_epoch(self, g: torch.Generator) -> None:
        self.epoch_pairs = self.train_pairs.repaired(g)
        self.order = torch.randperm(len(self.epoch_pairs), generator=g)

    def batch(self, i: int, g: torch.Generator, device: torch.device) -> tuple[Any, int]:
        cfg = self.config
        d, c = self.epoch_pairs.sources(self.order[i * cfg.batch_size:(i + 1) * cfg.batch_size])
        x = mix(d, c, cfg.weight, cfg.noise, g)
        clean = mix(d, c, cfg.weight)
        return tuple(t.to(device) for t in (d, c, x, clean)), len(d)

    def loss(self, model: SeparationVAE, batch: Any, beta: float, noise: torch.Generator) -> dict[str, torch.Tensor]:
        cfg = self.config
        d, c, x, clean = batch
        out = model(x, cfg.weight, generator=noise)
        return separation_loss(out, d, c, clean, beta, cfg.free_bits, inputs=x, weight=cfg.weight,
                               consistency=cfg.consistency, scaling=cfg.scaling, split=cfg.split)

    def validate(self, model: SeparationVAE, device: torch.device) -> tuple[dict[str, float], dict[str, float]]:
        return evaluate_losses(model, self.val_pairs, self.config, device)

    def score(self, val_terms: dict[str, float], figures: dict[str, float]) -> float:
        return -val_terms["total"]

    def data_checksums(self) -> dict[str, Any]:
        return {ds.key: {f.name: f.md5 for f in ds.files.values()} for ds in DATASETS.values()}

    @torch.no_grad()
    def preview(self, model: SeparationVAE) -> np.ndarray | None:
        """The course notebook's grid (mixture | digit | clothing per row) for the first test mixtures."""
        if self.preview_x is None:
            return None
        w, was_training = self.config.weight, model.training
        model.eval()
        sources = model(self.preview_x.to(next(model.parameters()).device), w).sources.cpu()
        model.train(was_training)
        return course_columns(mixture_consistency(sources, self.preview_x, w), self.preview_x, w)
