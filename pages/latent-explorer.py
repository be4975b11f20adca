"""Latent explorer: scrub each latent dimension and see what the decoders draw (for any task: its page widgets
come from the task's registry entry)."""
from __future__ import annotations

import importlib

import streamlit as st

from lab_ui.common import checkpoint_picker_ui, load_separator_ui
from lab_ui.state import bound, one_of
from vae_core.core.registry import get_task, tasks
from lab_ui.concepts import concept_ui
from lab_ui.shell import leave_folder_mode

leave_folder_mode()  # before anything is drawn: a cold server's deep link (see lab_ui.shell)

st.title("Latent explorer")
st.markdown("Each source has its own latent. Move one dimension at a time and watch what its decoder draws.")
concept_ui("latent-explorer")
explorable = [name for name, spec in tasks().items() if spec.page_widgets]
with st.sidebar:
    task = bound("lx_task", one_of(explorable), lambda: st.radio(
        "Model", explorable, horizontal=True, key="lx_task", format_func=lambda name: get_task(name).title))
# Its own choice, starting on the model whose latent the prior fills (the image task's 2-D plane): the separation
# pages keep theirs.
spec = get_task(task)
sep = load_separator_ui(checkpoint_picker_ui(task, key=f"explorer_{task}",
                                             default=spec.prior_checkpoint or spec.default_checkpoint))
if sep is not None:
    importlib.import_module(get_task(sep.task).page_widgets).latent_explorer_ui(sep)
