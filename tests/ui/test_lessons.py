"""The Lessons page: every step's link opens its page in the stated state, and the page lists them in order."""
from __future__ import annotations

import pytest

from lab_ui.lessons import LESSONS
from ui.app_fixtures import app_env, app_runs_dir, image_checkpoint, open_page  # noqa: F401

STEPS = [(k, j, step) for k, lesson in enumerate(LESSONS) for j, step in enumerate(lesson.steps)]


@pytest.fixture(autouse=True)
def _app_env(app_env):  # noqa: F811
    """The app tests' runs folder; the shipped checkpoints."""


def test_the_page_shows_each_lessons_steps_with_their_links():
    """Run inside the app (its navigation knows the pages the links go to)."""
    from streamlit.testing.v1 import AppTest

    from ui.app_fixtures import REPO

    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=60)
    at.query_params["who"] = "ada"
    at.run()
    at.switch_page("pages/lessons.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.radio(key="lesson").value == 1
    texts = [m.value for m in at.markdown]
    first = LESSONS[0]
    assert [t for t in texts if t.startswith("**Step ")] == [f"**Step {k}.** {s.text}" for k, s in
                                                               enumerate(first.steps, start=1)]
    assert sum(t.startswith("**Ask the class:**") for t in texts) == len(first.steps)
    links = at.get("page_link")
    assert [link.proto.label for link in links] == [s.label for s in first.steps]
    assert all("who=ada" in str(link.proto) for link in links), [str(link.proto) for link in links]
    at.radio(key="lesson").set_value(4).run()
    assert at.subheader[0].value == f"4. {LESSONS[3].title}"
    assert at.query_params["lesson"] == ["4"] or at.query_params["lesson"] == "4"


@pytest.mark.parametrize("lesson, step_index, step", STEPS, ids=[f"{k + 1}.{j + 1}" for k, j, _ in STEPS])
def test_each_links_state_is_valid_and_taken(lesson, step_index, step):
    """Opened as its link opens it: no value is refused, and every value of the query is what the page holds."""
    at = open_page(f"pages/{step.page}.py", {**step.query, "who": "ada"}, timeout=120)
    assert not [w.value for w in at.warning if "is not valid" in w.value]
    held = {k: (v[-1] if isinstance(v, list) else v) for k, v in at.query_params.items()}
    for key, value in step.query.items():
        if key.endswith("_tab") and value in ("Map", "Generate", "Latent plane"):
            continue  # a bound tab at its default is dropped from the address
        assert held.get(key) == value, (key, held.get(key), value)
