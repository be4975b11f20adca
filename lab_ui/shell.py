"""The app shell: warming a cold server, and one workaround for Streamlit's pages-folder mode on a cold server.

**Warming.** The Home page imports no torch, so a cold server draws it in about two seconds; :func:`warm_up`
then imports the heavy libraries in a background thread, so the page a student opens next finds them loaded.

**Pages-folder mode.**
Streamlit decides once per server process, at the first session, whether the app is a "pages folder" app (a
``pages/`` folder next to the main script) or one that calls ``st.navigation``; it only learns the latter when
``app.py`` first runs. So the very first visits to a fresh server are served in pages-folder mode: a deep link
either matches a file in ``pages/`` (which then runs on its own, under the raw file list) or matches nothing
and shows Streamlit's "Page not found" dialog. The page files are named after their URLs, so a deep link always
matches one, and each page calls :func:`leave_folder_mode` first: it switches the server to ``st.navigation``
and reruns, so ``app.py`` draws the page with the app's own navigation.
"""
from __future__ import annotations

import importlib
import threading
from pathlib import Path

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager  # pinned streamlit==1.67.0: see the module docstring
from streamlit.runtime.scriptrunner import get_script_run_ctx


# Third-party only: a background import of project modules could interleave with a page's own imports of them.
# Each is a one-time import that a profile of ten students opening the image page together found on the first
# render's path, holding the interpreter while every student waited: torch._dynamo (imported by the first
# torch.optim optimizer, which latent refinement builds; 2.3 s), sklearn (the task registry imports the effects
# task's metrics; 1.4 s), pandas and its Styler (0.8 s: then the image page's scores table, now the effects map's);
# librosa comes in by the same registry import (the effects task's transforms).
WARM_MODULES = ("torch", "torch._dynamo", "plotly.graph_objects", "pandas", "pandas.io.formats.style",
                "sklearn.decomposition", "sklearn.linear_model", "sklearn.metrics", "sklearn.neighbors", "librosa")
_warm_lock = threading.Lock()
_warm_started = False


def _import_all(names: tuple[str, ...]) -> None:
    for name in names:
        try:
            importlib.import_module(name)
        except ImportError:
            pass  # the page that needs it names the problem


def warm_up() -> None:
    """Start importing :data:`WARM_MODULES` in a background thread, once per server process."""
    global _warm_started
    with _warm_lock:
        if _warm_started:
            return
        _warm_started = True
    threading.Thread(target=_import_all, args=(WARM_MODULES,), name="warm-up", daemon=True).start()


def _in_folder_mode() -> bool:
    """Whether this run is Streamlit's pages-folder mode: its page list holds the main script (``app.py``) beside
    the page files, which the app's own navigation never does. (The server-wide flag cannot tell: another student's first
    visit may have switched it while this run was already under way.)"""
    ctx = get_script_run_ctx()
    if ctx is None:
        return False
    main = Path(ctx.pages_manager.main_script_path).resolve()
    scripts = [Path(str(p["script_path"])).resolve() for p in ctx.pages_manager.get_pages().values()
               if p.get("script_path")]
    return len(scripts) > 1 and main in scripts  # one page alone: a page run as its own app (AppTest)


def leave_folder_mode() -> None:
    """When Streamlit runs this page file directly in its pages-folder mode, rerun through ``app.py``."""
    if _in_folder_mode():
        PagesManager.uses_pages_directory = False  # what st.navigation itself sets on its first call
        st.rerun()
