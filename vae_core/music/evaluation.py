"""Scoring a music checkpoint on the held-out test clips: how well it reconstructs them (log-spectral distance,
the ELBO terms per segment) and how many of its latent dimensions it uses."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from vae_core.core.latents import active_units
from vae_core.music.data import find_clips, read_clip, split_clips
from vae_core.music.inference import MusicGenerator
from vae_core.music.loss import MUSIC_LOSS_TERMS, music_loss
from vae_core.music.task import course_log_magnitude, lsd_db
from vae_core.music.transforms import log_magnitude


@torch.no_grad()
def test_segments(gen: MusicGenerator, data_root: Path | None = None, limit: int | None = None) -> torch.Tensor:
    """The test clips cut into the model's training segments: ``(n, freq, frames)`` or ``(n, samples)``."""
    _, test = split_clips(find_clips(data_root))
    out = []
    c = gen.config
    for clip in test[:limit]:
        wave = torch.from_numpy(read_clip(clip, gen.rate))
        if gen.spec:
            x = log_magnitude(wave, c)
            n = x.shape[-1] // c.frames
            out.append(x[:, : n * c.frames].reshape(x.shape[0], n, c.frames).permute(1, 0, 2))
        else:
            n = len(wave) // c.segment
            out.append(wave[: n * c.segment].view(n, c.segment))
    return torch.cat(out)


@torch.no_grad()
def evaluate_generator(gen: MusicGenerator, data_root: Path | None = None, limit: int | None = None) -> dict[str, Any]:
    """Reconstruction of the test clips' segments (posterior means): log-spectral distance in dB and the ELBO
    terms (β from the run's config), and the active latent units (Burda et al. 2016)."""
    x = test_segments(gen, data_root, limit)
    beta = float(gen.meta.get("train_config", {}).get("beta", 1.0))
    recon_scale = float(gen.meta.get("train_config", {}).get("recon_scale", 0.05))
    sums = {t: 0.0 for t in MUSIC_LOSS_TERMS}
    lsd, mus = 0.0, []
    for s in range(0, len(x), 64):
        batch = x[s:s + 64].to(gen.device)
        out = gen.model(batch)
        for t, v in music_loss(out, batch, gen.model.kind, beta, 0.0, recon_scale).items():
            sums[t] += v.item() * len(batch)
        estimate = out.sources[:, 0].cpu()
        a, b = (batch.cpu(), estimate) if gen.spec else (course_log_magnitude(batch.cpu()),
                                                          course_log_magnitude(estimate))
        lsd += lsd_db(a, b) * len(batch)
        mus.append(out.mu[:, 0].cpu())
    n = len(x)
    mu = torch.cat(mus)
    return {"segments": n, "clips": len(split_clips(find_clips(data_root))[1][:limit]), "lsd_db": lsd / n,
            **{f"test_{t}": v / n for t, v in sums.items()},
            "active_units": int(active_units(mu).sum()) if n > 1 else None, "latent_dim": int(mu.shape[1])}


def format_metrics(m: dict[str, Any]) -> str:
    active = "" if m.get("active_units") is None else f"; {m['active_units']} of {m['latent_dim']} latent units active"
    return (f"test clips {m['clips']} ({m['segments']} segments): log-spectral distance {m['lsd_db']:.2f} dB, "
            f"ELBO terms per segment: recon {m['test_recon']:.1f}, KL {m['test_kl']:.1f} nats{active}")

