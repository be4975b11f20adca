"""VAE Separation Lab: `streamlit run app.py`."""
from pathlib import Path

import streamlit as st

from lab_ui.shell import warm_up
from lab_ui.state import copy_link_ui, one_address_change, projector_ui, student_ui

# A local icon: a Material icon or emoji here makes every browser fetch the favicon from a CDN (fails offline).
st.set_page_config(page_title="VAE Separation Lab", page_icon=str(Path(__file__).parent / "assets" / "icon.png"),
                   layout="wide")

pages = [
    st.Page("pages/home.py", title="Home", icon=":material/home:", default=True),
    st.Page("pages/image-separation.py", title="Image separation", icon=":material/image:",
            url_path="image-separation"),
    st.Page("pages/audio-separation.py", title="Audio separation", icon=":material/graphic_eq:",
            url_path="audio-separation"),
    st.Page("pages/music.py", title="Music", icon=":material/music_note:", url_path="music"),
    st.Page("pages/effects-map.py", title="Effects map", icon=":material/scatter_plot:", url_path="effects-map"),
    st.Page("pages/latent-explorer.py", title="Latent explorer", icon=":material/tune:", url_path="latent-explorer"),
    st.Page("pages/beta-lab.py", title="β lab", icon=":material/science:", url_path="beta-lab"),
    st.Page("pages/train.py", title="Train", icon=":material/model_training:", url_path="train"),
    st.Page("pages/lessons.py", title="Lessons", icon=":material/school:", url_path="lessons"),
]
page = st.navigation(pages)
with one_address_change():  # the run's choices reach the address bar as one change, one history entry
    student_ui()
    link = st.sidebar.container()  # filled after the page ran: the link then holds the page's state of this run
    projector_ui()
    page.run()
    with link:
        copy_link_ui()
warm_up()  # after the first page is drawn: a cold server shows Home without waiting for torch
