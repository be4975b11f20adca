"""The convolutional separation VAE on spectrogram patches (the course design, for voice and accompaniment).

Shapes: mixture patches ``(batch, freq, frames)`` as normalised dB magnitudes in [0, 1] (see
:func:`vae_core.audio.transforms.magnitude_db`); decoded sources ``(batch, source, freq, frames)`` with
source 0 = voice, 1 = accompaniment, in the same normalised dB units; latents ``(batch, source, latent_dim)``
where a source's latent is a small feature map ``(latent_channels, freq', frames')`` flattened.

A ConvEncoder (strided 3x3 convolutions, optionally followed by residual dilated ones for a wider context, and
optionally given each bin's frequency as a second input channel) feeds four 1x1 heads: mean and log-variance of
the voice latent and of the accompaniment latent. Two ConvDecoders (nearest-neighbour upsampling + 3x3
convolution), each seeing only its own source's latent, decode that source; adaptive pooling brings the output to the input's
exact size, so any patch size works.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
import torch.nn.functional as F

from vae_core.core.errors import ConfigError
from vae_core.core.models import SeparationOutput, SeparationVAE

AUDIO_SOURCES = ("voice", "accompaniment")


@dataclass
class AudioConvConfig:
    """Sizes of the audio separation VAE. ``freq_bins`` and ``frames`` are the patch the model is built for."""

    freq_bins: int = 513
    frames: int = 64
    channels: tuple[int, ...] = (16, 32, 64)
    latent_channels: int = 16
    decoder_channels: tuple[int, ...] = (32, 16, 8)
    time_strides: int | None = 2  # how many encoder layers also halve time (None: all of them)
    # Wider context: after the strided layers, residual 3x3 convolutions with these dilations (both axes).
    # Three strided 3x3 layers alone see about 15 bins by 15 frames, too little to tell a sung harmonic
    # from an instrument's; dilations (2, 4, 8) widen that to 239 bins by the whole 64-frame patch.
    context_dilations: tuple[int, ...] = ()
    # A second input channel holding each bin's frequency (0 at DC, 1 at Nyquist): convolutions cannot tell
    # where in the spectrum they are, and voice lives in a band (CoordConv, Liu et al. 2018).
    freq_channel: bool = False

    @property
    def time_layers(self) -> int:
        return len(self.channels) if self.time_strides is None else self.time_strides

    def validate(self) -> None:
        if not 16 <= self.freq_bins <= 4097:
            raise ConfigError(f"freq_bins must be between 16 and 4097, not {self.freq_bins}.")
        if not 8 <= self.frames <= 1024:
            raise ConfigError(f"frames must be between 8 and 1024, not {self.frames}.")
        if not 1 <= len(self.channels) <= 6 or any(not 1 <= c <= 512 for c in self.channels):
            raise ConfigError(f"channels must be one to six numbers between 1 and 512, not {self.channels}.")
        if len(self.decoder_channels) != len(self.channels) or any(not 1 <= c <= 512 for c in self.decoder_channels):
            raise ConfigError(f"decoder_channels must be {len(self.channels)} numbers between 1 and 512, "
                              f"not {self.decoder_channels}.")
        if not 1 <= self.latent_channels <= 256:
            raise ConfigError(f"latent_channels must be between 1 and 256, not {self.latent_channels}.")
        if not 0 <= self.time_layers <= len(self.channels):
            raise ConfigError(f"time_strides must be between 0 and {len(self.channels)}, not {self.time_strides}.")
        if len(self.context_dilations) > 8 or any(not 1 <= d <= 16 for d in self.context_dilations):
            raise ConfigError(f"context_dilations must be at most eight numbers between 1 and 16, "
                              f"not {self.context_dilations}.")
        if self.frames % 2 ** self.time_layers:
            raise ConfigError(f"frames ({self.frames}) must be divisible by {2 ** self.time_layers} "
                              f"(2 to the number of encoder layers that halve time).")

    @property
    def latent_shape(self) -> tuple[int, int, int]:
        """``(channels, freq', frames')`` of one source's latent map."""
        f = self.freq_bins
        for _ in self.channels:
            f = (f + 1) // 2  # stride-2 conv, kernel 3, padding 1
        return self.latent_channels, f, self.frames // 2 ** self.time_layers

    @property
    def latent_dim(self) -> int:
        c, f, t = self.latent_shape
        return c * f * t


