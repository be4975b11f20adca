"""What the Audio separation page shows, as plain numpy (the page only lays it out).

A :class:`ClipResult` holds the mixture, the separated sources, the ground truth (dataset clips only) and
the per-clip scores of the model beside the oracle ideal ratio mask and the mixture used as the estimate.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from vae_core.audio.data import mix_at_snr
from vae_core.core.mir1k import SAMPLE_RATE, Clip, find_clips, read_clip, split_clips
from vae_core.audio.evaluation import oracle_irm
from vae_core.core.metrics import ClipScore, bss_eval, si_sdr
from vae_core.core.spectral import STFTConfig, stft

TRACKS = ("mixture", "voice", "accompaniment")
DISPLAY_FLOOR_DB = -80.0


@dataclass
class ClipResult:
    mixture: np.ndarray  # (samples,)
    estimates: np.ndarray  # (2, samples): voice, accompaniment
    sample_rate: int
    truth: np.ndarray | None = None  # (2, samples) for dataset clips
    scores: dict[str, dict[str, list[float]]] = field(default_factory=dict)  # method -> metric -> per source

    def tracks(self) -> list[tuple[str, np.ndarray]]:
        """What the page plays and draws, labelled: the mixture, both estimates, and the truth when known."""
        rows = [("Mixture", self.mixture), ("Separated voice", self.estimates[0]),
                ("Separated accompaniment", self.estimates[1])]
        if self.truth is not None:
            rows += [("True voice", self.truth[0]), ("True accompaniment", self.truth[1])]
        return rows


def test_clips(root: Path | None = None) -> list[Clip]:
    """The MIR-1K ``test`` clips (the ones no shipped model was trained on)."""
    return split_clips(find_clips(root), "test")


def mixed_clip(clip: Clip, snr_db: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mixture, voice and accompaniment of a clip with voice-to-music ratio ``snr_db`` (float32, 16 kHz)."""
    voice, acc = read_clip(clip)
    mixture, acc = mix_at_snr(voice, acc, snr_db)
    return mixture, voice, acc


def score_methods(truth: np.ndarray, estimates: np.ndarray, mixture: np.ndarray) -> dict[str, dict[str, list[float]]]:
    """SDR, SIR, SAR, NSDR and SI-SDR per source for the model, the oracle IRM and the mixture as estimate."""
    methods = {"model": estimates, "oracle IRM": oracle_irm(truth[0], truth[1]),
               "mixture": np.stack([mixture, mixture])}
    bss = {name: bss_eval(truth, est) for name, est in methods.items()}
    out: dict[str, dict[str, list[float]]] = {}
    for name, est in methods.items():
        r = bss[name]
        score = ClipScore(truth.shape[1], r["sdr"], r["sir"], r["sar"], bss["mixture"]["sdr"])
        out[name] = {"SDR": score.sdr.tolist(), "SIR": score.sir.tolist(), "SAR": score.sar.tolist(),
                     "NSDR": score.nsdr.tolist(), "SI-SDR": [si_sdr(truth[s], est[s]) for s in range(2)]}
    return {k: out[k] for k in ("model", "oracle IRM", "mixture")}


def separate_clip(separator, clip: Clip, snr_db: float = 0.0, progress: Callable[[float], None] | None = None,
                  speeds: tuple[float, ...] | None = None, overlap: int | None = None) -> ClipResult:
    """Separate one test clip mixed at ``snr_db`` and score it (``speeds``, ``overlap``: see
    ``AudioSeparator.separate``)."""
    mixture, voice, acc = mixed_clip(clip, snr_db)
    est = separator.separate(torch.from_numpy(mixture), SAMPLE_RATE, progress=progress, speeds=speeds,
                             overlap=overlap).numpy()
    truth = np.stack([voice, acc])
    return ClipResult(mixture, est, SAMPLE_RATE, truth, score_methods(truth, est, mixture))


def separate_recording(separator, audio: np.ndarray, sample_rate: int,
                       progress: Callable[[float], None] | None = None,
                       speeds: tuple[float, ...] | None = None, overlap: int | None = None) -> ClipResult:
    """Separate a user's recording (mono float32 at its own rate); no ground truth, so no scores."""
    est = separator.separate(audio, sample_rate, progress=progress, speeds=speeds, overlap=overlap).numpy()
    return ClipResult(audio, est, sample_rate)


def spectrogram_db(wave: np.ndarray, sample_rate: int, max_frames: int = 800) -> tuple[np.ndarray, np.ndarray,
                                                                                         np.ndarray]:
    """Magnitude in dB (0 dB = full scale sine) for display, with its time (s) and frequency (Hz) axes.

    Long signals are decimated in time (max over neighbouring frames, so short events stay visible)."""
    cfg = STFTConfig(sample_rate=sample_rate)
    wave = np.asarray(wave, dtype=np.float32)
    seg = 60 * sample_rate // cfg.hop * cfg.hop  # a minute at a time: a long upload's full STFT is hundreds of MB
    parts = []
    for s in range(0, len(wave), seg):
        piece = wave[s:s + seg]
        padded = np.pad(piece, (0, max(0, cfg.n_fft - len(piece))))  # a last scrap shorter than one frame
        spec = stft(torch.from_numpy(padded), cfg).abs().numpy()
        parts.append(20 * np.log10(np.maximum(spec / (cfg.n_fft / 4), 1e-10))[:, : -(-len(piece) // cfg.hop)])
    db = np.concatenate(parts, axis=1)
    step = max(1, -(-db.shape[1] // max_frames))
    if step > 1:
        pad = (-db.shape[1]) % step
        db = np.pad(db, ((0, 0), (0, pad)), constant_values=DISPLAY_FLOOR_DB).reshape(db.shape[0], -1, step).max(2)
    times = np.arange(db.shape[1]) * step * cfg.hop / sample_rate
    freqs = np.arange(db.shape[0]) * sample_rate / cfg.n_fft
    return np.maximum(db, DISPLAY_FLOOR_DB).astype(np.float32), times, freqs


def shared_db_range(spectrograms: list[np.ndarray], span_db: float = 80.0) -> tuple[float, float]:
    """One colour scale for spectrograms shown side by side: from the loudest bin down ``span_db``."""
    top = float(max(s.max() for s in spectrograms))
    return top - span_db, top
