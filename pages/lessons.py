"""Lessons: short guided steps through the course material, each opening the right page in the right state."""
from __future__ import annotations

import streamlit as st

from lab_ui.lessons import LESSONS
from lab_ui.state import WHO, bound, int_in, student
from lab_ui.shell import leave_folder_mode

leave_folder_mode()  # before anything is drawn: a cold server's deep link (see lab_ui.shell)

st.title("Lessons")
st.markdown("Short steps through the course, for a class to follow together: read the step aloud, ask the "
            "question, then open the page it links to. Each link opens the page in the state the step needs; "
            "from there the class can try things, and the next link sets the scene again.")

titles = [f"{k + 1}. {lesson.title}" for k, lesson in enumerate(LESSONS)]
chosen = bound("lesson", int_in(1, len(LESSONS)), lambda: st.radio(
    "Lesson", range(1, len(LESSONS) + 1), format_func=lambda k: titles[k - 1], key="lesson", horizontal=True))
lesson = LESSONS[chosen - 1]
who = student()
st.subheader(titles[chosen - 1])
for k, step in enumerate(lesson.steps, start=1):
    with st.container(border=True):
        st.markdown(f"**Step {k}.** {step.text}")
        st.markdown(f"**Ask the class:** *{step.question}*")
        # The student's name travels with the link, so their own runs and choices follow them.
        st.page_link(f"pages/{step.page}.py", label=step.label, icon=":material/arrow_forward:",
                     query_params={**step.query, WHO: who})
if chosen < len(LESSONS):
    st.caption(f"Next: {titles[chosen]}.")
