"""Inference API: a loaded effects checkpoint that embeds audio, and decodes and reconstructs log-mel segments.

    from vae_core import load_checkpoint
    m = load_checkpoint("effects-cvae")
    dry, wet, z = m.place(waveform, rate, "reverb", {"room_size": 0.9})   # an effect applied, then embedded
    e = m.embed([wet], [dry])                    # (1, embedding_dim): what the effect did
    x = m.features([wet], [dry])                 # the model's input: (1, 2, mels, frames) processed, dry
    mel = m.decode(z, dry=x[0, 1])               # (mels, frames): the dry segment with "effect z" applied

A conditional model (``effects-cvae``) needs the dry segment beside the processed one; the plain one
(``effects-conv``) takes the processed segment alone (``dry=None``). Segments are 16 kHz, ``SEGMENT`` samples.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from vae_core.core.inference import LoadedModel
from vae_core.core.errors import LabError
from vae_core.core.models import SeparationVAE
from vae_core.effects.data import EFFECTS, PREROLL, RATE, SEGMENT, SOURCE_KINDS, Example, apply_effect, user_segment
from vae_core.effects.evaluation import encode_means
from vae_core.effects.model import EFFECTS_SOURCES, PAIRED
from vae_core.effects.transforms import model_input


class EffectsEmbedder(LoadedModel):
    """A trained effects VAE with its sidecar metadata."""

    task = "effects"
    sources = EFFECTS_SOURCES
    rate = RATE

    def __init__(self, model: SeparationVAE, meta: dict[str, Any], path: Path | None = None):
        super().__init__(model, meta, path)
        cfg = meta.get("train_config", {})
        self.effects: tuple[str, ...] = tuple(cfg.get("effects", EFFECTS))
        self.kinds: tuple[str, ...] = tuple(cfg.get("kinds", SOURCE_KINDS))
        self.scaling: str = cfg.get("scaling", "elbo")
        self.beta: float = float(cfg.get("beta", 1.0))
        self.recon_scale: float = float(cfg.get("recon_scale", 0.1))

    @property
    def embedding_dim(self) -> int:
        return self.model.embedding_dim

    @property
    def paired(self) -> bool:
        """Whether the model also sees the dry segment (a conditional VAE)."""
        return self.model.kind in PAIRED

    def features(self, wet: list[np.ndarray] | np.ndarray, dry: list[np.ndarray] | np.ndarray | None = None
                 ) -> torch.Tensor:
        """The model's input for 16 kHz segments: ``(n, 2, mels, frames)`` (processed, dry) for a conditional model,
        ``(n, mels, frames)`` otherwise."""
        if self.paired and dry is None:
            raise LabError(f"{self.name} embeds what an effect did, so it needs the dry segment beside the processed "
                           "one; pass dry=... as well.")
        cut = [np.asarray(w, dtype=np.float32)[:SEGMENT] for w in wet]
        return model_input(cut, [np.asarray(d, dtype=np.float32)[:SEGMENT] for d in dry] if self.paired else None)

    def example_features(self, examples: list[Example]) -> torch.Tensor:
        return self.features([e.wave for e in examples], [e.dry for e in examples])

    def embed(self, wet: list[np.ndarray] | np.ndarray, dry: list[np.ndarray] | np.ndarray | None = None
              ) -> np.ndarray:
        """The embeddings (global latent means) ``(n, embedding_dim)`` of 16 kHz segments."""
        return encode_means(self.model, self.features(wet, dry)).numpy()

    def _segment(self, waveform: Any, rate: Any) -> np.ndarray:
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 1000 <= rate <= 192000:
            raise LabError(f"The sample rate must be between 1000 and 192000 Hz, not {rate!r}.")
        a = np.asarray(waveform, dtype=np.float32)
        if a.ndim == 2:
            a = a.mean(axis=0)
        if a.ndim != 1 or not np.isfinite(a).all():
            raise LabError("The waveform must be a finite mono (samples,) or (channels, samples) array.")
        return user_segment(a, int(rate))

    def encode(self, waveform: Any, rate: float) -> np.ndarray:
        """The latent mean ``(latent_dim,)`` of the loudest ``SEGMENT`` samples of ``waveform`` (levelled) for the
        plain model (a conditional one needs the dry audio: :meth:`place`)."""
        return self.encode_features(self.features([self._segment(waveform, rate)[PREROLL:]]))[0]

    @torch.no_grad()
    def encode_features(self, mel: np.ndarray | torch.Tensor) -> np.ndarray:
        """Whole latent means ``(n, latent_dim)`` (global part first) of log-mel segments ``(n, mels, frames)``."""
        x = torch.as_tensor(np.asarray(mel, dtype=np.float32))
        return self.model.encode(x.to(self.device))[0][:, 0].cpu().numpy()

    @torch.no_grad()
    def decode(self, z: Any, dry: Any = None) -> np.ndarray:
        """Latent ``(latent_dim,)`` or ``(n, latent_dim)`` -> normalised log-mel ``(mels, frames)`` or
        ``(n, mels, frames)``; a conditional model also takes the dry log-mel (``(mels, frames)`` or one per z)."""
        t = torch.as_tensor(np.asarray(z, dtype=np.float32))
        one = t.ndim == 1
        if t.shape[-1] != self.latent_dim or t.ndim not in (1, 2):
            raise LabError(f"z must be ({self.latent_dim},) or (n, {self.latent_dim}), not {tuple(t.shape)}.")
        t = t.reshape(-1, self.latent_dim).to(self.device)
        if self.paired:
            if dry is None:
                raise LabError(f"{self.name} applies an effect to a dry segment: pass dry=... (its log-mel).")
            d = torch.as_tensor(np.asarray(dry, dtype=np.float32)).reshape(-1, *self.model_shape).to(self.device)
            out = self.model.decode(t, 0, dry=d.expand(len(t), -1, -1)).cpu().numpy()
        else:
            out = self.model.decode(t).cpu().numpy()
        return out[0] if one else out

    @property
    def model_shape(self) -> tuple[int, int]:
        return self.model.config.n_mels, self.model.config.frames

    @torch.no_grad()
    def reconstruct_features(self, mel: torch.Tensor) -> torch.Tensor:
        """Log-mel ``(n, mels, frames)`` through the VAE (posterior means decoded)."""
        return self.model(mel.to(self.device)).sources[:, 0].cpu()


    def place(self, waveform: Any, rate: float, effect: str,
              params: dict[str, float] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """A user's recording through ``effect``: its dry and processed loudest segment ``(SEGMENT,)`` at 16 kHz
        and the processed one's embedding ``(embedding_dim,)``."""
        piece = self._segment(waveform, rate)
        wet = apply_effect(piece, effect, params or {}, preroll=PREROLL)
        return piece[PREROLL:], wet, self.embed([wet], [piece[PREROLL:]])[0]

    def warm_up(self) -> EffectsEmbedder:
        """One embedding of a silent-free test tone pair: the first call pays one-off kernel and filter set-up."""
        tone = (0.1 * np.sin(np.arange(SEGMENT) * 2 * np.pi * 440 / RATE)).astype(np.float32)
        self.embed([tone], [tone] if self.paired else None)
        return self
