"""Inference API: a loaded music checkpoint that generates, encodes, decodes and reconstructs music.

    from vae_core import load_checkpoint
    m = load_checkpoint("music-spec")
    clips = m.generate(4, seconds=5.0, seed=0)        # (4, samples) float32 at m.rate Hz
    z = m.encode(waveform, rate)                      # (steps, dim): one latent vector per step
    audio = m.decode(z)                               # (samples,) at m.rate Hz
    row = m.interpolate(a, b, rate, points=5)         # (5, samples): a ... b along the latent path

A *step* is one segment for ``music-course`` (``segment / sample_rate`` seconds, one latent vector each), one
segment of ``frames`` STFT frames for ``music-spec`` with a ``global_latent``, and one latent frame for
``music-spec`` with a latent sequence (``hop * 2 ** downsamples / sample_rate`` seconds). Longer audio is a
sequence of steps: the course model decodes each segment on its own (joined with a short crossfade); the
spectrogram model decodes every step's frames side by side and reconstructs the phase of the whole at once.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vae_core.core.audio_io import resample
from vae_core.core.inference import LoadedModel
from vae_core.core.errors import LabError
from vae_core.core.models import SeparationVAE
from vae_core.music.model import MUSIC_SOURCES, MusicSpecConfig
from vae_core.music.prior import FittedPrior
from vae_core.music.transforms import log_magnitude, to_wave

MAX_SECONDS = 60.0
MAX_CLIPS = 64
MAX_TEMPERATURE = 5.0
CROSSFADE_S = 0.02


def check_generation(n: Any, seconds: Any, temperature: Any) -> tuple[int, float, float]:
    """Validate a generation request; one sentence on anything wrong."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 1 <= n <= MAX_CLIPS:
        raise LabError(f"The number of clips must be a whole number from 1 to {MAX_CLIPS}, not {n!r}.")
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not math.isfinite(seconds) \
            or not 0.1 <= seconds <= MAX_SECONDS:
        raise LabError(f"The length must be between 0.1 and {MAX_SECONDS:g} seconds, not {seconds!r}.")
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) \
            or not math.isfinite(temperature) or not 0 <= temperature <= MAX_TEMPERATURE:
        raise LabError(f"The temperature must be between 0 and {MAX_TEMPERATURE:g}, not {temperature!r}.")
    return int(n), float(seconds), float(temperature)


def check_waveform(waveform: Any, rate: Any) -> np.ndarray:
    """A mono float32 ``(samples,)`` from what a user passed (``(channels, samples)`` is averaged)."""
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 1000 <= rate <= 192000:
        raise LabError(f"The sample rate must be between 1000 and 192000 Hz, not {rate!r}.")
    a = np.asarray(waveform, dtype=np.float32) if not isinstance(waveform, torch.Tensor) else \
        waveform.detach().cpu().float().numpy()
    if a.ndim == 2:
        a = a.mean(axis=0)
    if a.ndim != 1 or a.size == 0:
        raise LabError(f"The waveform must be a non-empty (samples,) or (channels, samples) array, not shape "
                       f"{a.shape}.")
    if not np.isfinite(a).all():
        raise LabError("The waveform contains NaN or infinite samples; pass finite values in [-1, 1].")
    if a.size / rate > 10 * MAX_SECONDS:
        raise LabError(f"The waveform is {a.size / rate:.0f} s long; pass at most {10 * MAX_SECONDS:.0f} s.")
    return a


