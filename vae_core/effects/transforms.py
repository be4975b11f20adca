"""The effects task's front end: log-mel spectrograms of 16 kHz segments, normalised to [0, 1].

``n_fft`` 1024 and hop 256 through :func:`vae_core.core.spectral.stft` (the voice task's transform), 64 mel bands
from 20 Hz to 8 kHz (librosa's Slaney filters), power in dB relative to the segment's own maximum, the top 80 dB
mapped to [0, 1]. Relative to the maximum: a segment's loudness says nothing of its effect (the dry segments are
levelled first, but a compressor or a low-pass filter changes the level), so the map shows timbre and time.
Shapes: waveforms ``(batch, samples)``; spectrograms ``(batch, mels, frames)``; pairs ``(batch, 2, mels, frames)``
(processed, dry) on one scale.
"""
from __future__ import annotations

import functools

import librosa
import numpy as np
import torch

from vae_core.core.spectral import STFTConfig, stft

N_FFT, HOP, N_MELS, TOP_DB = 1024, 256, 64, 80.0
CHUNK = 256  # segments transformed at once
STFT = STFTConfig(n_fft=N_FFT, hop=HOP, sample_rate=16000)


@functools.lru_cache(maxsize=2)
def mel_filters(rate: int = 16000) -> torch.Tensor:
    """``(N_MELS, N_FFT // 2 + 1)`` Slaney mel filterbank, 20 Hz to half the rate."""
    return torch.from_numpy(librosa.filters.mel(sr=rate, n_fft=N_FFT, n_mels=N_MELS, fmin=20.0,
                                                fmax=rate / 2).astype(np.float32))


def _db(waves: torch.Tensor | np.ndarray) -> torch.Tensor:
    x = torch.as_tensor(np.asarray(waves, dtype=np.float32) if not isinstance(waves, torch.Tensor) else waves)
    if x.ndim == 1:
        x = x[None]
    return 10 * torch.log10(mel_filters() @ stft(x, STFT).abs().pow(2) + 1e-10)  # (batch, mels, frames)


def log_mel_pair(wet: torch.Tensor | np.ndarray, dry: torch.Tensor | np.ndarray) -> torch.Tensor:
    """Normalised log-mel pairs ``(batch, 2, N_MELS, frames)``: the processed segment, then the dry one, both
    relative to the louder of the two maxima, so that what an effect did to the level stays visible."""
    pair = torch.stack([_db(wet), _db(dry)], dim=1)
    pair = pair - pair.amax(dim=(1, 2, 3), keepdim=True)
    return (pair.clamp(min=-TOP_DB) / TOP_DB + 1.0).contiguous()


def log_mel(waves: torch.Tensor | np.ndarray) -> torch.Tensor:
    """Normalised log-mel ``(batch, N_MELS, frames)`` in [0, 1] of waveforms ``(batch, samples)`` at 16 kHz
    (1 = the segment's loudest bin, 0 = 80 dB below it or quieter)."""
    db = _db(waves)
    db = db - db.amax(dim=(1, 2), keepdim=True)
    return (db.clamp(min=-TOP_DB) / TOP_DB + 1.0).contiguous()


def model_input(wet: list[np.ndarray] | np.ndarray, dry: list[np.ndarray] | np.ndarray | None = None) -> torch.Tensor:
    """A model's input: pairs :func:`log_mel_pair` ``(n, 2, mels, frames)`` when ``dry`` is given (a conditional
    model), else :func:`log_mel` ``(n, mels, frames)``."""
    out = []
    for s in range(0, len(wet), CHUNK):  # a chunk at a time: the complex STFT of thousands of segments is GBs
        w = np.stack([np.asarray(x, dtype=np.float32) for x in wet[s:s + CHUNK]])
        out.append(log_mel(w) if dry is None else
                   log_mel_pair(w, np.stack([np.asarray(x, np.float32) for x in dry[s:s + CHUNK]])))
    return torch.cat(out)


def target(x: torch.Tensor) -> torch.Tensor:
    """What a model rebuilds from its input ``x``: the processed log-mel ``(n, mels, frames)``."""
    return x[:, 0] if x.ndim == 4 else x