class DilatedResidual(nn.Module):
    """``x + relu(bn(conv3x3_dilated(x)))``, shape-preserving ``(batch, channels, freq', frames')``."""

    def __init__(self, channels: int, dilation: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, 1, dilation, dilation=dilation, bias=False)
        self.bn = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + F.relu(self.bn(self.conv(x)))


class ConvEncoder(nn.Module):
    """``(batch, in_channels, freq, frames)`` -> features ``(batch, channels[-1], freq', frames')``: every
    layer halves frequency, the first ``time_layers`` also halve time; then one residual block per dilation."""

    def __init__(self, channels: tuple[int, ...], time_layers: int, in_channels: int = 1,
                 dilations: tuple[int, ...] = ()):
        super().__init__()
        layers: list[nn.Module] = []
        cin = in_channels
        for i, cout in enumerate(channels):
            stride = (2, 2 if i < time_layers else 1)
            layers += [nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]
            cin = cout
        layers += [DilatedResidual(cin, d) for d in dilations]
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class ConvDecoder(nn.Module):
    """Latent map ``(batch, latent_channels, freq', frames')`` -> one source ``(batch, freq, frames)`` in [0, 1].

    Each layer doubles both axes (nearest upsampling) then convolves; the output is pooled adaptively to
    the requested size (the encoder rounds odd sizes up, so the upsampled map is slightly larger).
    """

    def __init__(self, latent_channels: int, channels: tuple[int, ...], time_layers: int):
        super().__init__()
        layers: list[nn.Module] = []
        cin = latent_channels
        for i, cout in enumerate(channels):
            # Mirror of the encoder: its last layers kept time, so the decoder's first ones do too.
            scale = (2.0, 2.0 if i >= len(channels) - time_layers else 1.0)
            layers += [nn.Upsample(scale_factor=scale, mode="nearest"), nn.Conv2d(cin, cout, 3, 1, 1, bias=False),
                       nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]
            cin = cout
        self.body = nn.Sequential(*layers)
        self.out = nn.Conv2d(cin, 1, 3, 1, 1)

    def forward(self, z: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        if self.training:
            y = self.body(z)
        else:  # inference: the same function, without building the upsampled maps (faster on a CPU)
            y = z
            layers = list(self.body)
            for k in range(0, len(layers), 4):
                up, conv, bn, relu = layers[k:k + 4]
                y = relu(bn(upsample_conv(y, conv.weight, up.scale_factor)))
        y = self.out(y)
        return torch.sigmoid(F.adaptive_avg_pool2d(y, size)).squeeze(1)


def _fold(scale: int) -> torch.Tensor:
    """Per output phase, how the 3 taps of a kernel over a nearest-upsampled axis fall on the input axis:
    ``(phases, 3, 3)``, new tap ``j`` = sum over ``k`` of ``fold[phase, j, k] * tap[k]``."""
    if scale == 1:
        return torch.eye(3).unsqueeze(0)
    # Upsampled by 2, phase 0 sees input offsets (-1, 0, 0) and phase 1 sees (0, 0, +1).
    return torch.tensor([[[1.0, 0, 0], [0, 1, 1], [0, 0, 0]],
                         [[0.0, 0, 0], [1, 1, 0], [0, 0, 1]]])


def upsample_conv(x: torch.Tensor, weight: torch.Tensor, scale: tuple[float, float]) -> torch.Tensor:
    """``conv3x3(nearest_upsample(x, scale))`` (padding 1, no bias) computed on the small map.

    ``x`` ``(batch, in, H, W)``, ``weight`` ``(out, in, 3, 3)``, ``scale`` 1 or 2 per axis -> ``(batch, out,
    H*sf, W*st)``. Along an axis upsampled by 2, each output pixel's three taps see only two distinct input
    pixels, so the kernel folds into one kernel per output phase; all phases run as one convolution with
    ``sf*st*out`` channels whose outputs are interleaved. Equal to upsample + conv up to float rounding."""
    sf, st = int(scale[0]), int(scale[1])
    b, _, h, w = x.shape
    out = weight.shape[0]
    ff, ft = _fold(sf).to(weight), _fold(st).to(weight)
    kernels = torch.einsum("aik,bjl,ockl->abocij", ff, ft, weight).reshape(sf * st * out, *weight.shape[1:])
    y = F.conv2d(x, kernels, padding=1)  # (batch, sf*st*out, H, W), phase-major
    return y.view(b, sf, st, out, h, w).permute(0, 3, 4, 1, 5, 2).reshape(b, out, h * sf, w * st)


class AudioConvSeparationVAE(SeparationVAE):
    """Voice / accompaniment separation VAE on normalised dB spectrogram patches."""

    kind = "audio-conv"
    sources = AUDIO_SOURCES

    def __init__(self, config: AudioConvConfig | None = None):
        super().__init__()
        self.config = config or AudioConvConfig()
        self.config.validate()
        c = self.config
        self.encoder = ConvEncoder(tuple(c.channels), c.time_layers, 2 if c.freq_channel else 1,
                                   tuple(c.context_dilations))
        # The four heads (mean1, logvar1, mean2, logvar2) as one 1x1 convolution.
        self.heads = nn.Conv2d(c.channels[-1], 4 * c.latent_channels, 1)
        self.decoders = nn.ModuleList(ConvDecoder(c.latent_channels, tuple(c.decoder_channels), c.time_layers)
                                      for _ in AUDIO_SOURCES)
        self._size = (c.freq_bins, c.frames)

    def _latent_map_shape(self, freq: int, frames: int) -> tuple[int, int, int]:
        for i, _ in enumerate(self.config.channels):
            freq = (freq + 1) // 2
            frames = (frames + 1) // 2 if i < self.config.time_layers else frames
        return self.config.latent_channels, freq, frames

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(batch, freq, frames)`` -> ``mu, logvar``, each ``(batch, source, latent_dim)``."""
        x = x.unsqueeze(1)
        if self.config.freq_channel:
            freq = torch.linspace(0, 1, x.shape[2], device=x.device, dtype=x.dtype).view(1, 1, -1, 1)
            x = torch.cat([x, freq.expand(len(x), 1, -1, x.shape[3])], dim=1)
        p = self.heads(self.encoder(x))
        b, _, f, t = p.shape
        p = p.reshape(b, 2, 2, self.config.latent_channels * f * t)
        return p[:, :, 0], p[:, :, 1]

    def decode(self, z: torch.Tensor, source: int, size: tuple[int, int] | None = None) -> torch.Tensor:
        """One source's latent ``(batch, latent_dim)`` -> its patch ``(batch, freq, frames)``."""
        size = size or self._size
        shape = self._latent_map_shape(*size)
        return self.decoders[source](z.reshape(-1, *shape), size)

    def decode_all(self, z: torch.Tensor, size: tuple[int, int] | None = None) -> torch.Tensor:
        return torch.stack([self.decode(z[:, s], s, size) for s in range(len(AUDIO_SOURCES))], dim=1)

    def forward(self, x: torch.Tensor, weight: float = 0.5, sample: bool | None = None,
                generator: torch.Generator | None = None) -> SeparationOutput:
        """Encode, draw (in eval mode: take the mean), decode both sources; ``mixture`` is their dB-domain
        power sum (what the mixture patch would look like if the decoded magnitudes were right)."""
        mu, logvar = self.encode(x)
        sample = self.training if sample is None else sample
        z = self.reparameterize(mu, logvar, generator) if sample else mu
        sources = self.decode_all(z, tuple(x.shape[-2:]))
        return SeparationOutput(sources, self.remix(sources), mu, logvar, z)

    def remix(self, sources: torch.Tensor, weight: float = 0.5) -> torch.Tensor:
        """The decoded patches' power sum in normalised dB ``(batch, freq, frames)`` (``weight`` is unused:
        the mixture's levels live in the magnitudes)."""
        return db_sum(sources)


DB_RANGE = 80.0  # the normalised dB scale spans this many dB (see STFTConfig.db_floor)


def db_to_amplitude(y: torch.Tensor) -> torch.Tensor:
    """Normalised dB in [0, 1] -> linear magnitude relative to the patch's reference (1.0 at y = 1)."""
    return torch.pow(10.0, (y - 1.0) * (DB_RANGE / 20.0))


def db_sum(sources: torch.Tensor) -> torch.Tensor:
    """Normalised dB of the sum of the sources' magnitudes: ``(batch, source, F, T) -> (batch, F, T)``."""
    total = db_to_amplitude(sources).sum(1).clamp(min=1e-8)
    return (20 * torch.log10(total) / DB_RANGE + 1.0).clamp(0.0, 1.0)


MODEL_KINDS = {AudioConvSeparationVAE.kind: (AudioConvConfig, AudioConvSeparationVAE)}
