"""Loading a checkpoint for inference: one entry point for every task.

    from vae_core import load_checkpoint
    m = load_checkpoint("image-conv")      # a name in checkpoints/ or the runs folder, or a path
    m.task, m.sources                      # "image", ("digit", "clothing")
    sources = m.separate(mixtures)         # what the task does; see its inference class

The returned object is the task's inference class (``TaskSpec.inference``). Every one has ``task``,
``sources``, ``name``, ``path``, ``meta``, ``model`` and ``latent_dim``, and offers what its task can do
(``separate``, ``encode``/``decode`` today).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from vae_core.core.checkpoints import load_model

from vae_core.core.store import resolve_checkpoint
from vae_core.core.errors import CheckpointError
from vae_core.core.registry import get_task


class LoadedModel:
    """What every task's inference class shares: the model (in eval mode), its sidecar ``meta``, the folder it was
    loaded from, and its name."""

    task: str = ""
    sources: tuple[str, ...] = ()

    def __init__(self, model: torch.nn.Module, meta: dict[str, Any], path: Path | None = None):
        self.model = model.eval()
        self.meta = meta
        self.path = path
        self.name = path.name if path else meta.get("name", "model")

    @property
    def latent_dim(self) -> int:
        return self.model.latent_dim

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device


def load_checkpoint(name_or_path: str | Path, device: str | None = None) -> Any:
    """Load a checkpoint by name (``checkpoints/`` then the user runs folder) or by folder path as its task's
    inference object."""
    folder = resolve_checkpoint(name_or_path)
    model, meta = load_model(folder)
    task = meta.get("task")
    try:
        spec = get_task(str(task))
    except Exception:
        raise CheckpointError(f"{folder.name} is a checkpoint of an unknown task {task!r}.") from None
    if model.kind not in spec.model_kinds:
        raise CheckpointError(f"{folder.name} says it is a {task} checkpoint, but its model kind {model.kind!r} "
                              f"belongs to another task; restore the checkpoint or train it again.")
    if device:
        model = model.to(device)
    return spec.inference(model, meta, folder)
