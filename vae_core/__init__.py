"""VAE Separation Lab: a task-free core (``vae_core.core``) and one package per task (``vae_core.image``,
``vae_core.audio``), registered in ``vae_core.tasks``. No UI code.

    from vae_core import load_checkpoint
    m = load_checkpoint("image-conv")
    m.task, m.sources        # "image", ("digit", "clothing")
"""
from __future__ import annotations

from vae_core.core import __version__
from vae_core.core.errors import LabError
from vae_core.core.inference import load_checkpoint
from vae_core import tasks as _tasks  # noqa: F401  # registers every task
from vae_core.image.inference import ImageSeparator

__all__ = ["ImageSeparator", "LabError", "load_checkpoint", "__version__"]
