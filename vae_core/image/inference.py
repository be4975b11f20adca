"""Inference API: a loaded checkpoint that separates mixtures.

    from vae_core import load_checkpoint
    m = load_checkpoint("image-conv")      # a name in checkpoints/ or the runs folder, or a path
    sources = m.separate(mixtures)         # (N, 28, 28) in [0, 1] -> (N, 2, 28, 28) = [digit, clothing]
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from vae_core.core.inference import LoadedModel
from vae_core.core.errors import LabError
from vae_core.image.model import SOURCES
from vae_core.core.models import SeparationVAE
from vae_core.image.model import CONSISTENCY, REFINE_STEPS, refine_latents

if TYPE_CHECKING:
    pass


def check_mixtures(mixtures: Any) -> torch.Tensor:
    """Validate a user-supplied mixture batch; one clear sentence on anything wrong."""
    if not isinstance(mixtures, torch.Tensor):
        raise LabError(f"Mixtures must be a torch tensor of shape (N, 28, 28), not {type(mixtures).__name__}.")
    if mixtures.ndim == 2:
        mixtures = mixtures.unsqueeze(0)
    if mixtures.ndim != 3 or tuple(mixtures.shape[1:]) != (28, 28):
        raise LabError(f"Mixtures must have shape (N, 28, 28), not {tuple(mixtures.shape)}.")
    if not mixtures.is_floating_point():
        raise LabError("Mixtures must be a float tensor with pixels in [0, 1] (divide uint8 images by 255).")
    if not torch.isfinite(mixtures).all():
        raise LabError("Mixtures contain NaN or infinite pixels; pass finite values in [0, 1].")
    if mixtures.numel() and (mixtures.min() < 0 or mixtures.max() > 1):
        raise LabError("Mixture pixels must lie in [0, 1]; divide uint8 images by 255.")
    return mixtures.float()


class ImageSeparator(LoadedModel):
    """A trained image separation VAE with its sidecar metadata."""

    task = "image"
    sources = SOURCES

    def __init__(self, model: SeparationVAE, meta: dict[str, Any], path: Path | None = None):
        super().__init__(model, meta, path)

    @torch.no_grad()
    def separate(self, mixtures: torch.Tensor, weight: float = 0.5, consistency: str = "split",
                 refine_steps: int = REFINE_STEPS) -> torch.Tensor:
        """Separate mixtures ``(N, 28, 28)`` in [0, 1] into ``(N, 2, 28, 28)`` = [digit, clothing].

        The encoder's latent means are refined for ``refine_steps`` steps (:func:`~vae_core.image.model.
        refine_latents`; 0: the encoder's guess as it is) and decoded. ``consistency`` then makes the two outputs
        re-mix to the input: ``"split"`` shares the mixture out in the decoders' ratio, ``"project"`` adds the
        residual back (Wisdom et al. 2019), ``"none"`` shows the decoders' own drawings. Outputs stay in [0, 1].
        """
        if consistency != "none" and consistency not in CONSISTENCY:
            raise LabError(f"Mixture consistency must be one of none, {', '.join(CONSISTENCY)}; not {consistency!r}.")
        x = check_mixtures(mixtures)
        out = self._draw(x, weight, refine_steps)
        return out if consistency == "none" else CONSISTENCY[consistency](out, x, weight)

    @torch.no_grad()
    def draw(self, mixtures: torch.Tensor, weight: float = 0.5, refine_steps: int = REFINE_STEPS) -> torch.Tensor:
        """What the two decoders draw for mixtures ``(N, 28, 28)``, after ``refine_steps`` steps of latent
        refinement: ``(N, 2, 28, 28)``, before any mixture consistency."""
        return self._draw(check_mixtures(mixtures), weight, refine_steps)

    def _draw(self, x: torch.Tensor, weight: float, refine_steps: int) -> torch.Tensor:
        """:meth:`draw` for mixtures already checked."""
        if not 0 < weight < 1:
            raise LabError(f"The mixing weight must lie strictly between 0 and 1, not {weight}.")
        if not 0 <= refine_steps <= 1000:
            raise LabError(f"The number of refinement steps must lie between 0 and 1000, not {refine_steps}.")
        x = x.to(self.device)
        mu, _ = self.model.encode(x)
        z = refine_latents(self.model, x, mu, weight, refine_steps) if refine_steps else mu
        return self.model.decode_all(z).cpu()

    def warm_up(self) -> "ImageSeparator":
        """Run one separation on a blank mixture: the first call pays one-off kernel set-up (about 0.1 s on
        CPU), which should not land on a user's first click."""
        self.separate(torch.zeros(1, 28, 28))
        return self

    @torch.no_grad()
    def encode(self, mixtures: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior means and log-variances, each ``(N, 2, latent_dim)``."""
        mu, logvar = self.model.encode(check_mixtures(mixtures).to(self.device))
        return mu.cpu(), logvar.cpu()

    @torch.no_grad()
    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Decode latents ``(N, 2, latent_dim)`` into ``(N, 2, 28, 28)``."""
        return self.model.decode_all(z.to(self.device)).cpu()
