"""The task registry: from a task's name to everything the core, the CLI and the app need of it.

The core knows no task. Each task package (``vae_core.image``, ``vae_core.audio``, ...) describes itself with
one :class:`TaskSpec`, and ``vae_core.tasks`` registers them; adding a task means adding a package and one
line there. Checkpoints name their task (``"task"`` in the sidecar) and their model kind; both are looked up
here.
"""
from __future__ import annotations

import argparse
import difflib
import importlib
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from vae_core.core.errors import ConfigError, LabError


@dataclass(frozen=True)
class TaskSpec:
    """What a task offers. The fields from ``name`` to ``format_metrics`` are required; the rest are optional.

    - ``config_class``: the training config dataclass (``validate()``; its defaults are the CLI's defaults).
    - ``model_kinds``: model kind -> (model config dataclass, model class).
    - ``make_task``: ``(config, data_root, download) -> TrainingTask`` for the shared trainer.
    - ``inference``: the class a loaded checkpoint becomes: ``inference(model, meta, path)``.
    - ``evaluate``: ``(inference, data_root, limit, **eval_options) -> metrics``; scores a loaded checkpoint on
      held-out test data (the core stores the result in the sidecar as ``test_metrics`` where asked).
    - ``format_metrics``: ``(inference, metrics) -> str`` for ``eval``. ``evaluate`` may also take a ``progress``
      keyword (called with the fraction of the test data scored): the training worker then shows how far the final
      scoring has got.
    - ``eval_options``: the ``eval`` flags that apply to this task (e.g. ``weight``).
    - ``add_cli``: ``(train_subparsers, subparsers) -> None``; adds ``train <task>`` and the task's other
      commands.
    - ``data``: ``(root, download, progress) -> lines``; checks (or downloads) the task's datasets.
    - ``benches``: ``bench`` names -> ``(args) -> report``; ``latent_move``: ``(inference, repeats) -> times``.
    - ``summary``: ``(sidecar) -> str``; the test score that ``list`` prints.
    - ``default_run_name``: ``(config) -> str``.
    - ``page_widgets``: the dotted name of the ``lab_ui`` module with this task's page widgets.
    - ``default_checkpoint``: the shipped checkpoint the app's pickers start on.
    - ``prior_checkpoint``: a shipped checkpoint whose samples from the prior look like the data (a small latent
      the prior fills), where the default one separates better but samples worse; the Latent explorer starts on it
      and pages draw their prior samples with it.
    - ``job_eval_limit``: (environment variable, default) limiting how much test data a finished app run is
      scored on (0: all).
    - ``plugin``: for a task registered outside ``vae_core.tasks``, the dotted name of a module that registers
      it when imported; training workers (separate processes) import it before they look the task up.
    """

    name: str
    title: str
    sources: tuple[str, ...]
    config_class: type
    model_kinds: dict[str, tuple[type, type]]
    make_task: Callable[..., Any]
    inference: type
    evaluate: Callable[..., dict[str, Any]]
    format_metrics: Callable[[Any, dict[str, Any]], str]
    eval_options: tuple[str, ...] = ()
    add_cli: Callable[[argparse._SubParsersAction, argparse._SubParsersAction], None] | None = None
    data: Callable[[Path, bool, Callable[..., None]], list[str]] | None = None
    summary: Callable[[dict[str, Any]], str] | None = None
    default_run_name: Callable[[Any], str] | None = None
    page_widgets: str | None = None
    job_eval_limit: tuple[str, int] | None = None
    default_checkpoint: str | None = None
    prior_checkpoint: str | None = None
    plugin: str | None = None
    benches: dict[str, Callable[..., Any]] = field(default_factory=dict)


_TASKS: dict[str, TaskSpec] = {}
_ENTRY_MODULES: list[str] = []  # modules whose import registers tasks, imported when the registry is first asked
_entries_lock = threading.RLock()  # re-entrant: a task module may ask the registry while it is being imported


def add_entries(module: str) -> None:
    """Name a module whose import registers tasks (``vae_core`` names ``vae_core.tasks``). It is imported the first
    time the registry is asked, not now: task modules load torch, and listing checkpoints or drawing a page that
    needs no model should not."""
    with _entries_lock:
        if module not in _ENTRY_MODULES:
            _ENTRY_MODULES.append(module)


def _registered() -> dict[str, TaskSpec]:
    """The registry, after importing every named entries module."""
    with _entries_lock:
        for module in _ENTRY_MODULES:
            importlib.import_module(module)  # at once when imported already (or being imported, re-entered)
    return _TASKS


def register(spec: TaskSpec) -> TaskSpec:
    """Add a task (idempotent for the same spec); two tasks may not claim one model kind."""
    for other in _TASKS.values():
        if other.name != spec.name and set(other.model_kinds) & set(spec.model_kinds):
            raise ValueError(f"tasks {other.name} and {spec.name} both claim {set(other.model_kinds) & set(spec.model_kinds)}")
    _TASKS[spec.name] = spec
    return spec


def tasks() -> dict[str, TaskSpec]:
    """Every registered task by name, in registration order."""
    return dict(_registered())


def get_task(name: str) -> TaskSpec:
    known = _registered()
    if name not in known:
        raise LabError(f"Unknown task {name!r}; the tasks are {', '.join(known) or 'none'}.")
    return known[name]


def task_of_config(config: Any) -> TaskSpec:
    """The task whose training config ``config`` is."""
    for spec in _registered().values():
        if type(config) is spec.config_class:
            return spec
    raise LabError(f"{type(config).__name__} is no registered task's training config.")


def model_kinds() -> dict[str, tuple[type, type]]:
    """Every registered model kind -> (config class, model class)."""
    return {kind: entry for spec in _registered().values() for kind, entry in spec.model_kinds.items()}


def model_kind(kind: str) -> tuple[type, type]:
    kinds = model_kinds()
    if kind not in kinds:
        raise ConfigError(f"Unknown model kind {kind!r}; expected one of {', '.join(kinds)}.")
    return kinds[kind]


def task_of_kind(kind: str) -> TaskSpec:
    for spec in _registered().values():
        if kind in spec.model_kinds:
            return spec
    raise ConfigError(f"Unknown model kind {kind!r}; expected one of {', '.join(model_kinds())}.")


def closest(name: str, candidates: list[str], n: int = 3) -> list[str]:
    """The candidates most like ``name`` (for "did you mean" sentences)."""
    return difflib.get_close_matches(name, candidates, n=n, cutoff=0.4)


def require_task(separator: Any, task: str, what: str) -> None:
    """One sentence when a command for ``task`` is given a checkpoint of another task."""
    if separator.task != task:
        name = getattr(separator, "name", "the checkpoint")
        raise LabError(f"{name} is {_a(separator.task)} checkpoint, but {what} needs {_a(task)} checkpoint; "
                       f"`python -m vae_core list` shows each checkpoint's task.")


def _a(word: str) -> str:
    return ("an " if word[:1] in "aeiou" else "a ") + word
