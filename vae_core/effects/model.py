"""The effects VAEs: convolutional β-VAEs over log-mel segments with one latent vector per segment.

- ``effects-cvae`` (the map): a **conditional** VAE (Sohn et al. 2015). Its encoder sees the processed segment and
  the dry one, ``(batch, 2, mels, frames)``; its decoder rebuilds the processed segment from the latent and the dry
  segment. What was sung or played is given to the decoder, so the latent has only to say what the effect did: the
  ELBO spends no nats on content, and the embedding is the effect's. Its decoder is a stack of residual 1-D
  convolutions over time with the mel bands as channels, dilated (1 to 16 frames: echoes and reverb tails reach
  a second), each modulated by the latent (FiLM: a per-channel scale and shift, Perez et al. 2018), adding to the
  dry segment's log-mel (so "no effect" is the easy answer).
- ``effects-conv``: the plain VAE of the student report, which sees the processed segment alone: its latent must
  hold the content as well, so the effect is a small part of it. The loss-scale comparison trains this one. Its
  latent has a **global** part and, optionally, a **local** part (a short vector per stretch of time):

Why two parts: a segment's content (which notes, which words) changes over time, an effect (reverb, a filter,
distortion) stays. With a local latent the decoder gets the content from the local vectors and the constant
character of the segment from the global one, which the encoder computes from features averaged over time; the
KL of a constant property is paid once in the global part but once per step in the local one, so the ELBO itself
pushes what does not change over time into the global vector (the idea of Hsu et al. 2017, "factorized
hierarchical VAE", and Li & Mandt 2018). With ``local_channels = 0`` the latent is the global vector alone.

One source ("spectrogram"), so the separation interface holds with a single latent and decoder. Output
``(batch, mels, frames)`` in [0, 1] (see :mod:`vae_core.effects.transforms`); latents ``(batch, 1, latent_dim)``
(for ``effects-conv`` ``latent_dim = embedding_dim + local_channels * frames / 2 ** len(channels)``, the global
part first).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from vae_core.core.errors import ConfigError
from vae_core.core.models import SeparationOutput, SeparationVAE

EFFECTS_SOURCES = ("spectrogram",)


@dataclass
class EffectsConvConfig:
    n_mels: int = 64
    frames: int = 128
    channels: tuple[int, ...] = (16, 32, 64, 128)
    latent_dim: int = 32  # the global vector: the embedding
    local_channels: int = 0  # numbers per local step (0: no local latent, as in the report)

    def validate(self) -> None:
        down = 2 ** len(self.channels)
        if not 1 <= len(self.channels) <= 6 or any(not 4 <= c <= 512 for c in self.channels):
            raise ConfigError(f"channels must be one to six numbers between 4 and 512, not {self.channels}.")
        if self.n_mels % down or self.frames % down or not 16 <= self.n_mels <= 256 or not 16 <= self.frames <= 1024:
            raise ConfigError(f"n_mels (16–256) and frames (16–1024) must be divisible by {down}, not "
                              f"{self.n_mels} and {self.frames}.")
        if not 2 <= self.latent_dim <= 256:
            raise ConfigError(f"latent_dim must be between 2 and 256, not {self.latent_dim}.")
        if not 0 <= self.local_channels <= 64:
            raise ConfigError(f"local_channels must be between 0 and 64, not {self.local_channels}.")


class EffectsConvVAE(SeparationVAE):
    kind = "effects-conv"
    sources = EFFECTS_SOURCES

    def __init__(self, config: EffectsConvConfig | None = None):
        super().__init__()
        config = config or EffectsConvConfig()
        config.validate()
        self.config = c = config
        down = 2 ** len(c.channels)
        self.grid = (c.channels[-1], c.n_mels // down, c.frames // down)  # (channels, mel rows, steps)
        width = c.channels[-1] * self.grid[1]  # features per step
        self.encoder = _encoder(1, c.channels)
        self.to_global = nn.Linear(width, 2 * c.latent_dim)  # from the time-averaged features
        self.from_global = nn.Linear(c.latent_dim, width)
        if c.local_channels:
            self.to_local = nn.Conv1d(width, 2 * c.local_channels, 3, padding=1)
            self.from_local = nn.Conv1d(c.local_channels, width, 3, padding=1)
        dec: list[nn.Module] = []
        chans = list(c.channels[::-1]) + [1]
        for a, b in zip(chans[:-1], chans[1:]):
            dec.append(nn.ConvTranspose2d(a, b, 4, stride=2, padding=1))
            if b != 1:
                dec.append(nn.GELU())
        self.decoder = nn.Sequential(*dec)

    @property
    def embedding_dim(self) -> int:
        return self.config.latent_dim

    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim + self.config.local_channels * self.grid[2]

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Log-mel ``(batch, mels, frames)`` -> ``mu, logvar`` each ``(batch, 1, latent_dim)``, global part first."""
        h = self.encoder(x.unsqueeze(1))  # (batch, channels, rows, steps)
        h = h.flatten(1, 2)  # (batch, width, steps)
        mu, logvar = self.to_global(h.mean(-1)).chunk(2, dim=1)
        if self.config.local_channels:
            mu_l, logvar_l = self.to_local(h).chunk(2, dim=1)  # (batch, local_channels, steps)
            mu, logvar = torch.cat([mu, mu_l.flatten(1)], 1), torch.cat([logvar, logvar_l.flatten(1)], 1)
        return mu.unsqueeze(1), logvar.clamp(-30, 20).unsqueeze(1)

    def decode(self, z: torch.Tensor, source: int = 0) -> torch.Tensor:
        """``(batch, latent_dim)`` -> log-mel ``(batch, mels, frames)`` in [0, 1]."""
        c, (channels, rows, steps) = self.config, self.grid
        h = self.from_global(z[:, :c.latent_dim])[:, :, None].expand(-1, -1, steps)
        if c.local_channels:
            h = h + self.from_local(z[:, c.latent_dim:].reshape(len(z), c.local_channels, steps))
        h = nn.functional.gelu(h).reshape(len(z), channels, rows, steps)
        return torch.sigmoid(self.decoder(h)).squeeze(1)

    def remix(self, sources: torch.Tensor, weight: float = 0.5) -> torch.Tensor:
        return sources[:, 0]  # a single source is its own mixture


