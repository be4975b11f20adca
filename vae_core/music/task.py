"""Training a music VAE on the classical clips (the train split by clip; a few of its clips held out to pick the
best epoch; the test clips are never seen).

Each step draws random segments: a random training clip, a random offset, a random gain of up to ``± gain_db``.
For ``music-spec`` the log-magnitude of every clip is computed once, and a gain is a shift of the log-magnitude.
Runs go through the shared trainer (:func:`vae_core.core.trainer.train`); the best epoch has the best (lowest)
validation loss.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vae_core.core.errors import ConfigError, DataMissingError
from vae_core.core.spectral import STFTConfig, stft
from vae_core.core.trainer import TrainingConfig, TrainingTask
from vae_core.core.models import build_model
from vae_core.music.data import clip_segments
from vae_core.core.gtzan import SPLIT_SEED, clip_checksums, find_clips, read_clip, split_clips
from vae_core.music.loss import MUSIC_LOSS_TERMS, music_loss
from vae_core.music.model import MODEL_KINDS, MusicSpecConfig
from vae_core.music.transforms import DB_RANGE, log_magnitude, normalised_db

VAL_CLIPS = 6  # training clips held out to pick the best epoch


@dataclass
class MusicTrainConfig(TrainingConfig):
    """Everything that determines a music training run; saved in the checkpoint beside the weights."""

    model: str = "music-spec"
    beta: float = 1.0
    epochs: int = 30
    batch_size: int = 32
    recon_scale: float = 0.2  # music-spec: Laplace scale of the log-magnitude likelihood (0.2 = 20 dB)
    gain_db: float = 6.0
    train_clips: int | None = None  # use only the first N training clips (quick runs, tests)

    max_batch_size = 1024

    def checks(self) -> list[tuple[bool, str]]:
        return [
            (self.model in MODEL_KINDS, f"model must be one of {', '.join(MODEL_KINDS)}, not {self.model!r}."),
            *super().checks(),
            (math.isfinite(self.recon_scale) and 0.001 <= self.recon_scale <= 10,
             f"recon_scale must be between 0.001 and 10, not {self.recon_scale}."),
            (0 <= self.gain_db <= 30, f"gain_db must be between 0 and 30, not {self.gain_db}."),
            (self.train_clips is None or self.train_clips >= 1, "train_clips must be at least 1."),
        ]


PRESETS: dict[str, dict[str, Any]] = {
    # The course report's five configurations (20 epochs each) and its Fréchet feature extractor (latent 20).
    "course-base": dict(model="music-course", model_config={"dropout": 0.0, "latent_dim": 2}, beta=1.0, epochs=20),
    "course-dropout-z2": dict(model="music-course", model_config={"dropout": 0.3, "latent_dim": 2}, beta=1.0,
                              epochs=20),
    "course-dropout-z20": dict(model="music-course", model_config={"dropout": 0.3, "latent_dim": 20}, beta=1.0,
                               epochs=20),
    "course-beta10": dict(model="music-course", model_config={"dropout": 0.3, "latent_dim": 10}, beta=10.0,
                          epochs=20),
    "course-beta100": dict(model="music-course", model_config={"dropout": 0.3, "latent_dim": 10}, beta=100.0,
                           epochs=20),
    "course-extractor": dict(model="music-course", model_config={"dropout": 0.3, "latent_dim": 20}, beta=1.0,
                             epochs=20, seed=1),
    # The default: log-magnitude frames, KL warm-up and free bits against posterior collapse.
    "default": dict(model="music-spec", model_config={}, beta=1.0, epochs=30, kl_anneal_epochs=5.0,
                    free_bits=0.05, recon_scale=0.2),
}
COURSE_PRESETS = ("course-base", "course-dropout-z2", "course-dropout-z20", "course-beta10", "course-beta100")


def preset(name: str, **overrides: Any) -> MusicTrainConfig:
    """A :class:`MusicTrainConfig` from a named preset, with some fields replaced."""
    if name not in PRESETS:
        raise ConfigError(f"Unknown music preset {name!r}; choose one of {', '.join(PRESETS)}.")
    values = {**PRESETS[name], **overrides}
    values["model_config"] = dict(values.get("model_config", {}))
    return MusicTrainConfig(**values)


def course_log_magnitude(wave: torch.Tensor) -> torch.Tensor:
    """Normalised log-magnitude of 3 kHz waveforms (n_fft 256, hop 64): how the course model's segments are
    pictured and scored."""
    return normalised_db(stft(wave, STFTConfig(n_fft=256, hop=64, sample_rate=3000)).abs())


def lsd_db(x: torch.Tensor, y: torch.Tensor) -> float:
    """Log-spectral distance in dB between normalised log-magnitudes ``(batch, freq, frames)``: the RMS over
    frequency, averaged over frames and examples."""
    return float(((x - y) * DB_RANGE).pow(2).mean(1).sqrt().mean())


@torch.no_grad()
def score_segments(model: torch.nn.Module, x: torch.Tensor, beta: float, recon_scale: float,
                   device: torch.device) -> tuple[dict[str, float], float, torch.Tensor]:
    """``model`` (in eval mode: posterior means decoded) on segments ``x``: the mean ELBO terms (no free bits),
    the mean log-spectral distance (dB) and the posterior means ``(n, latent_dim)``."""
    model.eval()
    spec = model.kind == "music-spec"
    sums = {t: 0.0 for t in MUSIC_LOSS_TERMS}
    lsd, mus = 0.0, []
    for s in range(0, len(x), 64):
        batch = x[s:s + 64].to(device)
        out = model(batch)
        for t, v in music_loss(out, batch, model.kind, beta, 0.0, recon_scale).items():
            sums[t] += v.item() * len(batch)
        estimate = out.sources[:, 0].cpu()
        a, b = (batch.cpu(), estimate) if spec else (course_log_magnitude(batch.cpu()), course_log_magnitude(estimate))
        lsd += lsd_db(a, b) * len(batch)
        mus.append(out.mu[:, 0].cpu())
    return {t: v / len(x) for t, v in sums.items()}, lsd / len(x), torch.cat(mus)


class MusicTask(TrainingTask):
    """One music run: random segments of the training clips, the music ELBO, the held-out clips' loss to pick the
    best epoch."""

    name = "music"
    loss_terms = MUSIC_LOSS_TERMS
    figures = ("val_lsd_db",)

    def __init__(self, config: MusicTrainConfig, data_root: Path | None = None, download: bool = False):
        self.config = config
        self.data_root = data_root
        config_cls = MODEL_KINDS[config.model][0]
        self.model_config = config_cls(**{k: tuple(v) if isinstance(v, list) else v
                                          for k, v in config.model_config.items()})
        self.clips = find_clips(data_root)
        train, self.test_clips = split_clips(self.clips)
        train = train[: config.train_clips] if config.train_clips else train
        # With a single training clip (tests) it is also the held-out one.
        n_val = min(VAL_CLIPS, max(1, len(train) // 5)) if len(train) > 1 else 0
        self.train_clips = train[:len(train) - n_val] if n_val else train
        self.val_clips = train[len(train) - n_val:] if n_val else train
        self.spec = isinstance(self.model_config, MusicSpecConfig)
        self.segment = self.model_config.frames if self.spec else self.model_config.segment
        self.rate = self.model_config.sample_rate
        self.pool = [self._features(read_clip(c, self.rate)) for c in self.train_clips]
        self.pool = [p for p in self.pool if p.shape[-1] >= self.segment]
        if not self.pool:
            raise DataMissingError(f"No training clip is long enough for one {self.segment}-step segment.")
        val = [clip_segments(read_clip(c, self.rate), self.model_config) for c in self.val_clips]
        self.val_x = torch.cat([v for v in val if len(v)]) if any(len(v) for v in val) else None
        if self.val_x is None:
            raise DataMissingError("No held-out clip is long enough for one segment.")

    def _features(self, wave: np.ndarray) -> torch.Tensor:
        """What segments are cut from: the log-magnitude ``(freq, frames)`` or the waveform ``(samples,)``."""
        w = torch.from_numpy(wave)
        return log_magnitude(w, self.model_config) if self.spec else w

    def build_model(self) -> torch.nn.Module:
        return build_model(self.config.model, self.model_config)

    def steps_per_epoch(self) -> int:
        total = sum(p.shape[-1] for p in self.pool)
        return max(1, total // self.segment // self.config.batch_size)

    def batch(self, i: int, g: torch.Generator, device: torch.device) -> tuple[Any, int]:
        cfg, out = self.config, []
        for _ in range(cfg.batch_size):
            clip = self.pool[int(torch.randint(len(self.pool), (1,), generator=g))]
            t0 = int(torch.randint(clip.shape[-1] - self.segment + 1, (1,), generator=g))
            gain_db = (float(torch.rand(1, generator=g)) * 2 - 1) * cfg.gain_db
            seg = clip[..., t0:t0 + self.segment]
            out.append(seg + gain_db / DB_RANGE if self.spec else (seg * 10 ** (gain_db / 20)).clamp(-1, 1))
        x = torch.stack(out).to(device)
        return x, len(x)

    def loss(self, model: torch.nn.Module, batch: Any, beta: float,
             noise: torch.Generator) -> dict[str, torch.Tensor]:
        cfg = self.config
        return music_loss(model(batch, generator=noise), batch, cfg.model, beta, cfg.free_bits, cfg.recon_scale)

    def validate(self, model: torch.nn.Module, device: torch.device) -> tuple[dict[str, float], dict[str, float]]:
        terms, lsd, _ = score_segments(model, self.val_x, self.config.beta, self.config.recon_scale, device)
        return terms, {"val_lsd_db": lsd}

    def score(self, val_terms: dict[str, float], figures: dict[str, float]) -> float:
        return -val_terms["total"]

    def data_checksums(self) -> dict[str, Any]:
        return {"music_clips": clip_checksums(self.clips),
                "music_split": {"seed": SPLIT_SEED, "test": [c.clip_id for c in self.test_clips],
                                "val": [c.clip_id for c in self.val_clips]}}

    @torch.no_grad()
    def preview(self, model: torch.nn.Module) -> np.ndarray:
        """One held-out segment as spectrograms, low frequencies at the bottom: input · reconstruction."""
        was_training = model.training
        model.eval()
        x = self.val_x[:1]
        estimate = model(x.to(next(model.parameters()).device)).sources[:, 0].cpu()
        model.train(was_training)
        a, b = (x[0], estimate[0]) if self.spec else (course_log_magnitude(x)[0], course_log_magnitude(estimate)[0])
        gap = torch.full((a.shape[0], 2), 1.0)
        picture = torch.cat([a, gap, b], dim=1).flip(0)
        return ((picture - 0.2) / 0.8).clamp(0, 1).numpy()

