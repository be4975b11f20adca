"""Streamlit's own floor for ``bench serve --baseline``: the bare minimum of the image page a class waits for.

A title, the mixing-weight slider and three captioned images whose pixels follow the slider, and nothing else: no
torch, no data, no sidebar. A class of Chromium sessions opening this page measures what Streamlit's page costs the
browsers and the server on this machine before any of the app's own work (``streamlit run lab_ui/baseline_app.py``
shows it).
"""
import numpy as np
import streamlit as st

SIZE = 140  # the image page's upscaled 28 x 28 images

st.title("Baseline page")
weight = st.slider("Mixing weight w of the digit", 0.05, 0.95, 0.5, 0.05)
ramp = np.linspace(0.0, 1.0, SIZE, dtype=np.float32)
digit, clothing = np.outer(ramp, ramp), np.outer(ramp[::-1], np.ones(SIZE, np.float32))
with st.container(horizontal=True, gap="small"):
    st.image(weight * digit + (1 - weight) * clothing, caption="mixture (input)", clamp=True, width=SIZE)
    st.image(digit, caption="separated digit", clamp=True, width=SIZE)
    st.image(clothing, caption="separated clothing", clamp=True, width=SIZE)