class MusicGenerator(LoadedModel):
    """A trained music VAE with its sidecar metadata."""

    task = "music"
    sources = MUSIC_SOURCES

    def __init__(self, model: SeparationVAE, meta: dict[str, Any], path: Path | None = None):
        super().__init__(model, meta, path)
        self.config = model.config
        self.spec = isinstance(self.config, MusicSpecConfig)
        self.segmented = not self.spec or self.config.global_latent > 0  # one latent vector per segment
        self.fitted_prior = FittedPrior.from_json(meta["latent_prior"]) if meta.get("latent_prior") else None

    @property
    def rate(self) -> int:
        """The sample rate of everything this model returns (Hz)."""
        return int(self.config.sample_rate)

    @property
    def step_dim(self) -> int:
        """Size of one step's latent vector."""
        return self.config.latent_dim if self.segmented else self.config.latent_channels

    @property
    def step_seconds(self) -> float:
        c = self.config
        if self.spec:
            return c.hop * (c.frames if self.segmented else 2 ** c.downsamples) / c.sample_rate
        return c.segment / c.sample_rate

    def steps_for(self, seconds: float) -> int:
        """Latent steps that decode to at least ``seconds`` (course segments overlap by the crossfade)."""
        steps = max(1, math.ceil(seconds / self.step_seconds))
        if not self.spec:
            overlap, segment = int(CROSSFADE_S * self.rate), self.config.segment
            while steps * segment - (steps - 1) * overlap < seconds * self.rate:
                steps += 1
        return steps

    @torch.no_grad()
    def encode(self, waveform: Any, rate: float) -> np.ndarray:
        """Posterior means ``(steps, dim)`` of a waveform at ``rate`` Hz (resampled to the model's rate; padded
        with silence to a whole number of steps)."""
        wave = resample(check_waveform(waveform, rate), rate, self.rate)
        c = self.config
        if self.spec:
            block = c.frames if self.segmented else 2 ** c.downsamples
            x = log_magnitude(torch.from_numpy(wave), c)
            frames = math.ceil(x.shape[-1] / block) * block
            x = torch.nn.functional.pad(x, (0, frames - x.shape[-1]), value=0.0)  # 0 = -100 dB: silence
            if self.segmented:  # consecutive segments, one latent vector each
                x = x.view(x.shape[0], -1, c.frames).permute(1, 0, 2)
                return self.model.encode(x.to(self.device))[0][:, 0].cpu().numpy()
            mu, _ = self.model.encode(x.unsqueeze(0).to(self.device))
            return mu[0, 0].view(c.latent_channels, -1).T.cpu().numpy()
        n = math.ceil(len(wave) / c.segment)
        wave = np.pad(wave, (0, n * c.segment - len(wave)))
        mu, _ = self.model.encode(torch.from_numpy(wave).view(n, c.segment).to(self.device))
        return mu[:, 0].cpu().numpy()

    @torch.no_grad()
    def decode(self, z: Any, seconds: float | None = None, seed: int = 0) -> np.ndarray:
        """Latent steps ``(steps, dim)`` -> waveform ``(samples,)`` at :attr:`rate`, cut to ``seconds`` if given.
        ``seed`` picks Griffin-Lim's start phases (spectrogram models)."""
        z = torch.as_tensor(np.asarray(z, dtype=np.float32))
        if z.ndim != 2 or z.shape[1] != self.step_dim or not len(z):
            raise LabError(f"Latents must have shape (steps, {self.step_dim}), not {tuple(z.shape)}.")
        if not torch.isfinite(z).all():
            raise LabError("Latents contain NaN or infinite values.")
        c = self.config
        if self.spec:
            if self.segmented:  # segments side by side in time, then one phase reconstruction for all
                x = self.model.decode(z.to(self.device)).cpu().permute(1, 0, 2).reshape(c.freq_bins, -1)
            else:
                x = self.model.decode(z.T.reshape(1, -1).to(self.device)).cpu()[0]
            wave = to_wave(x, c, seed=seed).numpy()
        else:
            segs = self.model.decode(z.to(self.device)).cpu().numpy()
            wave = _crossfade(segs, int(CROSSFADE_S * c.sample_rate))
        if seconds is not None:
            wave = wave[: int(round(seconds * self.rate))]
        return wave.astype(np.float32)

    def generate(self, n: int = 1, seconds: float = 5.0, seed: int = 0, temperature: float = 1.0,
                 prior: str = "standard") -> np.ndarray:
        """``n`` new clips ``(n, samples)`` at :attr:`rate` Hz, decoded from ``z ~ N(0, temperature² I)``
        (``prior="standard"``, the VAE's own prior) or from the prior fitted to the training encodings
        (``prior="fitted"``, see :mod:`vae_core.music.prior`). The same seed gives the same clips."""
        n, seconds, temperature = check_generation(n, seconds, temperature)
        steps = self.steps_for(seconds)
        if prior == "fitted":
            if self.fitted_prior is None:
                raise LabError(f"{self.name} has no fitted prior; fit one with `python -m vae_core fit-prior "
                               f"{self.name}`, or sample the standard prior.")
            z = torch.from_numpy(self.fitted_prior.sample(n, steps, temperature, np.random.default_rng(int(seed))))
        elif prior == "standard":
            g = torch.Generator().manual_seed(int(seed))
            z = torch.randn((n, steps, self.step_dim), generator=g) * temperature
        else:
            raise LabError(f"The prior must be 'standard' or 'fitted', not {prior!r}.")
        return np.stack([self.decode(z[i], seconds, seed=int(seed) + i) for i in range(n)])

    def reconstruct(self, waveform: Any, rate: float) -> np.ndarray:
        """The waveform through the model (posterior means): ``(samples,)`` at :attr:`rate`."""
        wave = check_waveform(waveform, rate)
        return self.decode(self.encode(wave, rate), seconds=len(wave) / rate)

    def interpolate(self, a: Any, b: Any, rate: float, points: int = 5) -> np.ndarray:
        """``points`` clips ``(points, samples)`` along the straight latent path from ``a``'s encoding to ``b``'s
        (both cut to the shorter one)."""
        if isinstance(points, bool) or not isinstance(points, int) or not 2 <= points <= 16:
            raise LabError(f"The number of points must be a whole number from 2 to 16, not {points!r}.")
        za, zb = self.encode(a, rate), self.encode(b, rate)
        steps = min(len(za), len(zb))
        return np.stack([self.decode((1 - t) * za[:steps] + t * zb[:steps]) for t in np.linspace(0, 1, points)])

    def warm_up(self) -> "MusicGenerator":
        """One short generation: the first call pays one-off kernel set-up."""
        self.generate(1, seconds=min(1.0, MAX_SECONDS), seed=0)
        return self


def _crossfade(segments: np.ndarray, overlap: int) -> np.ndarray:
    """Join ``(n, samples)`` segments end to start with a linear crossfade of ``overlap`` samples."""
    if len(segments) == 1 or overlap <= 0:
        return segments.reshape(-1)
    out = segments[0]
    ramp = np.linspace(0, 1, overlap, dtype=np.float32)
    for seg in segments[1:]:
        out = np.concatenate([out[:-overlap], out[-overlap:] * (1 - ramp) + seg[:overlap] * ramp, seg[overlap:]])
    return out
