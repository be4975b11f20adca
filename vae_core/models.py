"""Separation VAEs: one encoder, two latent Gaussians, two decoders.

Shapes: mixtures ``(batch, 28, 28)``; decoded sources ``(batch, source, 28, 28)`` with
source 0 = digit, 1 = clothing; latent parameters ``(batch, source, latent_dim)``.

Every model shares :class:`SeparationVAE`: ``encode`` gives the posterior parameters of both latents,
``reparameterize`` draws from them, ``decode`` turns one source's latent alone into that source's image,
so sampling ``z ~ N(0, I)`` and decoding draws a digit (source 0) or a clothing item (source 1).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, NamedTuple

import torch
from torch import nn

from .errors import ConfigError

SOURCES = ("digit", "clothing")
IMAGE_SHAPE = (28, 28)


class SeparationOutput(NamedTuple):
    sources: torch.Tensor  # (batch, source, 28, 28), in [0, 1]
    mixture: torch.Tensor  # (batch, 28, 28): the decoded sources re-mixed with the input weight
    mu: torch.Tensor  # (batch, source, latent_dim)
    logvar: torch.Tensor  # (batch, source, latent_dim)
    z: torch.Tensor  # (batch, source, latent_dim)


@dataclass
class MLPConfig:
    """The course design: Linear + BatchNorm + ReLU blocks, two latents, two decoders."""

    latent_dim: int = 16
    hidden: tuple[int, ...] = (512, 256)

    def validate(self) -> None:
        if not 1 <= self.latent_dim <= 512:
            raise ConfigError(f"latent_dim must be between 1 and 512, not {self.latent_dim}.")
        if not self.hidden or any(h < 1 for h in self.hidden):
            raise ConfigError(f"hidden sizes must be positive, not {self.hidden}.")


@dataclass
class ConvConfig:
    """A small convolutional encoder and two transposed-convolution decoders, sized for a CPU."""

    latent_dim: int = 32
    channels: tuple[int, ...] = (32, 64, 128)
    hidden: int = 512

    def validate(self) -> None:
        if not 1 <= self.latent_dim <= 512:
            raise ConfigError(f"latent_dim must be between 1 and 512, not {self.latent_dim}.")
        if len(self.channels) != 3 or any(c < 1 for c in self.channels):
            raise ConfigError(f"channels must be three positive numbers, not {self.channels}.")
        if self.hidden < 1:
            raise ConfigError(f"hidden must be positive, not {self.hidden}.")


class SeparationVAE(nn.Module):
    """Base interface of every image separation VAE."""

    kind: str = ""
    config: Any

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior parameters ``mu, logvar``, each ``(batch, source, latent_dim)``, of a mixture batch."""
        raise NotImplementedError

    def decode(self, z: torch.Tensor, source: int) -> torch.Tensor:
        """Decode one source's latent ``(batch, latent_dim)`` into its image ``(batch, 28, 28)`` in [0, 1]."""
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
        """Decode both latents ``(batch, source, latent_dim)`` into ``(batch, source, 28, 28)``."""
        return torch.stack([self.decode(z[:, s], s) for s in range(len(SOURCES))], dim=1)

    def forward(self, x: torch.Tensor, weight: float = 0.5, sample: bool | None = None,
                generator: torch.Generator | None = None) -> SeparationOutput:
        """Encode, draw (or, in eval mode, take the mean), decode both sources and re-mix them."""
        mu, logvar = self.encode(x)
        sample = self.training if sample is None else sample
        z = self.reparameterize(mu, logvar, generator) if sample else mu
        sources = self.decode_all(z)
        return SeparationOutput(sources, remix(sources, weight), mu, logvar, z)

    @torch.no_grad()
    def sample_prior(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Draw ``z ~ N(0, I)`` for both latents and decode: ``(n, source, 28, 28)``."""
        z = torch.randn((n, len(SOURCES), self.latent_dim), generator=generator)
        return self.decode_all(z.to(next(self.parameters()).device))


def remix(sources: torch.Tensor, weight: float = 0.5) -> torch.Tensor:
    """Mix separated sources ``(N, 2, H, W)`` again with the input's weight: ``w·digit + (1-w)·clothing``."""
    return weight * sources[:, 0] + (1.0 - weight) * sources[:, 1]


def mixture_consistency(sources: torch.Tensor, mixture: torch.Tensor, weight: float = 0.5,
                        clip: bool = True) -> torch.Tensor:
    """Project estimates so that they re-mix exactly to the input (Wisdom et al. 2019).

    The residual ``r = x - (w·d + (1-w)·c)`` is added back in the least-squares way that satisfies the
    constraint: ``d += w·r / (w² + (1-w)²)``, ``c += (1-w)·r / (w² + (1-w)²)``. ``sources`` is
    ``(N, 2, H, W)`` and ``mixture`` ``(N, H, W)``. Clipping to [0, 1] keeps the outputs valid images.
    """
    w = float(weight)
    r = mixture - remix(sources, w)
    norm = w * w + (1 - w) * (1 - w)
    out = torch.stack([sources[:, 0] + (w / norm) * r, sources[:, 1] + ((1 - w) / norm) * r], dim=1)
    return out.clamp(0.0, 1.0) if clip else out


def _mlp(sizes: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(a, b), nn.BatchNorm1d(b), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers)


class MLPSeparationVAE(SeparationVAE):
    """The course notebook's model: fully connected encoder with four heads and two MLP decoders."""

    kind = "mlp"

    def __init__(self, config: MLPConfig | None = None):
        super().__init__()
        self.config = config or MLPConfig()
        self.config.validate()
        h, d = list(self.config.hidden), self.config.latent_dim
        self.encoder = _mlp([28 * 28] + h)
        self.heads = nn.Linear(h[-1], 4 * d)  # mean1, logvar1, mean2, logvar2
        self.decoders = nn.ModuleList(
            nn.Sequential(_mlp([d] + h[::-1]), nn.Linear(h[0], 28 * 28), nn.Sigmoid()) for _ in SOURCES
        )

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        p = self.heads(self.encoder(x.flatten(1))).view(-1, 2, 2, self.config.latent_dim)
        return p[:, :, 0], p[:, :, 1]

    def decode(self, z: torch.Tensor, source: int) -> torch.Tensor:
        return self.decoders[source](z).view(-1, *IMAGE_SHAPE)


def _conv_block(cin: int, cout: int, k: int, stride: int, pad: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, k, stride, pad, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


def _deconv_block(cin: int, cout: int) -> list[nn.Module]:
    return [nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


class ConvDecoder(nn.Module):
    """Latent ``(batch, latent_dim)`` -> image ``(batch, 28, 28)``: dense to 7x7, two 2x upsamplings."""

    def __init__(self, config: ConvConfig):
        super().__init__()
        c1, c2, c3 = config.channels
        self.project = nn.Sequential(nn.Linear(config.latent_dim, config.hidden), nn.ReLU(inplace=True),
                                     nn.Linear(config.hidden, c3 * 7 * 7), nn.ReLU(inplace=True))
        self.body = nn.Sequential(*_deconv_block(c3, c2), *_deconv_block(c2, c1),
                                  nn.Conv2d(c1, 1, 3, 1, 1), nn.Sigmoid())
        self.c3 = c3

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.body(self.project(z).view(-1, self.c3, 7, 7)).squeeze(1)


class ConvSeparationVAE(SeparationVAE):
    """Convolutional encoder (28 -> 14 -> 7) with four heads, two convolutional decoders."""

    kind = "conv"

    def __init__(self, config: ConvConfig | None = None):
        super().__init__()
        self.config = config or ConvConfig()
        self.config.validate()
        c1, c2, c3 = self.config.channels
        d = self.config.latent_dim
        self.encoder = nn.Sequential(
            *_conv_block(1, c1, 3, 1, 1), *_conv_block(c1, c2, 4, 2, 1), *_conv_block(c2, c3, 4, 2, 1),
            nn.Flatten(), nn.Linear(c3 * 7 * 7, self.config.hidden), nn.ReLU(inplace=True),
        )
        self.heads = nn.Linear(self.config.hidden, 4 * d)
        self.decoders = nn.ModuleList(ConvDecoder(self.config) for _ in SOURCES)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        p = self.heads(self.encoder(x.unsqueeze(1))).view(-1, 2, 2, self.config.latent_dim)
        return p[:, :, 0], p[:, :, 1]

    def decode(self, z: torch.Tensor, source: int) -> torch.Tensor:
        return self.decoders[source](z)


MODEL_KINDS: dict[str, tuple[type, type[SeparationVAE]]] = {
    "mlp": (MLPConfig, MLPSeparationVAE),
    "conv": (ConvConfig, ConvSeparationVAE),
}
IMAGE_MODEL_KINDS = tuple(MODEL_KINDS)  # audio kinds register themselves from vae_core.audio.model


def config_to_dict(config: Any) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(config).items()}


def config_from_dict(kind: str, values: dict[str, Any]) -> Any:
    """Rebuild a model config from its JSON form; unknown keys are an error, not silently dropped."""
    if kind not in MODEL_KINDS:
        raise ConfigError(f"Unknown model kind {kind!r}; expected one of {', '.join(MODEL_KINDS)}.")
    cls = MODEL_KINDS[kind][0]
    names = {f.name for f in fields(cls)}
    unknown = set(values) - names
    if unknown:
        raise ConfigError(f"Unknown {kind} model settings: {', '.join(sorted(unknown))}.")
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})


def build_model(kind: str, config: Any | dict[str, Any] | None = None) -> SeparationVAE:
    """Make a model of ``kind`` from a config object, its dict form, or the defaults."""
    if kind not in MODEL_KINDS:
        raise ConfigError(f"Unknown model kind {kind!r}; expected one of {', '.join(MODEL_KINDS)}.")
    if isinstance(config, dict):
        config = config_from_dict(kind, config)
    return MODEL_KINDS[kind][1](config)
