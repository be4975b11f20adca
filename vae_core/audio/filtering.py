"""From a mixture spectrogram to source masks over a whole clip: patching, normalisation, overlap-add.

The model sees fixed-length patches (``frames`` STFT frames) of normalised dB magnitudes. A clip of any
length is cut into patches with 50 % overlap; each patch's decoded magnitudes become soft masks, and the
masks of overlapping patches are cross-faded with a Hann-shaped weight.

Shapes: complex mixture spectrogram ``(freq, frames)``; masks ``(source, freq, frames)`` summing to one.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch

from vae_core.core.errors import ConfigError
from vae_core.audio.model import AudioConvSeparationVAE, db_to_amplitude
from vae_core.core.spectral import STFTConfig, apply_masks, magnitude_db, soft_masks, stft

MASK_POWER = 2.0  # |V|^p/(|V|^p+|A|^p) with p = 2 (Wiener-like) while training; checkpoints may store their own p
MAX_MASK_POWER = 8.0  # beyond this the masks are binary in all but name


def check_mask_power(power: Any) -> float:
    """A mask power ``p`` for ``|V|^p / (|V|^p + |A|^p)`` (training or inference); one clear sentence on
    anything wrong."""
    if isinstance(power, bool) or not isinstance(power, (int, float, np.number)) \
            or not 0 < power <= MAX_MASK_POWER:
        raise ConfigError(f"mask power must be a number in (0, {MAX_MASK_POWER:g}], not {power!r}.")
    return float(power)


def normalised_patches(mixture: torch.Tensor, sources: torch.Tensor | None = None,
                       cfg: STFTConfig = STFTConfig()) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Normalised dB of mixture patches ``(batch, F, T)`` (complex) and, optionally, of their sources
    ``(batch, source, F, T)`` (complex) on the mixture's scale, so the model's outputs are comparable."""
    x = magnitude_db(mixture, cfg)
    if sources is None:
        return x, None
    ref = mixture.abs().flatten(1).amax(1).clamp(min=1e-8).view(-1, 1, 1, 1)
    db = 20 * torch.log10(sources.abs().clamp(min=1e-8) / ref)
    return x, ((db.clamp(min=cfg.db_floor) - cfg.db_floor) / -cfg.db_floor).clamp(max=1.0)


def patch_starts(n_frames: int, frames: int, overlap: int = 2) -> list[int]:
    """Start frames of patches that cover ``n_frames``, each frame seen by ``overlap`` patches (2: 50 %
    overlap); the last one may run past the end."""
    hop = frames // overlap
    n = max(1, -(-(n_frames - frames) // hop) + 1) if n_frames > frames else 1
    return [i * hop for i in range(n)]


def inference_cost(speeds: tuple[float, ...] | list[float], overlap: int) -> float:
    """Model work per second of audio relative to one pass with 50 % patch overlap: a pass at speed ``s``
    has ``1/s`` as many frames, and ``overlap`` patches see each frame."""
    return overlap / 2 * sum(1.0 / s for s in speeds)


def _crossfade(frames: int) -> torch.Tensor:
    # sin² window shifted by half a frame: never zero, so clip edges covered by one patch keep their mask.
    t = (torch.arange(frames, dtype=torch.float32) + 0.5) / frames
    return torch.sin(torch.pi * t) ** 2


@torch.no_grad()
def separate_spectrogram(model: AudioConvSeparationVAE, mixture: torch.Tensor, cfg: STFTConfig = STFTConfig(),
                         batch_size: int = 32, progress: Callable[[float], None] | None = None,
                         overlap: int = 2, mask_power: float = MASK_POWER) -> tuple[torch.Tensor, torch.Tensor]:
    """Soft masks ``(source, F, T)`` and decoded normalised-dB patches overlap-added ``(source, F, T)`` for a
    complex mixture spectrogram ``(F, T)``. ``progress`` is called with the fraction done after each batch."""
    frames = model.config.frames
    device = next(model.parameters()).device
    n = mixture.shape[-1]
    starts = patch_starts(n, frames, overlap)
    padded = torch.zeros(mixture.shape[0], starts[-1] + frames, dtype=mixture.dtype)
    padded[:, :n] = mixture
    w = _crossfade(frames)
    masks = torch.zeros(2, mixture.shape[0], padded.shape[-1])
    decoded = torch.zeros_like(masks)
    weight = torch.zeros(padded.shape[-1])
    for b in range(0, len(starts), batch_size):
        chunk = starts[b:b + batch_size]
        spec = torch.stack([padded[:, s:s + frames] for s in chunk])
        x, _ = normalised_patches(spec, cfg=cfg)
        y = model(x.to(device), sample=False).sources.cpu()  # (batch, source, F, frames)
        m = soft_masks(db_to_amplitude(y), mask_power)
        for i, s in enumerate(chunk):
            masks[:, :, s:s + frames] += m[i] * w
            decoded[:, :, s:s + frames] += y[i] * w
            weight[s:s + frames] += w
        if progress:
            progress(min(1.0, (b + len(chunk)) / len(starts)))
    return (masks / weight)[:, :, :n], (decoded / weight)[:, :, :n]


def separate_waveform(model: AudioConvSeparationVAE, mixture: np.ndarray | torch.Tensor,
                      cfg: STFTConfig = STFTConfig(), progress: Callable[[float], None] | None = None,
                      mask_power: float = MASK_POWER, overlap: int = 2) -> np.ndarray:
    """Separate a 16 kHz mixture ``(samples,)`` into ``(2, samples)`` = [voice, accompaniment], float32.

    The two estimates sum to the mixture (soft masks that sum to one, mixture phase). ``overlap``: how many
    patches see each frame (2: 50 % overlap)."""
    x = torch.as_tensor(np.asarray(mixture, dtype=np.float32))
    spec = stft(x, cfg)
    masks, _ = separate_spectrogram(model, spec, cfg, progress=progress, mask_power=mask_power, overlap=overlap)
    return apply_masks(spec.unsqueeze(0), masks.unsqueeze(0), len(x), cfg)[0].numpy()
