"""Training the effects VAE through the shared trainer.

Every step draws a fresh batch of effect-processed segments from the training files (:mod:`vae_core.effects.data`;
the draws come from the trainer's generator, so a run is reproducible from its seed). The held-out training files
(every tenth) give a fixed validation set: one segment per file through every effect. The best epoch has the best
validation loss; the figure ``val_knn_acc`` (leave-one-out kNN-5 effect accuracy on the validation latent means)
shows the embedding forming while it trains.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vae_core.core.errors import ConfigError, LabError
from vae_core.core.models import build_model
from vae_core.core.trainer import TrainingConfig, TrainingTask
from vae_core.effects.data import EFFECTS, SOURCE_KINDS, data_checksums, dry_sources, grid_examples, make_examples
from vae_core.effects.evaluation import encode_means, knn_loo_accuracy
from vae_core.effects.loss import EFFECTS_LOSS_TERMS, SCALINGS, effects_loss
from vae_core.effects.model import MODEL_KINDS, PAIRED
from vae_core.effects.transforms import model_input, target

VAL_SEED = 1


@dataclass
class EffectsTrainConfig(TrainingConfig):
    """Everything that determines an effects training run; saved in the checkpoint beside the weights."""

    model: str = "effects-cvae"
    beta: float = 1.0
    epochs: int = 30
    batch_size: int = 64
    lr: float = 1e-3
    kl_anneal_epochs: float = 2.0
    scaling: str = "elbo"  # "elbo" (per-example sums) or "report" (mean-reduced MSE + summed KL)
    recon_scale: float = 0.1  # σ of the Gaussian likelihood on the normalised log-mel (0.1 = 8 dB)
    effects: tuple[str, ...] = EFFECTS
    kinds: tuple[str, ...] = SOURCE_KINDS
    steps: int = 100  # batches per epoch (every batch is new audio)

    max_batch_size = 512

    def __post_init__(self) -> None:
        self.effects, self.kinds = tuple(self.effects), tuple(self.kinds)

    def checks(self) -> list[tuple[bool, str]]:
        return [
            (self.model in MODEL_KINDS, f"model must be one of {', '.join(MODEL_KINDS)}, not {self.model!r}."),
            *super().checks(),
            (self.scaling in SCALINGS, f"scaling must be one of {', '.join(SCALINGS)}, not {self.scaling!r}."),
            (math.isfinite(self.recon_scale) and 0.001 <= self.recon_scale <= 10,
             f"recon_scale must be between 0.001 and 10, not {self.recon_scale}."),
            (len(self.effects) >= 2 and len(set(self.effects)) == len(self.effects) and set(self.effects) <= set(EFFECTS),
             f"effects must be two or more different ones of {', '.join(EFFECTS)}, not {', '.join(self.effects)}."),
            (bool(self.kinds) and set(self.kinds) <= set(SOURCE_KINDS),
             f"kinds must be some of {', '.join(SOURCE_KINDS)}, not {', '.join(self.kinds) or 'none'}."),
            (1 <= self.steps <= 100_000, f"steps must be between 1 and 100000, not {self.steps}."),
        ]


PRESETS: dict[str, dict[str, Any]] = {
    "default": {},  # the shipped map: the conditional VAE, the ELBO, β = 1
    # The loss-scale trap: the report's plain VAE, the same data and steps, three losses.
    "beta0": {"model": "effects-conv", "beta": 0.0, "kl_anneal_epochs": 0.0, "epochs": 8},
    "elbo": {"model": "effects-conv", "epochs": 8},
    "report": {"model": "effects-conv", "scaling": "report", "kl_anneal_epochs": 0.0, "epochs": 8},
    "quick": {"epochs": 2, "steps": 30},
}


def preset(name: str, **overrides: Any) -> EffectsTrainConfig:
    if name not in PRESETS:
        raise ConfigError(f"Unknown effects preset {name!r}; choose one of {', '.join(PRESETS)}.")
    return EffectsTrainConfig(**{**PRESETS[name], **overrides})


class EffectsTask(TrainingTask):
    """One effects run: fresh processed segments every step, the held-out files to pick the best epoch."""

    name = "effects"
    loss_terms = EFFECTS_LOSS_TERMS
    figures = ("val_knn_acc",)

    def __init__(self, config: EffectsTrainConfig, data_root: Path | None = None, download: bool = False):
        self.config = config
        self.data_root = data_root
        config_cls = MODEL_KINDS[config.model][0]
        self.model_config = config_cls(**{k: tuple(v) if isinstance(v, list) else v
                                          for k, v in config.model_config.items()})
        self.train_files = dry_sources(data_root, "train", config.kinds)
        val_files = dry_sources(data_root, "val", config.kinds)
        if not self.train_files or not val_files:
            raise LabError("No dry audio for the chosen source kinds; check the data folder.")
        self.paired = config.model in PAIRED
        val = grid_examples(val_files, config.effects, VAL_SEED)
        self.val_x = self.inputs(val)
        self.val_y = np.array([config.effects.index(e.effect) for e in val])

    def inputs(self, examples: list) -> torch.Tensor:
        return model_input([e.wave for e in examples], [e.dry for e in examples] if self.paired else None)

    def build_model(self) -> torch.nn.Module:
        return build_model(self.config.model, self.model_config)

    def steps_per_epoch(self) -> int:
        return self.config.steps

    def batch(self, i: int, g: torch.Generator, device: torch.device) -> tuple[Any, int]:
        seed = int(torch.randint(2 ** 62, (1,), generator=g))
        examples = make_examples(self.train_files, self.config.effects, self.config.batch_size, seed)
        x = self.inputs(examples).to(device)
        return x, len(x)

    def loss(self, model: torch.nn.Module, batch: Any, beta: float,
             noise: torch.Generator) -> dict[str, torch.Tensor]:
        cfg = self.config
        return effects_loss(model(batch, generator=noise), target(batch), beta, cfg.scaling, cfg.recon_scale,
                            cfg.free_bits)

    @torch.no_grad()
    def validate(self, model: torch.nn.Module, device: torch.device) -> tuple[dict[str, float], dict[str, float]]:
        model.eval()
        cfg = self.config
        sums = {t: 0.0 for t in EFFECTS_LOSS_TERMS}
        for s in range(0, len(self.val_x), 128):
            x = self.val_x[s:s + 128].to(device)
            for t, v in effects_loss(model(x), target(x), cfg.beta, cfg.scaling, cfg.recon_scale).items():
                sums[t] += v.item() * len(x)
        mu = encode_means(model, self.val_x, device).numpy()
        return {t: v / len(self.val_x) for t, v in sums.items()}, {"val_knn_acc": knn_loo_accuracy(mu, self.val_y)}

    def score(self, val_terms: dict[str, float], figures: dict[str, float]) -> float:
        return -val_terms["total"]

    def data_checksums(self) -> dict[str, Any]:
        return {"effects_files": data_checksums(self.data_root)}

    @torch.no_grad()
    def preview(self, model: torch.nn.Module) -> np.ndarray:
        """Two held-out segments as log-mel pictures, low frequencies at the bottom: input · reconstruction."""
        was_training = model.training
        model.eval()
        x = self.val_x[[0, len(self.config.effects) // 2]]
        estimate = model(x.to(next(model.parameters()).device)).sources[:, 0].cpu()
        model.train(was_training)
        x = target(x)
        gap = torch.ones((x.shape[1], 2))
        rows = [torch.cat([a, gap, b], dim=1) for a, b in zip(x, estimate)]
        return torch.cat([rows[0], torch.ones((2, rows[0].shape[1])), rows[1]], dim=0).flip(0).numpy()
