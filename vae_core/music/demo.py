"""What the music page plays: real test clips (at the model's rate or their own), cut to a length, and
spectrogram pictures of any waveform."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from vae_core.core.spectral import STFTConfig, stft
from vae_core.core.gtzan import MusicClip, find_clips, read_clip, split_clips


def test_clips(data_root: Path | None = None) -> list[MusicClip]:
    """The held-out clips (never trained on), by id."""
    return split_clips(find_clips(data_root))[1]


def clip_excerpt(clip: MusicClip, rate: int, start_s: float = 0.0, seconds: float = 5.0) -> np.ndarray:
    """``seconds`` of ``clip`` from ``start_s``, mono float32 at ``rate`` Hz (shorter at the clip's end)."""
    wave = read_clip(clip, rate)
    a = int(max(0.0, start_s) * rate)
    return wave[a: a + int(seconds * rate)]


def spectrogram_db(wave: np.ndarray, rate: int, floor_db: float = -80.0) -> np.ndarray:
    """Magnitude in dB ``(freq, frames)`` relative to the loudest bin (``floor_db`` and below clipped), with
    frames of about 46 ms: what the page pictures, low frequencies in row 0."""
    n_fft = 256 if rate <= 8000 else 1024
    spec = stft(torch.from_numpy(np.asarray(wave, dtype=np.float32)), STFTConfig(n_fft=n_fft, hop=n_fft // 4,
                                                                                   sample_rate=rate)).abs()
    db = 20 * torch.log10(spec.clamp(min=1e-8) / spec.max().clamp(min=1e-8))
    return db.clamp(min=floor_db).numpy()
