"""Every page shows its concept panel (the idea in words and its equation) near its top, before the page's own
controls."""
from __future__ import annotations

import pytest

from lab_ui.concepts import CONCEPTS
from ui.app_fixtures import app_env, app_runs_dir, image_checkpoint, open_page  # noqa: F401

PAGE_FILES = {name: f"pages/{'home' if name == 'home' else name}.py" for name in CONCEPTS}


@pytest.fixture(autouse=True)
def _app_env(app_env):  # noqa: F811
    """A runs folder of the tests' own; the shipped checkpoints as the pickers show them."""


def test_every_page_of_the_app_has_a_concept():
    from vae_core.core.loadtest import PAGES

    # Lessons is the guide through the other pages' concepts; it has none of its own.
    assert {p or "home" for p in PAGES} - {"lessons"} == set(CONCEPTS)


@pytest.mark.parametrize("page", sorted(CONCEPTS))
def test_the_page_shows_its_concept_panel_first(page):
    at = open_page(PAGE_FILES[page], {"who": "ada"}, timeout=120)
    concept = CONCEPTS[page]
    assert [latex.value.strip("$\n") for latex in at.latex][:1] == [concept.equation]
    texts = [m.value for m in at.main.markdown]
    panel = f"**{concept.title}.** {concept.text}"
    assert panel in texts
    # Near the top: at most an introductory line comes before it in the page's main column.
    assert texts.index(panel) <= 1
    assert 2 <= concept.text.count(". ") + concept.text.count(": ") + 1 <= 6  # a few sentences, not an essay


def _places(projector: bool, n: int, most: int | None = None) -> list[int]:
    """How many columns each row of ``side_by_side(n, most)`` has, with the projector switch as given."""
    from streamlit.testing.v1 import AppTest

    def script(projector: bool, n: int, most: int | None) -> None:
        import streamlit as st

        from lab_ui.common import side_by_side

        st.session_state["projector"] = projector
        for i, place in enumerate(side_by_side(n, most)):
            place.markdown(f"item {i}")

    at = AppTest.from_function(script, args=(projector, n, most)).run()
    assert not at.exception
    assert [m.value for m in at.markdown] == [f"item {i}" for i in range(n)]  # every item placed, in order
    return [len(block.children) for block in at.main.children.values() if block.type == "flex_container"]


def test_side_by_side_wraps_into_rows_of_three_on_a_projector():
    assert _places(False, 5) == [5]
    assert _places(True, 5) == [3, 3]  # the second row keeps the column width: its third place stays empty
    assert _places(True, 2) == [2]
    assert _places(False, 6, most=4) == [4, 4]
