"""Home: what the app shows, in a few sentences and one diagram."""
import streamlit as st

from vae_core.core.data import data_root
from vae_core.image.data import dataset_status
from lab_ui.concepts import concept_ui
from lab_ui.shell import leave_folder_mode

leave_folder_mode()  # before anything is drawn: a cold server's deep link (see lab_ui.shell)

st.title("VAE Separation Lab")
concept_ui("home")
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
# Five columns, short labels: the chart is drawn at its natural size, so its text stays readable.
st.graphviz_chart(
    """
digraph {
  rankdir=LR; nodesep=0.25; ranksep=0.4;
  node [shape=box, style="rounded,filled", fillcolor="#f3f4f8", fontname="Helvetica", fontsize=12];
  edge [fontname="Helvetica", fontsize=11];
  x [label="mixture x\\nw·digit + (1-w)·clothing"];
  enc [label="encoder\\nq(z₁, z₂ | x)", fillcolor="#dbe8ff"];
  z1 [label="digit latent\\nz₁ ~ N(μ₁, σ₁²)", shape=ellipse, fillcolor="#fff2cc"];
  z2 [label="clothing latent\\nz₂ ~ N(μ₂, σ₂²)", shape=ellipse, fillcolor="#fff2cc"];
  d1 [label="digit decoder\\np(digit | z₁)", fillcolor="#d9f2d9"];
  d2 [label="clothing decoder\\np(clothing | z₂)", fillcolor="#d9f2d9"];
  r [label="re-mix\\nw·digit + (1-w)·clothing"];
  x -> enc; enc -> z1; enc -> z2; z1 -> d1; z2 -> d2;
  d1 -> r [label="digit"]; d2 -> r [label="clothing"];
}
"""
)
st.latex(r"\text{loss} = \text{recon}(\text{digit}) + \text{recon}(\text{clothing}) + \text{recon}(x)"
         r" + \beta\,\big[\mathrm{KL}(q(z_1|x)\,\|\,\mathcal{N}(0, I)) + \mathrm{KL}(q(z_2|x)\,\|\,\mathcal{N}(0, I))\big]")
st.markdown(
    "In the sidebar: **Image separation** un-mixes test images with a shipped model; **Audio separation** does the "
    "same for sound, pulling the singing voice out of MIR-1K songs (or your own recording) with a convolutional VAE "
    "on spectrograms; **Music** samples new classical music from a VAE's prior and scores it against real clips by "
    "Fréchet distance; **Effects map** embeds audio run through reverb, distortion, filters and more, maps it beside "
    "the raw spectrograms, and shows the loss-scale trap behind \"every input decodes to the average\"; "
    "**Latent explorer** moves each latent dimension and shows (or plays) what the decoders draw; "
    "**β lab** compares runs that differ in β and latent size (and shows posterior collapse); **Train** trains your "
    "own model in about a minute and watches it learn; **Lessons** walks a class through all of it, step by step."
)

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
