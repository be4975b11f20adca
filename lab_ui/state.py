"""Page state in the URL, and who the student is.

Every page keeps its choices in the address (``?checkpoint=image-conv&weight=0.3…``), so that copying the address
reproduces the view and a reload keeps it. :func:`bound` wraps a keyed widget: before the widget is drawn, a value
from the URL is checked like a typed one (a bad one is refused with one sentence and the default is shown), and
after it the widget's value is written back to the URL.

Each write to ``st.query_params`` sends the browser a message that pushes a new history entry and redraws the
app; a page restoring a dozen widgets would send a dozen, and the Back button would step through them one by one.
``app.py`` runs each page inside :func:`one_address_change`, which holds the run's changes and sends them as one:
each change a student makes is one history entry. Back (or Forward) then undoes it: in a run that the browser's
history navigation started, the address wins over the widgets' own state (:func:`restore`).

The student's name (``?who=…``) follows them across pages and reloads; runs they start are theirs.
"""
from __future__ import annotations

import secrets
import urllib.parse
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Callable, Iterator, Sequence, TypeVar

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from vae_core.core.errors import ConfigError
from vae_core.core.jobs import check_owner

T = TypeVar("T")
Parser = Callable[[str], Any]
WHO = "who"
# The address changes this run holds back (a value, or None for a removed key); None when writes go out at once
# (a fragment's own rerun, a widget callback, a page run on its own as in AppTest).
_held: ContextVar[dict[str, str | None] | None] = ContextVar("lab_ui_held_address", default=None)


class BadValue(ValueError):
    """A URL value a widget cannot take; its message says what it may be."""


# --------------------------------------------------------------------------- parsers (raise BadValue)

def _number_in(cast: Callable[[str], float], lo: float, hi: float, what: str) -> Parser:
    def parse(raw: str) -> Any:
        try:
            value = cast(raw)
        except ValueError:
            value = None
        if value is None or not lo <= value <= hi:  # NaN fails both comparisons
            raise BadValue(what)
        return value
    return parse


def int_in(lo: int, hi: int) -> Parser:
    return _number_in(int, lo, hi, f"a whole number from {lo} to {hi}")


def float_in(lo: float, hi: float) -> Parser:
    return _number_in(float, lo, hi, f"a number from {lo:g} to {hi:g}")


def one_of(options: Sequence[Any]) -> Parser:
    by_text = {_fmt(o): o for o in options}

    def parse(raw: str) -> Any:
        if raw not in by_text:
            shown = ", ".join(list(by_text)[:8]) + ("…" if len(by_text) > 8 else "")
            raise BadValue(f"one of {shown}")
        return by_text[raw]
    return parse


def some_of(options: Sequence[Any], at_least: int = 0, at_most: int | None = None) -> Parser:
    """A comma list of ``options`` (a multiselect's value), with ``at_least`` to ``at_most`` of them when given."""
    single = one_of(options)
    counted = at_least > 0 or at_most is not None
    what = f"{at_least} to {len(options) if at_most is None else at_most} of " \
           f"{', '.join(_fmt(o) for o in options)}, separated by commas"

    def parse(raw: str) -> list[Any]:
        try:
            values = [single(part) for part in raw.split(",") if part != ""]
        except BadValue:
            if counted:
                raise BadValue(what) from None
            raise
        if counted and not at_least <= len(values) <= (at_most if at_most is not None else len(options)):
            raise BadValue(what)
        return values
    return parse


def text(max_chars: int) -> Parser:
    def parse(raw: str) -> str:
        if len(raw) > max_chars or not raw.isprintable():
            raise BadValue(f"at most {max_chars} printable characters")
        return raw
    return parse


def boolean(raw: str) -> bool:
    if raw not in ("0", "1"):
        raise BadValue("0 or 1")
    return raw == "1"


