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
