"""Home: what the app shows, in a few sentences and one diagram."""
import streamlit as st

from lab_ui.common import checkpoint_picker_ui
from vae_core.data import data_root, dataset_status

st.title("VAE Separation Lab")
st.markdown(
    """
A **variational autoencoder** that un-mixes signals. The input is one image made by averaging a handwritten
digit (MNIST) with a clothing item (Fashion-MNIST). One **encoder** maps that mixture to *two* latent Gaussians,
one per source. Each of the two **decoders** sees only its own latent and draws one source: a digit or a clothing
item. Mixing the two decoded images again must give back the input.

Training maximises the **ELBO** (Kingma & Welling, 2014): reconstruct each source and the mixture well, while a
**β-weighted KL term** (Higgins et al., 2017) keeps each latent close to the prior N(0, I), which is why sampling
z ~ N(0, I) and decoding draws new digits and clothes.
"""
)
st.graphviz_chart(
    """
digraph {
  rankdir=LR; node [shape=box, style="rounded,filled", fillcolor="#f3f4f8", fontname="Helvetica"];
  x [label="mixture x\\n= w·digit + (1-w)·clothing"];
  enc [label="encoder q(z|x)", fillcolor="#dbe8ff"];
  z1 [label="digit latent\\nz₁ ~ N(μ₁, σ₁²)", shape=ellipse, fillcolor="#fff2cc"];
  z2 [label="clothing latent\\nz₂ ~ N(μ₂, σ₂²)", shape=ellipse, fillcolor="#fff2cc"];
  d1 [label="digit decoder p(digit|z₁)", fillcolor="#d9f2d9"];
  d2 [label="clothing decoder p(clothing|z₂)", fillcolor="#d9f2d9"];
  s1 [label="digit"]; s2 [label="clothing item"];
  r [label="re-mix w·digit + (1-w)·clothing"];
  x -> enc; enc -> z1; enc -> z2; z1 -> d1 -> s1; z2 -> d2 -> s2; s1 -> r; s2 -> r;
  loss [label="loss = recon(digit) + recon(clothing) + recon(mixture)\\n+ β·[KL(q(z₁|x)‖N(0,I)) + KL(q(z₂|x)‖N(0,I))]",
        shape=note, fillcolor="#fde2e2"];
}
"""
)
st.markdown("Open **Image separation** in the sidebar to try it on the test set.")

info = checkpoint_picker_ui("image")
status = dataset_status()
missing = [p for paths in status.values() for p in paths]
if missing:
    st.warning(
        f"Datasets not found in {data_root()}: {', '.join(p.parent.name + '/' + p.name for p in missing)}. "
        "Run `python -m vae_core data download` (or set VAE_DATA_DIR to a folder holding them). "
        "The shipped models still work: you can sample from them on the Image separation page."
    )
else:
    st.success(f"Datasets found in {data_root()}.")
