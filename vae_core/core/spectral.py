"""Spectrogram front end on torch (``torch.stft`` / ``torch.istft``; torchaudio cannot be used here).

Shapes: waveforms ``(..., samples)``; complex spectrograms ``(..., freq, frames)`` with
``freq = n_fft // 2 + 1``; separated magnitudes or masks ``(batch, source, freq, frames)``.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

EPS = 1e-8


@dataclass(frozen=True)
class STFTConfig:
    """Defaults for 16 kHz speech and music: 64 ms frames, 16 ms hop (n_fft 1024, hop 256)."""

    n_fft: int = 1024
    hop: int = 256
    sample_rate: int = 16000
    db_floor: float = -80.0  # magnitudes below the loudest by more than this are clipped (dB)

    @property
    def freq_bins(self) -> int:
        return self.n_fft // 2 + 1


def stft(wave: torch.Tensor, cfg: STFTConfig = STFTConfig()) -> torch.Tensor:
    """Complex STFT with a periodic Hann window, centred frames: ``(..., samples) -> (..., freq, frames)``."""
    lead = wave.shape[:-1]
    window = torch.hann_window(cfg.n_fft, device=wave.device, dtype=wave.dtype)
    spec = torch.stft(wave.reshape(-1, wave.shape[-1]), cfg.n_fft, cfg.hop, window=window, center=True,
                      return_complex=True)
    return spec.reshape(*lead, *spec.shape[-2:])


def istft(spec: torch.Tensor, length: int, cfg: STFTConfig = STFTConfig()) -> torch.Tensor:
    """Inverse of :func:`stft`: ``(..., freq, frames) -> (..., length)``."""
    lead = spec.shape[:-2]
    window = torch.hann_window(cfg.n_fft, device=spec.device, dtype=spec.real.dtype)
    wave = torch.istft(spec.reshape(-1, *spec.shape[-2:]), cfg.n_fft, cfg.hop, window=window, center=True,
                       length=length)
    return wave.reshape(*lead, length)


def magnitude_db(spec: torch.Tensor, cfg: STFTConfig = STFTConfig()) -> torch.Tensor:
    """Magnitude in dB relative to each example's loudest bin, mapped to [0, 1] (0 = ``db_floor`` or quieter).

    ``spec`` is complex ``(batch, ..., freq, frames)``; the reference level is taken per batch item.
    """
    mag = spec.abs()
    ref = mag.flatten(1).amax(1).clamp(min=EPS).view(-1, *([1] * (mag.ndim - 1)))
    db = 20 * torch.log10(mag.clamp(min=EPS) / ref)
    return (db.clamp(min=cfg.db_floor) - cfg.db_floor) / -cfg.db_floor


def soft_masks(magnitudes: torch.Tensor, power: float = 1.0) -> torch.Tensor:
    """Ratio masks ``|S_i|^p / sum_j |S_j|^p`` over the source axis (dim 1); they sum to one in every bin.

    ``magnitudes`` is ``(batch, source, freq, frames)``, non-negative. Bins where every source is silent get
    equal shares, so the sources still add up to the mixture there.
    """
    m = magnitudes.clamp(min=0) ** power
    total = m.sum(1, keepdim=True)
    equal = torch.full_like(m, 1.0 / m.shape[1])
    return torch.where(total > EPS, m / total.clamp(min=EPS), equal)


def apply_masks(mixture_spec: torch.Tensor, masks: torch.Tensor, length: int,
                cfg: STFTConfig = STFTConfig()) -> torch.Tensor:
    """Resynthesise each source with the mixture phase: ``(batch, freq, frames)`` x ``(batch, source, freq,
    frames)`` -> waveforms ``(batch, source, length)``. Because the masks sum to one, the sources sum to the
    mixture (up to the STFT round trip)."""
    return istft(mixture_spec.unsqueeze(1) * masks, length, cfg)


def griffin_lim(magnitude: torch.Tensor, length: int, cfg: STFTConfig = STFTConfig(), iterations: int = 32,
                momentum: float = 0.99, generator: torch.Generator | None = None) -> torch.Tensor:
    """A waveform ``(..., length)`` whose STFT magnitude approaches ``magnitude`` ``(..., freq, frames)``: Griffin &
    Lim (1984) with the momentum of Perraudin et al. (2013, "A fast Griffin-Lim algorithm"), from random phases
    drawn from ``generator`` (the same generator state gives the same waveform)."""
    phase = torch.rand(magnitude.shape, generator=generator, dtype=magnitude.dtype) * (2 * torch.pi)
    angles = torch.polar(torch.ones_like(magnitude), phase.to(magnitude.device))
    previous = torch.zeros_like(angles)
    for _ in range(iterations):
        rebuilt = stft(istft(magnitude * angles, length, cfg), cfg)
        accelerated = rebuilt - (momentum / (1 + momentum)) * previous
        previous = rebuilt
        angles = accelerated / accelerated.abs().clamp(min=EPS)
    return istft(magnitude * angles, length, cfg)
