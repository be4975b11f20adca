"""The image separation VAEs: one encoder, two latent Gaussians, two decoders (MLP: the course design; conv).

Shapes: mixtures ``(batch, 28, 28)``; decoded sources ``(batch, source, 28, 28)`` with source 0 = digit,
1 = clothing; latent parameters ``(batch, source, latent_dim)``. Sampling ``z ~ N(0, I)`` and decoding draws a
digit (source 0) or a clothing item (source 1)."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from vae_core.core.errors import ConfigError
from vae_core.core.models import SeparationVAE

SOURCES = ("digit", "clothing")
IMAGE_SHAPE = (28, 28)


@dataclass
class MLPConfig:
    """The course design: Linear + BatchNorm + ReLU blocks, two latents, two decoders."""

    latent_dim: int = 16
    hidden: tuple[int, ...] = (512, 256)

    def validate(self) -> None:
        if not 1 <= self.latent_dim <= 512:
            raise ConfigError(f"latent_dim must be between 1 and 512, not {self.latent_dim}.")
        if not 1 <= len(self.hidden) <= 8 or any(not 1 <= h <= 8192 for h in self.hidden):
            raise ConfigError(f"hidden must be one to eight sizes between 1 and 8192, not {self.hidden}.")


@dataclass
class ConvConfig:
    """A small convolutional encoder and two transposed-convolution decoders, sized for a CPU."""

    latent_dim: int = 32
    channels: tuple[int, ...] = (32, 64, 128)
    hidden: int = 512

    def validate(self) -> None:
        if not 1 <= self.latent_dim <= 512:
            raise ConfigError(f"latent_dim must be between 1 and 512, not {self.latent_dim}.")
        if len(self.channels) != 3 or any(not 1 <= c <= 1024 for c in self.channels):
            raise ConfigError(f"channels must be three numbers between 1 and 1024, not {self.channels}.")
        if not 1 <= self.hidden <= 8192:
            raise ConfigError(f"hidden must be between 1 and 8192, not {self.hidden}.")


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


def ratio_split(sources: torch.Tensor, mixture: torch.Tensor, weight: float = 0.5, eps: float = 1e-3) -> torch.Tensor:
    """Share each mixture pixel between the sources in proportion to what the decoders drew there.

    The digit gets ``m·x/w`` and the clothing ``(1-m)·x/(1-w)`` with the ratio mask
    ``m = w·d̂ / (w·d̂ + (1-w)·ĉ)``: the image analogue of a Wiener filter, in which the decoders' outputs play the
    sources' power. The result re-mixes exactly to the input, stays in [0, 1], stays zero where the mixture is
    zero, and the true answer is representable (``m = w·d / x``), which the additive projection
    (:func:`mixture_consistency`) cannot do where one source is dark. ``sources`` is ``(N, 2, H, W)``, ``mixture``
    ``(N, H, W)``; ``eps`` splits a pixel evenly where both decoders drew nothing.
    """
    w = float(weight)
    a, b = w * sources[:, 0].clamp(min=0.0), (1.0 - w) * sources[:, 1].clamp(min=0.0)
    m = (a + eps) / (a + b + 2 * eps)
    # Keep both shares valid pixels instead of clipping them afterwards (which would break the re-mix): the digit
    # share m·x/w ≤ 1 and the clothing share (1-m)·x/(1-w) ≤ 1. For x ≤ 1 the interval is never empty.
    x = mixture.clamp(min=1e-12)
    m = torch.minimum(torch.maximum(m, (1.0 - (1.0 - w) / x).clamp(min=0.0)), (w / x).clamp(max=1.0))
    return torch.stack([m * mixture / w, (1 - m) * mixture / (1.0 - w)], dim=1).clamp(0.0, 1.0)  # rounding only


CONSISTENCY = {"split": ratio_split, "project": mixture_consistency}
"""The ways to make separated sources agree with their mixture, by the name the CLI, page and metrics use."""

REFINE_STEPS = 5
"""The app's and the benchmark's default number of latent refinement steps: +1.1 dB on the validation images, and a
click on the image page still answers within 50 ms with the browser on the same two cores (10 steps: +1.3 dB, up
to 100 ms; README, "What moved the image score")."""


def refine_latents(model: SeparationVAE, mixture: torch.Tensor, z: torch.Tensor, weight: float = 0.5,
                   steps: int = REFINE_STEPS, lr: float = 0.1, sigma: float = 0.03) -> torch.Tensor:
    """Separation by latent refinement: a few Adam steps on both latents towards the MAP estimate.

    Minimises ``‖x − (w·D₁(z₁) + (1−w)·D₂(z₂))‖² / (2σ²) + ½‖z‖²``: the decoders must explain the mixture together
    while each latent stays likely under its N(0, I) prior (the VAE as a source prior, as in Jayaram & Thickstun
    2020), starting from the encoder's guess ``z`` ``(N, 2, latent_dim)``. Only the latents move: the weights get
    no gradients, so one model can serve many users at once. Returns the refined ``(N, 2, latent_dim)``.
    """
    z = z.detach().clone().requires_grad_(True)
    opt = torch.optim.Adam([z], lr=lr)
    with torch.enable_grad():
        for _ in range(steps):
            residual = mixture - remix(model.decode_all(z), weight)
            loss = residual.pow(2).sum() / (2 * sigma * sigma) + 0.5 * z.pow(2).sum()
            (z.grad,) = torch.autograd.grad(loss, [z])
            opt.step()
    return z.detach()


class ImageSeparationVAE(SeparationVAE):
    """A separation VAE for 28x28 images: sources ``(batch, source, 28, 28)`` in [0, 1]."""

    sources = SOURCES

    def remix(self, sources: torch.Tensor, weight: float = 0.5) -> torch.Tensor:
        return remix(sources, weight)


def _mlp(sizes: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(a, b), nn.BatchNorm1d(b), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers)


class MLPSeparationVAE(ImageSeparationVAE):
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


class ConvSeparationVAE(ImageSeparationVAE):
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
IMAGE_MODEL_KINDS = tuple(MODEL_KINDS)
