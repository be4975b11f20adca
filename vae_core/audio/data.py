"""The voice task's data: MIR-1K clips (:mod:`vae_core.core.mir1k`) mixed at a chosen voice-to-accompaniment
ratio. Waveforms are float32 ``(samples,)``."""
from __future__ import annotations

import numpy as np


def mix_at_snr(voice: np.ndarray, accompaniment: np.ndarray, snr_db: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Scale the accompaniment so that voice-to-accompaniment energy is ``snr_db``; returns the mixture and
    the scaled accompaniment (the voice is left as recorded, the usual MIR-1K convention)."""
    pv = float(np.sum(voice.astype(np.float64) ** 2))
    pa = float(np.sum(accompaniment.astype(np.float64) ** 2))
    gain = np.sqrt(pv / (pa * 10 ** (snr_db / 10))) if pa > 0 and pv > 0 else 1.0
    acc = (accompaniment * gain).astype(np.float32)
    return voice + acc, acc
