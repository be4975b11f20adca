"""Scoring a music checkpoint on the held-out test clips: how well it reconstructs them (log-spectral distance,
the ELBO terms per segment) and how many of its latent dimensions it uses."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from vae_core.core.latents import active_units
from vae_core.core.gtzan import find_clips, read_clip, split_clips
from vae_core.music.inference import MusicGenerator
from vae_core.music.data import clip_segments
from vae_core.music.task import MusicTrainConfig, score_segments


def evaluate_generator(gen: MusicGenerator, data_root: Path | None = None, limit: int | None = None) -> dict[str, Any]:
    """Reconstruction of the test clips' segments (posterior means): log-spectral distance in dB and the ELBO
    terms (β and the likelihood scale from the run's config), and the active latent units (Burda et al. 2016)."""
    _, test = split_clips(find_clips(data_root))
    x = torch.cat([clip_segments(read_clip(clip, gen.rate), gen.config) for clip in test[:limit]])
    run = gen.meta.get("train_config", {})
    terms, lsd, mu = score_segments(gen.model, x, float(run.get("beta", 1.0)),
                                    float(run.get("recon_scale", MusicTrainConfig().recon_scale)), gen.device)
    return {"segments": len(x), "clips": len(test[:limit]), "lsd_db": lsd,
            **{f"test_{t}": v for t, v in terms.items()},
            "active_units": int(active_units(mu).sum()) if len(x) > 1 else None, "latent_dim": int(mu.shape[1])}


def format_metrics(m: dict[str, Any]) -> str:
    active = "" if m.get("active_units") is None else f"; {m['active_units']} of {m['latent_dim']} latent units active"
    return (f"test clips {m['clips']} ({m['segments']} segments): log-spectral distance {m['lsd_db']:.2f} dB, "
            f"ELBO terms per segment: recon {m['test_recon']:.1f}, KL {m['test_kl']:.1f} nats{active}")

