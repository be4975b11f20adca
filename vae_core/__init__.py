"""VAE Separation Lab core: data, models, losses, training, checkpoints, metrics and CLI (no UI code)."""
from __future__ import annotations

__version__ = "0.1.0"

from .errors import LabError  # noqa: E402
from .separation import ImageSeparator, load_checkpoint  # noqa: E402

__all__ = ["ImageSeparator", "LabError", "load_checkpoint", "__version__"]
