"""The audio model's latent space, for the latent explorer: KL per unit, active units, what each unit covers.

Each source's latent is a map ``(channels, freq', frames')``; a unit sits at one channel, one band of
frequencies and one stretch of time within the patch, which :func:`unit_region` spells out. Shapes: latents
``(N, source, latent_dim)``; decoded patches ``(source, freq, frames)`` in normalised dB.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from vae_core.core.latents import ACTIVE_THRESHOLD, activity, kl_per_dimension
from vae_core.audio.data import mix_at_snr
from vae_core.core.mir1k import read_clip
from vae_core.audio.demo import test_clips
from vae_core.audio.inference import AudioSeparator


@dataclass
class AudioLatentSummary:
    mu: np.ndarray  # (N, source, latent_dim)
    patches: np.ndarray  # (N, F, frames) normalised dB inputs
    refs: np.ndarray  # (N,) each patch's loudest mixture magnitude
    phases: np.ndarray  # (N, F, frames) radians, to play decoded patches with the input's phase
    labels: list[str]  # (N,) "clip_id @ 1.2 s"
    kl: np.ndarray  # (source, latent_dim) nats
    activity: np.ndarray  # (source, latent_dim)
    active: np.ndarray  # (source, latent_dim) bool

    def order(self, source: int) -> np.ndarray:
        """Units of one latent sorted by KL, most informative first."""
        return np.argsort(-self.kl[source], kind="stable")


def summarize_audio(sep: AudioSeparator, n_clips: int = 12, patches_per_clip: int = 6,
                    data_root: Path | None = None) -> AudioLatentSummary:
    """Encode patches spread over the first ``n_clips`` test clips (0 dB mixtures) and summarise each unit."""
    frames = sep.model.config.frames
    hop = sep.stft.hop
    xs, refs, phases, labels = [], [], [], []
    for clip in test_clips(data_root)[:n_clips]:
        voice, acc = read_clip(clip)
        mixture, _ = mix_at_snr(voice, acc, 0.0)
        n_frames = len(mixture) // hop
        for start in np.linspace(0, max(0, n_frames - frames), patches_per_clip).astype(int):
            x, ref, phase = sep.patch_input(mixture, int(start))
            xs.append(x)
            refs.append(ref)
            phases.append(phase.astype(np.float32))
            labels.append(f"{clip.clip_id} @ {start * hop / sep.stft.sample_rate:.1f} s")
    patches = torch.stack(xs)
    mu, logvar = sep.encode(patches)
    act = activity(mu)
    return AudioLatentSummary(mu.numpy(), patches.numpy(), np.array(refs, dtype=np.float32), np.stack(phases), labels,
                              kl_per_dimension(mu, logvar).numpy(), act.numpy(), (act > ACTIVE_THRESHOLD).numpy())


def unit_region(sep: AudioSeparator, unit: int) -> dict[str, float]:
    """Where a latent unit sits: its channel, and the band (Hz) and stretch of the patch (s) it covers."""
    c, f, t = sep.model.config.latent_shape
    ch, rest = divmod(int(unit), f * t)
    fi, ti = divmod(rest, t)
    bins_per_cell = sep.model.config.freq_bins / f
    seconds_per_cell = sep.model.config.frames / t * sep.stft.hop / sep.stft.sample_rate
    hz_per_bin = sep.stft.sample_rate / sep.stft.n_fft
    return {"channel": ch, "hz_low": fi * bins_per_cell * hz_per_bin, "hz_high": (fi + 1) * bins_per_cell * hz_per_bin,
            "t_low": ti * seconds_per_cell, "t_high": (ti + 1) * seconds_per_cell}


def unit_label(sep: AudioSeparator, unit: int) -> str:
    r = unit_region(sep, unit)
    return (f"z{unit} · ch {r['channel']} · {r['hz_low']:.0f}–{r['hz_high']:.0f} Hz · "
            f"{r['t_low']:.2f}–{r['t_high']:.2f} s")


def decode_patch(sep: AudioSeparator, z: np.ndarray) -> np.ndarray:
    """Decode one point ``(source, latent_dim)`` into normalised dB patches ``(source, F, frames)``."""
    return sep.decode(torch.as_tensor(z, dtype=torch.float32).unsqueeze(0))[0].numpy()


def patch_db(sep: AudioSeparator, patch: np.ndarray) -> np.ndarray:
    """A normalised dB patch in dB relative to its loudest bin (for display): ``0 … -80``."""
    return (np.asarray(patch) - 1.0) * -sep.stft.db_floor


def kl_map(sep: AudioSeparator, summary: AudioLatentSummary, source: int) -> tuple[np.ndarray, np.ndarray]:
    """Where the information sits: a source's KL summed over channels, ``(bands, time cells)``, and each band's
    centre frequency in Hz ``(bands,)`` (the bands of :func:`unit_region`)."""
    c, f, t = sep.model.config.latent_shape
    grid = summary.kl[source].reshape(c, f, t).sum(0)
    centres = [(unit_region(sep, fi * t)["hz_low"] + unit_region(sep, fi * t)["hz_high"]) / 2 for fi in range(f)]
    return grid, np.array(centres)
