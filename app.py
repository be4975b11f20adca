"""VAE Separation Lab: `streamlit run app.py`."""
import streamlit as st

st.set_page_config(page_title="VAE Separation Lab", page_icon=":material/call_split:", layout="wide")

pages = [
    st.Page("pages/home.py", title="Home", icon=":material/home:", default=True),
    st.Page("pages/image_separation.py", title="Image separation", icon=":material/image:",
            url_path="image-separation"),
    st.Page("pages/audio_separation.py", title="Audio separation", icon=":material/graphic_eq:",
            url_path="audio-separation"),
    st.Page("pages/latent_explorer.py", title="Latent explorer", icon=":material/tune:", url_path="latent-explorer"),
    st.Page("pages/beta_lab.py", title="β lab", icon=":material/science:", url_path="beta-lab"),
    st.Page("pages/train.py", title="Train", icon=":material/model_training:", url_path="train"),
]
st.navigation(pages).run()