def _fmt(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return ",".join(_fmt(v) for v in value)
    return str(value)


# --------------------------------------------------------------------------- the address

def url_get(key: str) -> str | None:
    """The address's value for ``key`` as this run has left it so far (held changes included)."""
    held = _held.get()
    if held is not None and key in held:
        return held[key]
    return st.query_params.get(key)


def _url_set(key: str, value: str | None) -> None:
    """Set (or, with None, remove) ``key`` in the address: now, or at the end of the run when changes are held."""
    held = _held.get()
    if held is not None:
        held[key] = value
    elif value is not None:
        st.query_params[key] = value
    elif key in st.query_params:
        del st.query_params[key]


def _history_navigation() -> bool:
    """Whether this run began with the browser's Back or Forward: the address then holds an earlier view."""
    ctx = get_script_run_ctx()
    return ctx is not None and ctx.is_history_navigation


def _address(held: dict[str, str | None]) -> dict[str, str]:
    query = st.query_params.to_dict()
    for key, value in held.items():
        if value is None:
            query.pop(key, None)
        else:
            query[key] = value
    return query


@contextmanager
def one_address_change() -> Iterator[None]:
    """Hold the address changes made inside (a whole run of ``app.py``) and send them as one, also when the page
    stops early (``st.stop``, ``st.rerun``, an error)."""
    token = _held.set({})
    try:
        yield
    finally:
        held = _held.get()
        _held.reset(token)
        now = st.query_params.to_dict()
        # Only the keys this run changed: st.query_params refuses writes to keys a widget binds itself
        # (bind="query-params"), so the whole address cannot be set at once.
        for key in [k for k, v in held.items() if v is None and k in now]:
            del st.query_params[key]  # rare (a control no longer shown): one message each
        changed = {k: v for k, v in held.items() if v is not None and now.get(k) != v}
        if changed:
            st.query_params.update(changed)


# --------------------------------------------------------------------------- URL <-> widgets

def restore(key: str, parse: Parser, label: str | None = None, url_key: str | None = None) -> None:
    """Give the widget ``key`` the URL's value (under ``url_key``, by default ``key``), when the URL has one and
    the widget has not been drawn yet in this visit of the page or the run began with Back or Forward (not when
    the address merely lags: a student's quick second change can reach the server before the first change's
    address reached the browser); a value that ``parse`` refuses is reported in one sentence and left out."""
    url_key = url_key or key
    raw = url_get(url_key)
    if raw is None or (key in st.session_state and not _history_navigation()):
        return
    try:
        st.session_state[key] = parse(raw)
    except BadValue as exc:
        _url_set(url_key, None)
        st.warning(f"The link's value {raw!r} for {label or key} is not valid (it must be {exc}); showing the "
                   "default instead.", icon=":material/link_off:")


def remember(key: str, value: Any) -> None:
    """Write a widget's value to the URL."""
    text = _fmt(value)
    if url_get(key) != text:
        _url_set(key, text)


def bound(key: str, parse: Parser, draw: Callable[[], T], label: str | None = None) -> T:
    """Draw the widget ``key`` (``draw`` makes it) with its value restored from and remembered in the URL."""
    restore(key, parse, label)
    value = draw()
    remember(key, value)
    return value


def counter(key: str, advance: bool, hi: int = 10**6) -> int:
    """A seed kept in the session and the URL (0 at first), advanced by one when ``advance`` (a button was
    pressed): "Sample again", "New batch"."""
    restore(key, int_in(0, hi))
    st.session_state.setdefault(key, 0)
    if advance:
        st.session_state[key] += 1
    remember(key, st.session_state[key])
    return st.session_state[key]


def forget(*keys: str) -> None:
    """Drop keys from the URL (a control that is not shown now)."""
    for key in keys:
        if url_get(key) is not None:
            _url_set(key, None)


def page_link() -> str:
    """The address of this view, with its state."""
    base = (st.context.url or "").split("?")[0]
    held = _held.get()
    query = urllib.parse.urlencode(_address(held) if held is not None else st.query_params.to_dict())
    return f"{base}?{query}" if query else base


def copy_link_ui() -> None:
    """(In the sidebar, after the page has run.) A "Copy link" control: the address of this view, with a copy button, to paste into chat or a slide."""
    with st.popover("Copy link", icon=":material/link:", width="stretch"):
        st.caption("This address opens this page as you see it now (model, choices, sliders); the browser's "
                   "address bar always holds it too.")
        st.code(page_link(), language=None, wrap_lines=True)


# --------------------------------------------------------------------------- who the student is

def student() -> str:
    """The student's name: from the URL (``?who=``), else the session's, else a new guest name; kept in the URL
    so that a reload or a copied link keeps it."""
    who = st.session_state.get(WHO)
    raw = url_get(WHO)
    if raw is not None and raw != who:
        try:
            who = check_owner(raw)
        except ConfigError as exc:
            st.warning(f"The link's name is not valid: {exc}", icon=":material/person_off:")
            who = None
    if not who:
        who = f"guest-{secrets.token_hex(3)}"
    st.session_state[WHO] = who
    remember(WHO, who)
    return who


def _rename() -> None:
    raw = st.session_state.get("who_input", "")
    try:
        st.session_state[WHO] = check_owner(raw)
    except ConfigError as exc:
        st.session_state["who_error"] = str(exc)
    else:
        st.query_params[WHO] = st.session_state[WHO]


def student_ui() -> str:
    """Sidebar: who you are (your runs follow this name), with a field to change it."""
    who = student()
    with st.sidebar.popover(f"You: {who}", icon=":material/person:", width="stretch"):
        st.text_input("Your name", value=who, max_chars=40, key="who_input", on_change=_rename,
                      help="Your training runs are listed under this name. Keep it to find them again, on any "
                           "computer: it is part of the page's address.")
        if error := st.session_state.pop("who_error", None):
            st.error(error)
    return who


PROJECTOR_CSS = """<style>
[data-testid="stMain"] { font-size: 1.25rem; }
[data-testid="stMain"] p, [data-testid="stMain"] li, [data-testid="stMain"] label,
[data-testid="stMain"] [data-testid="stCaptionContainer"] { font-size: 1.2rem !important; line-height: 1.5; }
[data-testid="stMain"] h1 { font-size: 3.2rem !important; }
[data-testid="stMain"] h2, [data-testid="stMain"] h3 { font-size: 2.2rem !important; }
[data-testid="stMain"] .katex { font-size: 1.45em; }
[data-testid="stMetricValue"] { font-size: 2.8rem !important; }
</style>"""


def projector_ui() -> bool:
    """Sidebar switch for a class watching a projector: larger text, equations and pictures (kept in the URL)."""
    on = bound("projector", boolean, lambda: st.sidebar.toggle(
        "Projector", key="projector", help="Larger text, equations and pictures, for a room reading a projector."))
    if on:
        st.html(PROJECTOR_CSS)
    return on
