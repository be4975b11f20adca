"""The music models' front ends: waveform -> model input and back.

- ``music-course`` works on the waveform itself: input = output = ``(batch, samples)``.
- ``music-spec`` works on normalised log-magnitude STFT frames ``(batch, freq, frames)``:
  ``x = (20·log10(|S| + 1e-5) + 100) / 100``, so 0 is -100 dB and 1 is 0 dB (a full-scale sine is about +48 dB
  with a 1024-point Hann window). Back to sound by Griffin-Lim phase reconstruction.
"""
from __future__ import annotations

import torch

from vae_core.core.spectral import STFTConfig, griffin_lim, stft
from vae_core.music.model import MusicSpecConfig

DB_OFFSET, DB_RANGE = 100.0, 100.0
_AMP_EPS = 1e-5
GRIFFIN_LIM_ITERATIONS = 32


def stft_config(cfg: MusicSpecConfig) -> STFTConfig:
    return STFTConfig(n_fft=cfg.n_fft, hop=cfg.hop, sample_rate=cfg.sample_rate)


def normalised_db(mag: torch.Tensor) -> torch.Tensor:
    """Linear STFT magnitude -> the normalised log-magnitude every music model and figure uses."""
    return (20 * torch.log10(mag + _AMP_EPS) + DB_OFFSET) / DB_RANGE


def log_magnitude(wave: torch.Tensor, cfg: MusicSpecConfig) -> torch.Tensor:
    """``(..., samples)`` -> normalised log-magnitude ``(..., freq, frames)``."""
    return normalised_db(stft(wave, stft_config(cfg)).abs())


def magnitude(x: torch.Tensor) -> torch.Tensor:
    """Normalised log-magnitude -> linear STFT magnitude (the inverse of :func:`log_magnitude`'s mapping)."""
    return (10 ** ((x * DB_RANGE - DB_OFFSET) / 20) - _AMP_EPS).clamp(min=0)


def to_wave(x: torch.Tensor, cfg: MusicSpecConfig, length: int | None = None, seed: int = 0,
            iterations: int = GRIFFIN_LIM_ITERATIONS) -> torch.Tensor:
    """Normalised log-magnitude ``(..., freq, frames)`` -> waveform ``(..., samples)`` by Griffin-Lim (its random
    start phases from ``seed``: the same input and seed give the same sound)."""
    length = length or (x.shape[-1] - 1) * cfg.hop
    g = torch.Generator().manual_seed(seed)
    return griffin_lim(magnitude(x.float()), length, stft_config(cfg), iterations, generator=g)


def frames_for(samples: int, cfg: MusicSpecConfig) -> int:
    """STFT frames of a ``samples``-long waveform (centred frames)."""
    return samples // cfg.hop + 1
