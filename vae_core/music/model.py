"""Music VAEs: one source ("music"), so the separation interface holds with a single latent and decoder, and
sampling ``z ~ N(0, I)`` and decoding generates music.

Two kinds:

- ``music-course``: the course report's design on raw waveform segments at a low rate (3 kHz). A 1-D
  convolutional encoder of residual blocks (conv → BatchNorm → LeakyReLU(0.4) → dropout, twice, plus the skip)
  with stride-2 downsampling between them, a dense layer to one latent vector per segment, and a mirrored decoder
  of transposed 1-D convolutions. Input and output ``(batch, samples)`` in [-1, 1]; latents
  ``(batch, 1, latent_dim)``.
- ``music-spec``: the default. Normalised log-magnitude STFT frames ``(batch, freq, frames)`` (see
  :mod:`vae_core.music.transforms`), frequency as channels of 1-D convolutions over time. The latent is either a
  sequence of ``latent_channels``-dimensional vectors, one per ``2 ** downsamples`` frames, flattened
  channel-major into ``(batch, 1, latent_channels * latent_frames)`` (fully convolutional: any number of latent
  frames decodes), or with ``global_latent`` one vector per segment ``(batch, 1, global_latent)``.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from vae_core.core.errors import ConfigError
from vae_core.core.models import SeparationVAE

MUSIC_SOURCES = ("music",)


class _Remix:
    """A single source is its own mixture."""

    def remix(self, sources: torch.Tensor, weight: float = 0.5) -> torch.Tensor:
        return sources[:, 0]


# ------------------------------------------------------------------------------------------------ course design


@dataclass
class MusicCourseConfig:
    """The course report's waveform VAE: ``segment`` samples at ``sample_rate`` Hz, one stride-2 level per entry of
    ``channels``."""

    sample_rate: int = 3000
    segment: int = 8192
    channels: tuple[int, ...] = (16, 32, 32, 64, 64)
    kernel: int = 9
    dropout: float = 0.0
    latent_dim: int = 2

    def validate(self) -> None:
        if not 1000 <= self.sample_rate <= 48000:
            raise ConfigError(f"sample_rate must be between 1000 and 48000 Hz, not {self.sample_rate}.")
        if not 1 <= len(self.channels) <= 8 or any(not 1 <= c <= 256 for c in self.channels):
            raise ConfigError(f"channels must be one to eight numbers between 1 and 256, not {self.channels}.")
        if self.segment % 2 ** len(self.channels) or not 256 <= self.segment <= 2 ** 17:
            raise ConfigError(f"segment must be between 256 and 131072 samples and divisible by "
                              f"{2 ** len(self.channels)}, not {self.segment}.")
        if self.kernel % 2 == 0 or not 3 <= self.kernel <= 31:
            raise ConfigError(f"kernel must be an odd number between 3 and 31, not {self.kernel}.")
        if not 0 <= self.dropout < 1:
            raise ConfigError(f"dropout must be in [0, 1), not {self.dropout}.")
        if not 1 <= self.latent_dim <= 512:
            raise ConfigError(f"latent_dim must be between 1 and 512, not {self.latent_dim}.")


class ResidualBlock1d(nn.Module):
    """(conv → BatchNorm → LeakyReLU(0.4) → dropout) twice, plus the skip: the report's block."""

    def __init__(self, channels: int, kernel: int, dropout: float):
        super().__init__()
        layers: list[nn.Module] = []
        for _ in range(2):
            layers += [nn.Conv1d(channels, channels, kernel, padding=kernel // 2), nn.BatchNorm1d(channels),
                       nn.LeakyReLU(0.4), nn.Dropout(dropout)]
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class MusicCourseVAE(_Remix, SeparationVAE):
    kind = "music-course"
    sources = MUSIC_SOURCES

    def __init__(self, config: MusicCourseConfig = MusicCourseConfig()):
        super().__init__()
        config.validate()
        self.config = c = config
        ch = c.channels
        self.bottom = (ch[-1], c.segment // 2 ** len(ch))  # (channels, samples) where the dense layers connect
        enc: list[nn.Module] = [nn.Conv1d(1, ch[0], c.kernel, padding=c.kernel // 2), nn.LeakyReLU(0.4)]
        for i, out in enumerate(ch):
            enc += [ResidualBlock1d(ch[i - 1] if i else ch[0], c.kernel, c.dropout),
                    nn.Conv1d(ch[i - 1] if i else ch[0], out, 4, stride=2, padding=1), nn.LeakyReLU(0.4)]
        self.encoder = nn.Sequential(*enc)
        flat = self.bottom[0] * self.bottom[1]
        self.to_latent = nn.Linear(flat, 2 * c.latent_dim)
        self.from_latent = nn.Linear(c.latent_dim, flat)
        dec: list[nn.Module] = []
        for i in reversed(range(len(ch))):
            below = ch[i - 1] if i else ch[0]
            dec += [nn.LeakyReLU(0.4), nn.ConvTranspose1d(ch[i], below, 4, stride=2, padding=1),
                    ResidualBlock1d(below, c.kernel, c.dropout)]
        dec += [nn.Conv1d(ch[0], 1, c.kernel, padding=c.kernel // 2), nn.Tanh()]
        self.decoder = nn.Sequential(*dec)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Waveform segments ``(batch, segment)`` -> ``mu, logvar`` each ``(batch, 1, latent_dim)``."""
        h = self.encoder(x.unsqueeze(1)).flatten(1)
        mu, logvar = self.to_latent(h).chunk(2, dim=1)
        return mu.unsqueeze(1), logvar.clamp(-30, 20).unsqueeze(1)

    def decode(self, z: torch.Tensor, source: int = 0) -> torch.Tensor:
        """``(batch, latent_dim)`` -> waveform segments ``(batch, segment)`` in [-1, 1]."""
        h = self.from_latent(z).view(len(z), *self.bottom)
        return self.decoder(h).squeeze(1)


# ------------------------------------------------------------------------------------------------ default


@dataclass
class MusicSpecConfig:
    """The spectrogram VAE: STFT ``n_fft``/``hop`` at ``sample_rate``; ``frames`` per training segment."""

    sample_rate: int = 22050
    n_fft: int = 1024
    hop: int = 256
    frames: int = 128
    hidden: int = 256
    downsamples: int = 3
    latent_channels: int = 32
    global_latent: int = 0  # > 0: one latent vector of this size per segment (dense layers), not a sequence

    @property
    def freq_bins(self) -> int:
        return self.n_fft // 2 + 1

    @property
    def latent_frames(self) -> int:
        """Latent vectors per training segment."""
        return self.frames // 2 ** self.downsamples

    @property
    def latent_dim(self) -> int:
        """Latent size of one training segment (``global_latent``, else ``latent_channels * latent_frames``)."""
        return self.global_latent or self.latent_channels * self.latent_frames

    def validate(self) -> None:
        if not 8000 <= self.sample_rate <= 48000:
            raise ConfigError(f"sample_rate must be between 8000 and 48000 Hz, not {self.sample_rate}.")
        if self.n_fft not in (256, 512, 1024, 2048):
            raise ConfigError(f"n_fft must be 256, 512, 1024 or 2048, not {self.n_fft}.")
        if not 1 <= self.hop <= self.n_fft // 2:
            raise ConfigError(f"hop must be between 1 and {self.n_fft // 2}, not {self.hop}.")
        if not 0 <= self.downsamples <= 5:
            raise ConfigError(f"downsamples must be between 0 and 5, not {self.downsamples}.")
        if self.frames % 2 ** self.downsamples or not 8 <= self.frames <= 1024:
            raise ConfigError(f"frames must be between 8 and 1024 and divisible by {2 ** self.downsamples}, "
                              f"not {self.frames}.")
        if not 8 <= self.hidden <= 1024:
            raise ConfigError(f"hidden must be between 8 and 1024, not {self.hidden}.")
        if not 1 <= self.latent_channels <= 256:
            raise ConfigError(f"latent_channels must be between 1 and 256, not {self.latent_channels}.")
        if not 0 <= self.global_latent <= 1024:
            raise ConfigError(f"global_latent must be between 0 (a latent sequence) and 1024, not {self.global_latent}.")


class _Res(nn.Module):
    """A residual block of two kernel-3 convolutions over time."""

    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(nn.Conv1d(channels, channels, 3, padding=1), nn.GELU(),
                                  nn.Conv1d(channels, channels, 3, padding=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.gelu(x + self.body(x))


class MusicSpecVAE(_Remix, SeparationVAE):
    kind = "music-spec"
    sources = MUSIC_SOURCES

    def __init__(self, config: MusicSpecConfig = MusicSpecConfig()):
        super().__init__()
        config.validate()
        self.config = c = config
        h = c.hidden
        enc: list[nn.Module] = [nn.Conv1d(c.freq_bins, h, 5, padding=2), nn.GELU(), _Res(h)]
        for _ in range(c.downsamples):
            enc += [nn.Conv1d(h, h, 4, stride=2, padding=1), nn.GELU(), _Res(h)]
        enc.append(nn.Conv1d(h, 2 * c.latent_channels, 3, padding=1))
        self.encoder = nn.Sequential(*enc)
        if c.global_latent:  # the feature sequence of a whole segment <-> one vector
            flat = c.latent_channels * c.latent_frames
            self.to_latent = nn.Linear(2 * flat, 2 * c.global_latent)
            self.from_latent = nn.Sequential(nn.Linear(c.global_latent, flat), nn.GELU())
        dec: list[nn.Module] = [nn.Conv1d(c.latent_channels, h, 3, padding=1), nn.GELU(), _Res(h)]
        for _ in range(c.downsamples):
            dec += [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv1d(h, h, 3, padding=1), nn.GELU(), _Res(h)]
        dec.append(nn.Conv1d(h, c.freq_bins, 5, padding=2))
        nn.init.constant_(dec[-1].bias, 0.5)  # about -50 dB, music's typical level: no huge first-step errors
        self.decoder = nn.Sequential(*dec)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Log-magnitude frames ``(batch, freq, frames)`` (frames divisible by ``2 ** downsamples``) ->
        ``mu, logvar`` each ``(batch, 1, latent_channels * frames / 2 ** downsamples)``."""
        h = self.encoder(x)
        if self.config.global_latent:
            mu, logvar = self.to_latent(h.flatten(1)).chunk(2, dim=1)
        else:
            mu, logvar = (t.flatten(1) for t in h.chunk(2, dim=1))
        return mu.unsqueeze(1), logvar.clamp(-30, 20).unsqueeze(1)

    def decode(self, z: torch.Tensor, source: int = 0) -> torch.Tensor:
        """``(batch, latent_dim)`` -> log-magnitude frames ``(batch, freq, frames)`` (a latent sequence decodes to
        ``2 ** downsamples`` frames per latent frame, so any length)."""
        if self.config.global_latent:
            z = self.from_latent(z)
        return self.decoder(z.view(len(z), self.config.latent_channels, -1))


MODEL_KINDS = {"music-course": (MusicCourseConfig, MusicCourseVAE), "music-spec": (MusicSpecConfig, MusicSpecVAE)}
