"""VAE Separation Lab: a task-free core (``vae_core.core``) and one package per task (``vae_core.image``,
``vae_core.audio``), registered in ``vae_core.tasks``. No UI code.

    from vae_core import load_checkpoint
    m = load_checkpoint("image-conv")
    m.task, m.sources        # "image", ("digit", "clothing")

Importing the package is cheap: the names below that need torch load on first use (PEP 562), and the tasks
register themselves the first time the registry is asked (``vae_core.core.registry.add_entries``). A web server can so draw
a page that only lists checkpoints without loading torch.
"""
from __future__ import annotations

import importlib
from typing import Any

from vae_core.core import __version__
from vae_core.core.errors import LabError
from vae_core.core.registry import add_entries

add_entries("vae_core.tasks")  # registers every task, on the registry's first use

_LAZY = {"load_checkpoint": "vae_core.core.inference", "ImageSeparator": "vae_core.image.inference"}

__all__ = ["ImageSeparator", "LabError", "load_checkpoint", "__version__"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'vae_core' has no attribute {name!r}")