def _encoder(in_channels: int, channels: tuple[int, ...]) -> nn.Sequential:
    layers: list[nn.Module] = []
    prev = in_channels
    for ch in channels:
        layers += [nn.Conv2d(prev, ch, 4, stride=2, padding=1), nn.GELU()]
        prev = ch
    return nn.Sequential(*layers)


@dataclass
class EffectsCVAEConfig:
    n_mels: int = 64
    frames: int = 128
    channels: tuple[int, ...] = (16, 32, 64, 128)  # the encoder's stride-2 levels
    latent_dim: int = 32
    width: int = 128  # channels of the decoder's layers (one step per frame)
    dilations: tuple[int, ...] = (1, 2, 4, 8, 16)  # one residual layer each, dilated along time

    def validate(self) -> None:
        EffectsConvConfig(self.n_mels, self.frames, self.channels, self.latent_dim).validate()
        if not 8 <= self.width <= 512:
            raise ConfigError(f"width must be between 8 and 512, not {self.width}.")
        if not 1 <= len(self.dilations) <= 8 or any(not 1 <= d <= 64 for d in self.dilations):
            raise ConfigError(f"dilations must be one to eight numbers between 1 and 64, not {self.dilations}.")


class _FiLMResidual(nn.Module):
    """``h + conv(gelu(h * (1 + scale(z)) + shift(z)))``, the convolution dilated along time."""

    def __init__(self, width: int, dilation: int, latent_dim: int):
        super().__init__()
        self.film = nn.Linear(latent_dim, 2 * width)
        self.conv = nn.Conv1d(width, width, 3, padding=dilation, dilation=dilation)

    def forward(self, h: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        scale, shift = self.film(z)[:, :, None].chunk(2, dim=1)
        return h + self.conv(nn.functional.gelu(h * (1 + scale) + shift))


class EffectsCVAE(SeparationVAE):
    kind = "effects-cvae"
    sources = EFFECTS_SOURCES

    def __init__(self, config: EffectsCVAEConfig | None = None):
        super().__init__()
        config = config or EffectsCVAEConfig()
        config.validate()
        self.config = c = config
        down = 2 ** len(c.channels)
        self.encoder = _encoder(2, c.channels)
        self.to_latent = nn.Linear(c.channels[-1] * (c.n_mels // down), 2 * c.latent_dim)
        self.lift = nn.Conv1d(c.n_mels, c.width, 3, padding=1)
        self.layers = nn.ModuleList(_FiLMResidual(c.width, d, c.latent_dim) for d in c.dilations)
        self.out = nn.Conv1d(c.width, c.n_mels, 1)
        nn.init.zeros_(self.out.weight)  # starts as "no effect": the dry segment itself
        nn.init.zeros_(self.out.bias)

    @property
    def embedding_dim(self) -> int:
        return self.config.latent_dim

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Pairs ``(batch, 2, mels, frames)`` (processed, dry) -> ``mu, logvar`` each ``(batch, 1, latent_dim)``,
        from the encoder's features averaged over time."""
        h = self.encoder(x).flatten(1, 2).mean(-1)
        mu, logvar = self.to_latent(h).chunk(2, dim=1)
        return mu.unsqueeze(1), logvar.clamp(-30, 20).unsqueeze(1)

    def decode(self, z: torch.Tensor, source: int = 0, dry: torch.Tensor | None = None) -> torch.Tensor:
        """``z`` ``(batch, latent_dim)`` and the dry log-mel ``(batch, mels, frames)`` -> the processed log-mel."""
        if dry is None:
            raise ValueError("effects-cvae decodes a latent together with the dry segment it applies to")
        d = dry.clamp(1e-4, 1 - 1e-4)
        h = self.lift(d)
        for layer in self.layers:
            h = layer(h, z)
        return torch.sigmoid(torch.logit(d) + self.out(h))

    def forward(self, x: torch.Tensor, weight: float = 0.5, sample: bool | None = None,
                generator: torch.Generator | None = None) -> SeparationOutput:
        mu, logvar = self.encode(x)
        sample = self.training if sample is None else sample
        z = self.reparameterize(mu, logvar, generator) if sample else mu
        wet = self.decode(z[:, 0], 0, dry=x[:, 1]).unsqueeze(1)
        return SeparationOutput(wet, wet[:, 0], mu, logvar, z)

    def remix(self, sources: torch.Tensor, weight: float = 0.5) -> torch.Tensor:
        return sources[:, 0]


MODEL_KINDS = {"effects-cvae": (EffectsCVAEConfig, EffectsCVAE), "effects-conv": (EffectsConvConfig, EffectsConvVAE)}
PAIRED = ("effects-cvae",)  # kinds whose input is (processed, dry)
