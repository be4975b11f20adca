"""One inference contract: every shipped checkpoint loads unchanged through ``load_checkpoint`` and says its task
and its sources by name, as its task's registry entry does."""
from __future__ import annotations

import pytest

import vae_core
from vae_core.core.store import list_checkpoints
from vae_core.core.registry import get_task

SHIPPED = [c for c in list_checkpoints() if c.origin == "shipped"]


def test_every_shipped_checkpoint_is_listed():
    names = {c.name for c in SHIPPED}
    assert {"image-conv", "image-mlp", "audio-conv"} <= names and len(names) >= 31


@pytest.mark.parametrize("info", SHIPPED, ids=[c.name for c in SHIPPED])
def test_shipped_checkpoint_loads_and_names_its_task_and_sources(info):
    m = vae_core.load_checkpoint(info.name)
    spec = get_task(m.task)
    assert m.task == info.task == info.meta["task"]
    assert m.sources == spec.sources and len(m.sources) == (1 if m.task in ("music", "effects") else 2)
    assert isinstance(m, spec.inference) and m.model.kind in spec.model_kinds
    assert m.name == info.path.name and m.path == info.path
    assert callable(m.encode) and callable(m.decode)
    does = {"image": "separate", "audio": "separate", "music": "generate", "effects": "embed"}[m.task]
    assert callable(getattr(m, does))  # what the task does
