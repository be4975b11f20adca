"""What the Effects map page shows, computed here so the page stays thin: held-out segments through the chosen
effects, their raw log-mel and their embeddings mapped to 2-D, and the loss-scale comparison's reconstructions."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from vae_core.core.errors import ConfigError
from vae_core.core.latents import fit_map_2d
from vae_core.effects.data import EFFECTS, SOURCE_KINDS, Example, dry_sources, grid_examples
from vae_core.effects.evaluation import TEST_SEED, encode_means
from vae_core.effects.loss import effective_beta
from vae_core.effects.transforms import target

MAX_EFFECTS, MIN_EFFECTS = 5, 2
MAX_PER_EFFECT = 60


@dataclass
class EffectsMap:
    """``n`` held-out examples (each file's segment through every chosen effect), their log-mel ``(n, mels,
    frames)``, embeddings ``(n, embedding_dim)``, and two maps ``(n, 2)``: of the raw log-mel and of the
    embeddings; ``place`` puts new embeddings on the latent map."""

    examples: list[Example]
    inputs: np.ndarray  # what the model saw: (n, 2, mels, frames) for a conditional model, else (n, mels, frames)
    mel: np.ndarray
    embeddings: np.ndarray
    raw_xy: np.ndarray
    latent_xy: np.ndarray
    method: str
    place: Callable[[np.ndarray], np.ndarray]

    @property
    def effects(self) -> list[str]:
        return [e.effect for e in self.examples]


def check_choice(effects: tuple[str, ...], kinds: tuple[str, ...], per_effect: int) -> None:
    if not MIN_EFFECTS <= len(effects) <= MAX_EFFECTS or len(set(effects)) != len(effects) \
            or not set(effects) <= set(EFFECTS):
        raise ConfigError(f"Choose {MIN_EFFECTS} to {MAX_EFFECTS} different effects of {', '.join(EFFECTS)}.")
    if not kinds or not set(kinds) <= set(SOURCE_KINDS):
        raise ConfigError(f"Choose the source kind: {', '.join(SOURCE_KINDS)} or both.")
    if isinstance(per_effect, bool) or not isinstance(per_effect, int) or not 4 <= per_effect <= MAX_PER_EFFECT:
        raise ConfigError(f"Points per effect must be a whole number from 4 to {MAX_PER_EFFECT}, not {per_effect!r}.")


def effects_map(emb: Any, effects: tuple[str, ...], kinds: tuple[str, ...] = SOURCE_KINDS, per_effect: int = 24,
                method: str = "pca", seed: int = 0, data_root: Path | None = None) -> EffectsMap:
    """The map of ``per_effect`` held-out files (drawn with ``seed``), each through every one of ``effects``."""
    check_choice(effects, kinds, per_effect)
    files = dry_sources(data_root, "test", kinds)
    pick = np.sort(np.random.default_rng(seed).choice(len(files), min(per_effect, len(files)), replace=False))
    examples = grid_examples([files[i] for i in pick], effects, TEST_SEED + seed)
    x = emb.example_features(examples)
    mel = target(x)
    z = encode_means(emb.model, x).numpy()
    raw_xy, used, _ = fit_map_2d(mel.flatten(1).numpy(), method, seed)
    latent_xy, _, place = fit_map_2d(z, used, seed)
    return EffectsMap(examples, x.numpy().astype(np.float16), mel.numpy().astype(np.float16), z, raw_xy, latent_xy,
                      used, place)


@torch.no_grad()
def loss_scale_rows(models: dict[str, Any], emb: Any, inputs: int = 3, data_root: Path | None = None,
                    effects: tuple[str, ...] = ("reverb", "distortion", "lowpass")) -> tuple[np.ndarray, list[dict]]:
    """The same held-out inputs ``(inputs, mels, frames)`` and, per model (label -> embedder), its reconstructions
    with its loss, β and effective β."""
    files = dry_sources(data_root, "test", emb.kinds)
    chosen = [files[i] for i in np.linspace(0, len(files) - 1, inputs).astype(int)]
    examples = [e for i, f in enumerate(chosen) for e in grid_examples([f], (effects[i % len(effects)],), TEST_SEED)]
    x = emb.example_features(examples)
    rows = []
    for label, m in models.items():
        recon = m.reconstruct_features(x)
        rows.append({"label": label, "name": m.name, "scaling": m.scaling, "beta": m.beta,
                     "effective_beta": effective_beta(m.beta, m.scaling, x[0].numel(), m.recon_scale),
                     "recon": recon.numpy(), "rmse_db": float((recon - target(x)).pow(2).mean().sqrt()) * 80.0})
    return target(x).numpy(), rows
