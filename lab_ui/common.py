"""Widgets and cached resources shared by every page."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import streamlit as st

from vae_core import LabError, load_checkpoint
from vae_core.core.store import SIDECAR, CheckpointInfo, list_checkpoints, runs_dir
from vae_core.core.jobs import JOB_FILE, JobRunner, make_runner
from vae_core.core.registry import get_task

from lab_ui.state import forget, one_of, remember, restore, student, url_get

Separator = Any  # the task's inference class (TaskSpec.inference)


def checkpoint_key(task: str) -> str:
    """The session key of a task's checkpoint picker: pages of one task share the user's choice (the image one
    is plain "checkpoint", as it was before there were other tasks)."""
    return "checkpoint" if task == "image" else f"{task}_checkpoint"


# Room for every run the β lab compares (up to 28 small sweep models) plus the shipped models, so that a rerun
# does not reload and warm up each model again.
@st.cache_resource(show_spinner="Loading model…", max_entries=40)
def _load_separator(path: str, sidecar_mtime: float) -> Separator:
    # sidecar_mtime is part of the cache key: a re-trained checkpoint is reloaded, not served stale.
    return load_checkpoint(path).warm_up()


def model_key(sep: Separator) -> str:
    """A cache key for what is computed from a loaded model: its folder and its weights' checksum (a re-trained
    model gets a new key)."""
    return f"{sep.path}:{sep.meta.get('weights_sha256')}"


def load_separator(info: CheckpointInfo) -> Separator:
    return _load_separator(str(info.path), (info.path / SIDECAR).stat().st_mtime)


def prior_separator(task: str, chosen: Separator) -> Separator | None:
    """The task's ``prior_checkpoint`` (a model whose prior samples look like the data), loaded, where it is
    shipped and differs from ``chosen``; ``None`` otherwise."""
    name = get_task(task).prior_checkpoint
    if name is None or name == chosen.name:
        return None
    info = next((c for c in list_checkpoints(task) if c.name == name and c.origin == "shipped"), None)
    try:
        return load_separator(info) if info else None
    except LabError:
        return None


def run_status(info: CheckpointInfo) -> str | None:
    """The status of the training job that wrote a user checkpoint (running, done, stopped…), if it was a job."""
    try:
        return json.loads((info.path / JOB_FILE).read_text()).get("status")
    except (OSError, ValueError, AttributeError):
        return None


def picker_order(infos: list[CheckpointInfo], who: str) -> list[CheckpointInfo]:
    """The student's own runs first (newest first), then the shipped models, then everyone else's runs, and last
    the shipped collections that other pages are built on (the β lab's sweep, the loss-scale models: a folder in
    their name), which would otherwise bury the rest."""
    mine = sorted((c for c in infos if c.origin == "user" and c.meta.get("owner") == who),
                  key=lambda c: c.meta.get("created", ""), reverse=True)
    shipped = [c for c in infos if c.origin == "shipped" and "/" not in c.name]
    collections = [c for c in infos if c.origin == "shipped" and "/" in c.name]
    others = [c for c in infos if c not in mine and c not in shipped and c not in collections]
    return mine + shipped + others + collections


def picker_label(info: CheckpointInfo, who: str) -> str:
    if info.origin == "user" and info.meta.get("owner") == who:
        status = run_status(info)
        return f"{info.name} (yours{', ' + status if status else ''})"
    return info.label


def checkpoint_picker_ui(task: str, key: str | None = None, default: str | None = None) -> CheckpointInfo | None:
    """Sidebar picker over shipped and user checkpoints of ``task`` (the student's own runs first, with their
    status); the choice is kept per session (under ``key``, by default the task's own) and in the URL. It starts
    on ``default`` (by default the task's ``default_checkpoint``)."""
    key = key or checkpoint_key(task)
    who = student()
    infos = picker_order(list_checkpoints(task), who)
    if not infos:
        st.sidebar.warning(f"No {task} checkpoints found. Train one with `python -m vae_core train {task}`.")
        return None
    labels = [picker_label(c, who) for c in infos]
    names = [c.name for c in infos]
    select_key = f"{key}_select"

    def parse(raw: str) -> str:
        return labels[names.index(one_of(names)(raw))]

    linked = url_get("checkpoint")
    if linked not in (None, *names) and any(c.name == linked for c in list_checkpoints()):
        forget("checkpoint")  # another task's model (the page switched tasks): not a bad link
    with st.sidebar:
        restore(select_key, parse, "the checkpoint", url_key="checkpoint")
    remembered = st.session_state.get(f"{key}_name")
    if st.session_state.get(select_key) not in labels:
        st.session_state.pop(select_key, None)  # its run was renamed (a status changed) or removed
    index = names.index(remembered) if remembered in names else next(
        (i for i, c in enumerate(infos) if c.name == (default or get_task(task).default_checkpoint)), 0)
    label = st.sidebar.selectbox("Checkpoint", labels, index=index, key=select_key,
                                 help="Your own runs first, then the shipped models and other students' runs.")
    info = infos[labels.index(label)]
    st.session_state[f"{key}_name"] = info.name
    remember("checkpoint", info.name)
    cfg = info.meta.get("train_config", {})
    latent = info.meta.get("model_config", {}).get("latent_dim")
    parts = [f"{info.kind} model"]
    if latent is not None:
        parts.append(f"latent {latent}")
    if "beta" in cfg:
        parts.append(f"β {cfg['beta']}")
    if info.meta.get("test_metrics"):
        parts.append("test " + get_task(info.task).summary(info.meta))
    st.sidebar.caption(" · ".join(parts))
    return info


def load_separator_ui(info: CheckpointInfo | None) -> Separator | None:
    """Load the chosen checkpoint, or show one clear sentence on why it cannot be used."""
    if info is None:
        return None
    try:
        return load_separator(info)
    except LabError as exc:
        st.error(str(exc))
        return None


LEARNING_RATES = [1e-4, 3e-4, 1e-3, 2e-3, 5e-3]
"""The learning rates the Train page offers (a run's settings and a change while it trains)."""


PROJECTOR_COLUMNS = 3
"""The most items a row holds in projector mode: players and pictures wrap into more rows instead of shrinking."""


def side_by_side(n: int, most: int | None = None) -> list[Any]:
    """``n`` places in a row (at most ``most`` per row), fewer per row in projector mode: rows of at most
    ``PROJECTOR_COLUMNS``, so that each item keeps a readable width on a projector."""
    per_row = min(n, most or n, PROJECTOR_COLUMNS if st.session_state.get("projector") else n)
    places: list[Any] = []
    for start in range(0, n, max(1, per_row)):
        places += st.columns(per_row)[:n - start]
    return places


def markdown_table(rows: list[dict[str, Any]], formats: dict[str, str] | None = None) -> str:
    """``rows`` (one dict per row, the first row's keys as the header) as a Markdown table, numbers through
    ``formats`` (column -> format string, e.g. ``"{:.2f}"``). A short table of scores drawn as text: st.table and
    st.dataframe make each visiting browser fetch and compile the Arrow reader (about 1 MB of JavaScript)."""
    if not rows:
        return ""
    columns = list(rows[0])
    formats = formats or {}

    def cell(column: str, value: Any) -> str:
        if value is None:
            return "–"
        text = formats[column].format(value) if column in formats else str(value)
        return text.replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(cell("", c) for c in columns) + " |",
             "|" + "|".join(":---" if i == 0 else "---:" for i in range(len(columns))) + "|"]
    lines += ["| " + " | ".join(cell(c, row.get(c)) for c in columns) + " |" for row in rows]
    return "\n".join(lines)


def image_scale() -> int:
    """Upscaling factor for 28x28 images (crisp on a projector; larger still in projector mode)."""
    return 8 if st.session_state.get("projector") else 5


@st.cache_resource
def _job_runner(runs_root: str) -> JobRunner:
    return make_runner(Path(runs_root))


def job_runner() -> JobRunner:
    """The server's one job runner, shared by every session (the runs folder keys it)."""
    return _job_runner(str(runs_dir()))
