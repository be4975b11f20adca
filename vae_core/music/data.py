"""The music task's data: GTZAN classical clips (:mod:`vae_core.core.gtzan`) cut into a model's inputs."""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

from vae_core.core.audio_io import segments
from vae_core.music.model import MusicSpecConfig
from vae_core.music.transforms import log_magnitude


def clip_segments(wave: np.ndarray, cfg: Any) -> torch.Tensor:
    """One clip's consecutive, non-overlapping model inputs (the ragged end dropped): log-magnitude segments
    ``(n, freq, frames)`` for a spectrogram model, waveform segments ``(n, samples)`` for the course model."""
    if isinstance(cfg, MusicSpecConfig):
        x = log_magnitude(torch.from_numpy(wave), cfg)
        n = x.shape[-1] // cfg.frames
        return x[:, : n * cfg.frames].reshape(x.shape[0], n, cfg.frames).permute(1, 0, 2).contiguous()
    return torch.from_numpy(segments(wave, cfg.segment))
