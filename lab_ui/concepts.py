"""Concept panels: on every page, next to what it explains and above the fold, the idea the page shows in a few
sentences a student can read aloud, and its equation."""
from __future__ import annotations

from dataclasses import dataclass

import streamlit as st


@dataclass(frozen=True)
class Concept:
    title: str
    text: str
    equation: str  # LaTeX


CONCEPTS: dict[str, Concept] = {
    "home": Concept(
        "The ELBO",
        "A VAE is trained to maximise the evidence lower bound: rebuild the input from a code z drawn from the "
        "encoder's Gaussian q(z | x), and pay for how far that Gaussian strays from the prior N(0, I). That price is "
        "a KL divergence, measured in **nats** (information in natural-log units). β weights it (a β-VAE).",
        r"\mathrm{ELBO}(x) = \mathbb{E}_{q(z\mid x)}\big[\log p(x\mid z)\big]"
        r" - \beta\,\mathrm{KL}\big(q(z\mid x)\,\|\,\mathcal{N}(0, I)\big)"),
    "image-separation": Concept(
        "Separation and mixture consistency",
        "The encoder maps the mixture x to two latents; decoder 1 draws the digit from z₁ alone, decoder 2 the "
        "clothing from z₂. Their drawings rarely add up to x, so the page first nudges both latents to explain x "
        "under the prior (refinement), then shares each pixel of x out in the ratio the decoders drew: the outputs "
        "re-mix to x exactly (**mixture consistency**). **PSNR** = 10·log₁₀(1 / mean squared error) in dB; higher "
        "is better, and the mixture itself scores 13.6 dB.",
        r"\hat d = \frac{m\,x}{w},\quad \hat c = \frac{(1-m)\,x}{1-w},\quad"
        r" m = \frac{w\,D_1(z_1)}{w\,D_1(z_1) + (1-w)\,D_2(z_2)}"),
    "audio-separation": Concept(
        "Masks and NSDR",
        "The VAE works on spectrogram patches: each decoder draws one source's magnitudes, and their ratio becomes a "
        "soft mask that splits every time–frequency bin of the mixture, so voice and accompaniment always add back "
        "to it. BSS Eval scores an estimate by **SDR** (overall), **SIR** (how little of the other source leaks in) "
        "and **SAR** (how few artifacts); **NSDR** is the SDR gained over the mixture itself, all in dB.",
        r"\hat V = M \odot X,\quad M = \frac{|\hat V|^p}{|\hat V|^p + |\hat A|^p},\quad"
        r" \mathrm{NSDR} = \mathrm{SDR}(\hat v, v) - \mathrm{SDR}(x, v)"),
    "music": Concept(
        "Generating from the prior, and the Fréchet distance",
        "The KL term keeps every clip's code near N(0, I), so drawing z ~ N(0, I) and decoding makes new music. If "
        "the KL wins (large β, or a reconstruction term averaged instead of summed), the encoder stops using z and "
        "every clip decodes to the same sound (*posterior collapse*). The **Fréchet distance** compares Gaussians "
        "fitted to embeddings of real (r) and generated (g) clips: 0 means alike.",
        r"\mathrm{FD} = \lVert \mu_r - \mu_g \rVert^2 + \operatorname{Tr}\big(\Sigma_r + \Sigma_g"
        r" - 2\,(\Sigma_r \Sigma_g)^{1/2}\big)"),
    "effects-map": Concept(
        "A conditional VAE of audio effects",
        "Each point is two seconds of singing or music run through one effect. The encoder sees the processed and "
        "the dry log-mel spectrograms; the decoder must rebuild the processed one from z and the dry one, so z has "
        "only to say **what the effect did**. Its posterior mean places the point on the right-hand map; the "
        "left-hand map places the raw spectrograms. The loss sums over the P bins of an example:",
        r"\mathcal{L} = \sum_{i=1}^{P} \frac{(x_i - \hat x_i)^2}{2\sigma^2}"
        r" + \beta \sum_j \mathrm{KL}\big(q(z_j\mid x)\,\|\,\mathcal N(0,1)\big)"),
    "latent-explorer": Concept(
        "KL per dimension and active units",
        "Each latent dimension j costs KL_j nats: how far the encoder's Gaussian for it moves from N(0, 1), averaged "
        "over inputs. A dimension is **active** (●) when its posterior mean varies across inputs (Burda et al. "
        "2016); an inactive one (○) is ignored by its decoder, so its slider changes nothing. The 2-D model's "
        "**latent plane** shows all its decoder can draw.",
        r"\mathrm{KL}_j = \tfrac12\,\mathbb{E}_x\big[\mu_j^2 + \sigma_j^2 - \log\sigma_j^2 - 1\big],\quad"
        r" \text{active if } \operatorname{Cov}_x\big(\mathbb{E}[z_j\mid x]\big) > 0.01"),
    "beta-lab": Concept(
        "β and posterior collapse",
        "β trades reconstruction against the KL. At β = 0 the latents are free: sharp reconstructions, but samples "
        "from the prior mean nothing. As β grows the KL falls and units switch off; past a point the KL reaches "
        "zero, the encoder's output no longer depends on x, and every input decodes to the same average image: "
        "**posterior collapse**.",
        r"\mathcal{L}_\beta = \mathbb{E}_{q}\big[-\log p(x\mid z)\big] + \beta\,\mathrm{KL}\big(q(z\mid x)\,\|\,"
        r"\mathcal N(0, I)\big),\quad \text{collapse: } q(z\mid x) = \mathcal N(0, I)"),
    "train": Concept(
        "What training does",
        "Each step draws a batch of fresh mixtures, computes the loss terms and moves every weight a little against "
        "their gradient (Adam). The curves show each term in nats per example: thin for single batches, solid per "
        "epoch, dashed on held-out validation data. When the dashed line stops falling while the solid one goes "
        "on, the model is learning its training set by heart.",
        r"\theta \leftarrow \theta - \eta\, \nabla_\theta\, \mathcal{L}_\beta(\theta;\ \text{batch})"),
}


def concept_ui(page: str) -> None:
    """The page's concept panel: its idea, then its equation (the whole width: equations are long), in one box."""
    concept = CONCEPTS[page]
    with st.container(border=True, key=f"concept_{page}", gap="small"):
        st.markdown(f"**{concept.title}.** {concept.text}")
        st.latex(concept.equation)
