"""Inference API for audio checkpoints.

    from vae_core import load_checkpoint
    m = load_checkpoint("audio-conv")
    voice, accompaniment = m.separate(waveform, sample_rate)   # 1-D float tensor -> (2, samples), same rate

Any sample rate is accepted: the mixture is resampled to the model's 16 kHz, separated, and the voice
resampled back; the accompaniment is the mixture minus the voice, so the two always sum to the input exactly
(content above 8 kHz, which the model never sees, stays with the accompaniment). Long inputs are processed in
chunks that are cross-faded, with a progress callback.

Test-time speed averaging: a checkpoint tuned with ``python -m vae_core tune audio`` may store playback
``speeds``; the mixture is then separated once at each speed (played faster or slower, so the singer sounds
higher or lower, as in the speed-perturbed training) and the voices, brought back to speed 1, are averaged.
Each speed is one more pass; the tuned setting may also lay patches side by side (``overlap`` 1) where one
pass overlaps them by half, because the passes at other speeds cut the clip at other places.
``separate(..., speeds=ONE_PASS_SPEEDS, overlap=ONE_PASS_OVERLAP)`` is the quick single pass.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from vae_core.core.inference import LoadedModel
from vae_core.core.errors import LabError
from vae_core.core.mir1k import SAMPLE_RATE
from vae_core.audio.filtering import MASK_POWER, check_mask_power, normalised_patches, separate_waveform
from vae_core.core.audio_io import MAX_RATE, MIN_RATE, change_speed, check_speeds, resample
from vae_core.audio.model import AUDIO_SOURCES, AudioConvSeparationVAE, db_to_amplitude
from vae_core.core.spectral import STFTConfig, istft, stft

CHUNK_SECONDS = 30.0
FADE_SECONDS = 1.0
# The quick setting (and that of untuned checkpoints): one pass as recorded, patches at 50 % overlap.
ONE_PASS_SPEEDS, ONE_PASS_OVERLAP = (1.0,), 2


def check_waveform(waveform: Any, sample_rate: Any) -> np.ndarray:
    """Validate a user-supplied mono waveform; one clear sentence on anything wrong."""
    if isinstance(waveform, torch.Tensor):
        if not waveform.is_floating_point():
            raise LabError("The waveform must be a float tensor with samples in [-1, 1] (divide 16-bit PCM by 32768).")
        waveform = waveform.detach().cpu().float().numpy()
    elif isinstance(waveform, np.ndarray):
        if not np.issubdtype(waveform.dtype, np.floating):
            raise LabError("The waveform must hold floats in [-1, 1] (divide 16-bit PCM by 32768).")
        waveform = waveform.astype(np.float32)
    else:
        raise LabError(f"The waveform must be a 1-D torch tensor, not {type(waveform).__name__}.")
    if waveform.ndim != 1:
        raise LabError(f"The waveform must be 1-D (samples,), not shape {tuple(waveform.shape)}; mix channels "
                       "down first (e.g. x.mean(0)).")
    if len(waveform) == 0:
        raise LabError("The waveform is empty.")
    if not np.isfinite(waveform).all():
        raise LabError("The waveform contains NaN or infinite samples.")
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, (int, np.integer)) \
            or not MIN_RATE <= sample_rate <= MAX_RATE:
        raise LabError(f"sample_rate must be a whole number of Hz between {MIN_RATE} and {MAX_RATE}, not {sample_rate!r}.")
    return waveform


def check_overlap(overlap: Any) -> int:
    """Patches per STFT frame (1: side by side, 2: 50 % overlap, ...); one clear sentence on anything wrong."""
    if isinstance(overlap, bool) or not isinstance(overlap, (int, np.integer)) or not 1 <= overlap <= 8:
        raise LabError(f"overlap must be a whole number from 1 to 8 (patches per frame), not {overlap!r}.")
    return int(overlap)


class AudioSeparator(LoadedModel):
    """A loaded audio separation checkpoint."""

    task = "audio"
    sources = AUDIO_SOURCES

    def __init__(self, model: AudioConvSeparationVAE, meta: dict[str, Any], path: Path | None = None):
        super().__init__(model, meta, path)
        self.stft = STFTConfig()
        # Mask power and speeds: those chosen on the dev clips (``python -m vae_core tune audio``), else the
        # training power and one pass.
        inference = meta.get("inference") or {}
        self.mask_power = check_mask_power(inference.get("mask_power")
                                           or meta.get("train_config", {}).get("mask_power") or MASK_POWER)
        self.speeds = check_speeds(inference.get("speeds") or ONE_PASS_SPEEDS)
        self.overlap = check_overlap(inference.get("overlap") or ONE_PASS_OVERLAP)

    def separate(self, waveform: torch.Tensor | np.ndarray, sample_rate: int = SAMPLE_RATE,
                 progress: Callable[[float], None] | None = None, speeds: tuple[float, ...] | None = None,
                 overlap: int | None = None) -> torch.Tensor:
        """``(samples,)`` mixture at ``sample_rate`` -> ``(2, samples)`` = [voice, accompaniment], same rate.

        ``speeds`` and ``overlap`` override the checkpoint's test-time speeds and patch overlap
        (``ONE_PASS_SPEEDS``, ``ONE_PASS_OVERLAP``: the quick setting)."""
        x = check_waveform(waveform, sample_rate)
        speeds = self.speeds if speeds is None else check_speeds(speeds)
        overlap = self.overlap if overlap is None else check_overlap(overlap)
        x16 = resample(x, int(sample_rate), SAMPLE_RATE)
        voice16 = self.separate_16k(x16, progress, speeds, overlap)
        voice = resample(voice16, SAMPLE_RATE, int(sample_rate))
        voice = np.pad(voice, (0, max(0, len(x) - len(voice))))[: len(x)]
        return torch.from_numpy(np.stack([voice, x - voice]))

    def separate_16k(self, x: np.ndarray, progress: Callable[[float], None] | None = None,
                     speeds: tuple[float, ...] | None = None, overlap: int | None = None) -> np.ndarray:
        """The voice ``(samples,)`` of a 16 kHz mixture ``(samples,)``: the mean over ``speeds`` (default: the
        checkpoint's) of the voice separated from the mixture played at that speed, brought back to speed 1."""
        speeds = self.speeds if speeds is None else speeds
        overlap = self.overlap if overlap is None else overlap
        n = len(x)
        voice = np.zeros(n, dtype=np.float32)
        for k, speed in enumerate(speeds):
            xs = x if speed == 1.0 else change_speed(x, speed, SAMPLE_RATE)
            m = len(xs)
            # The STFT needs at least one frame's worth of samples: very short inputs are padded with silence.
            xs = np.pad(xs, (0, max(0, self.stft.n_fft - m)))
            part = None if progress is None else (lambda f, k=k: progress((k + f) / len(speeds)))
            v = self._separate_chunked(xs, part, overlap)[:m]
            if speed != 1.0:
                v = change_speed(v, 1.0 / speed, SAMPLE_RATE)
            voice += np.pad(v, (0, max(0, n - len(v))))[:n]
        return voice / len(speeds)

    def _separate_chunked(self, x: np.ndarray, progress: Callable[[float], None] | None, overlap: int) -> np.ndarray:
        chunk = int(CHUNK_SECONDS * SAMPLE_RATE)
        fade = int(FADE_SECONDS * SAMPLE_RATE)
        if len(x) <= chunk + fade:
            return separate_waveform(self.model, x, self.stft, progress, self.mask_power, overlap)[0]
        # Chunks overlap by ``fade`` samples and are cross-faded linearly; memory stays flat for long files.
        voice = np.zeros_like(x)
        ramp = np.linspace(0.0, 1.0, fade, dtype=np.float32)
        starts = list(range(0, len(x) - fade, chunk))
        for k, s in enumerate(starts):
            e = min(len(x), s + chunk + fade)
            part = separate_waveform(self.model, x[s:e], self.stft, mask_power=self.mask_power, overlap=overlap)[0]
            w = np.ones(e - s, dtype=np.float32)
            if k > 0:
                w[:fade] = ramp
            if e < len(x):
                w[-fade:] = ramp[::-1]
            voice[s:e] += part * w
            if progress:
                progress((k + 1) / len(starts))
        return voice

    def warm_up(self) -> "AudioSeparator":
        """One separation of a short noise burst, so one-off kernel set-up does not land on a user's click."""
        self.separate(np.random.default_rng(0).normal(0, 0.1, SAMPLE_RATE).astype(np.float32))
        return self

    # The latent explorer's view: one patch of a clip.
    def patch_input(self, mixture: np.ndarray, start_frame: int = 0) -> tuple[torch.Tensor, float, np.ndarray]:
        """Normalised dB patch ``(F, frames)`` of a 16 kHz mixture starting at ``start_frame``, its reference
        magnitude (the patch's loudest bin, to turn decoded patches back into magnitudes) and its phase
        ``(F, frames)`` in radians (to play decoded patches)."""
        spec = stft(torch.as_tensor(mixture, dtype=torch.float32), self.stft)
        frames = self.model.config.frames
        patch = torch.zeros(spec.shape[0], frames, dtype=spec.dtype)
        piece = spec[:, start_frame:start_frame + frames]
        patch[:, :piece.shape[1]] = piece
        x, _ = normalised_patches(patch.unsqueeze(0), cfg=self.stft)
        return x[0], float(patch.abs().max()), patch.angle().numpy()

    @torch.no_grad()
    def encode(self, patches: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior means and log-variances, each ``(N, 2, latent_dim)``, of patches ``(N, F, frames)``."""
        mu, logvar = self.model.encode(patches.to(self.device))
        return mu.cpu(), logvar.cpu()

    @torch.no_grad()
    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Decode latents ``(N, 2, latent_dim)`` into normalised dB patches ``(N, 2, F, frames)``."""
        return self.model.decode_all(z.to(self.device)).cpu()

    def patch_audio(self, patch_db: np.ndarray, ref: float, phase: np.ndarray | None = None,
                    n_iter: int = 32) -> np.ndarray:
        """A decoded normalised-dB patch ``(F, frames)`` made audible. The decoder gives magnitudes only: the
        phase is borrowed (``phase``, e.g. the input patch's: one inverse STFT) or estimated by Griffin-Lim."""
        import librosa  # imported here: it takes a second to import, and only Griffin-Lim needs it

        patch = torch.as_tensor(np.asarray(patch_db, dtype=np.float32))
        mag = (db_to_amplitude(patch) * ref).numpy()
        mag[patch.numpy() <= 0] = 0.0  # the floor of the dB scale is silence
        if phase is not None:
            spec = torch.from_numpy(mag * np.exp(1j * np.asarray(phase)).astype(np.complex64))
            return istft(spec, (mag.shape[1] - 1) * self.stft.hop, self.stft).numpy()
        return librosa.griffinlim(mag, n_iter=n_iter, hop_length=self.stft.hop, n_fft=self.stft.n_fft,
                                  window="hann", center=True, random_state=0).astype(np.float32)
