"""The app shell's one workaround: Streamlit's pages-folder mode on a cold server.

Streamlit decides once per server process, at the first session, whether the app is a "pages folder" app (a
``pages/`` folder next to the main script) or one that calls ``st.navigation``; it only learns the latter when
``app.py`` first runs. So the very first visits to a fresh server are served in pages-folder mode: a deep link
either matches a file in ``pages/`` (which then runs on its own, under the raw file list) or matches nothing
and shows Streamlit's "Page not found" dialog. The page files are named after their URLs, so a deep link always
matches one, and each page calls :func:`leave_folder_mode` first: it switches the server to ``st.navigation``
and reruns, so ``app.py`` draws the page with the app's own navigation.
"""
from __future__ import annotations

from pathlib import Path

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager  # pinned streamlit==1.67.0: see the module docstring
from streamlit.runtime.scriptrunner import get_script_run_ctx


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
