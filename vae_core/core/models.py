"""The interface every separation VAE shares, and building a model from its kind and config.

A separation VAE has one encoder that maps a mixture to one latent Gaussian per source and one decoder per
source that draws that source from its own latent alone. Shapes: latent parameters and draws
``(batch, source, latent_dim)``; decoded sources ``(batch, source, *source_shape)``.

``encode`` gives the posterior parameters of every source's latent, ``reparameterize`` draws from them and
``decode`` turns one source's latent into that source, so sampling ``z ~ N(0, I)`` and decoding draws sources.
"""
from __future__ import annotations

from dataclasses import asdict, fields
from typing import Any, NamedTuple

import torch
from torch import nn

from vae_core.core.errors import ConfigError
from vae_core.core.registry import model_kind


class SeparationOutput(NamedTuple):
    sources: torch.Tensor  # (batch, source, *source_shape)
    mixture: torch.Tensor  # (batch, *source_shape): the decoded sources mixed again as the input was
    mu: torch.Tensor  # (batch, source, latent_dim)
    logvar: torch.Tensor  # (batch, source, latent_dim)
    z: torch.Tensor  # (batch, source, latent_dim)


class SeparationVAE(nn.Module):
    """Base interface of every separation VAE. Subclasses set ``kind`` and ``sources`` and implement
    ``encode``, ``decode`` and ``remix``."""

    kind: str = ""
    sources: tuple[str, ...] = ()
    config: Any

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior parameters ``mu, logvar``, each ``(batch, source, latent_dim)``, of a mixture batch."""
        raise NotImplementedError

    def decode(self, z: torch.Tensor, source: int) -> torch.Tensor:
        """Decode one source's latent ``(batch, latent_dim)`` into that source ``(batch, *source_shape)``."""
        raise NotImplementedError

    def remix(self, sources: torch.Tensor, weight: float = 0.5) -> torch.Tensor:
        """Mix decoded sources ``(batch, source, ...)`` the way the input mixture was made."""
        raise NotImplementedError

    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    @staticmethod
    def reparameterize(mu: torch.Tensor, logvar: torch.Tensor,
                       generator: torch.Generator | None = None) -> torch.Tensor:
        """``z = mu + sigma * eps`` with ``eps ~ N(0, I)`` (Kingma & Welling 2014, eq. 10)."""
        eps = torch.randn(mu.shape, generator=generator, dtype=mu.dtype, device=mu.device)
        return mu + torch.exp(0.5 * logvar) * eps

    def decode_all(self, z: torch.Tensor) -> torch.Tensor:
        """Decode every source's latent ``(batch, source, latent_dim)`` into ``(batch, source, ...)``."""
        return torch.stack([self.decode(z[:, s], s) for s in range(len(self.sources))], dim=1)

    def forward(self, x: torch.Tensor, weight: float = 0.5, sample: bool | None = None,
                generator: torch.Generator | None = None) -> SeparationOutput:
        """Encode, draw (or, in eval mode, take the mean), decode every source and re-mix them."""
        mu, logvar = self.encode(x)
        sample = self.training if sample is None else sample
        z = self.reparameterize(mu, logvar, generator) if sample else mu
        sources = self.decode_all(z)
        return SeparationOutput(sources, self.remix(sources, weight), mu, logvar, z)

    @torch.no_grad()
    def sample_prior(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Draw ``z ~ N(0, I)`` for every source's latent and decode: ``(n, source, ...)``."""
        z = torch.randn((n, len(self.sources), self.latent_dim), generator=generator)
        return self.decode_all(z.to(next(self.parameters()).device))


def config_to_dict(config: Any) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(config).items()}


def config_from_dict(kind: str, values: dict[str, Any]) -> Any:
    """Rebuild a model config from its JSON form; unknown keys and wrong types are an error, not dropped."""
    cls = model_kind(kind)[0]
    names = {f.name for f in fields(cls)}
    unknown = set(values) - names
    if unknown:
        raise ConfigError(f"Unknown {kind} model settings: {', '.join(sorted(unknown))}.")
    defaults = cls()
    for key, value in values.items():
        if not _same_type(getattr(defaults, key), value):
            raise ConfigError(f"The {kind} model setting {key} must be like {getattr(defaults, key)!r}, "
                              f"not {value!r}.")
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})


def _same_type(expected: Any, value: Any) -> bool:
    """Whether a JSON value can stand for a config field whose default is ``expected``."""
    def whole(v: Any) -> bool:
        return isinstance(v, int) and not isinstance(v, bool)

    if isinstance(expected, tuple):
        return isinstance(value, (list, tuple)) and all(whole(v) for v in value)
    if isinstance(expected, bool):
        return isinstance(value, bool)
    if expected is None or whole(expected):  # optional whole numbers default to None
        return whole(value) or (expected is None and value is None)
    if isinstance(expected, float):
        return whole(value) or isinstance(value, float)
    return isinstance(value, type(expected))


def build_model(kind: str, config: Any | dict[str, Any] | None = None) -> SeparationVAE:
    """Make a model of ``kind`` from a config object, its dict form, or the defaults (each model validates its
    config before it allocates any weight)."""
    config_cls, model_cls = model_kind(kind)
    if isinstance(config, dict):
        config = config_from_dict(kind, config)
    return model_cls(config if config is not None else config_cls())


__all__ = ["SeparationOutput", "SeparationVAE", "build_model", "config_from_dict", "config_to_dict"]
