"""The Lessons page's content: short guided steps through the course material. Each step is a sentence to read, a
question for the class, and a link that opens the right page in the right state (the pages keep their state in
the URL, so a link's query is the state)."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Step:
    text: str
    question: str
    page: str  # the page's file under pages/
    label: str  # the link's words
    query: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Lesson:
    title: str
    steps: tuple[Step, ...]


LESSONS: tuple[Lesson, ...] = (
    Lesson("A VAE with two latents", (
        Step("A digit and a clothing item are averaged into one image. One encoder gives each source its own "
             "latent, and each decoder draws its source from its own latent alone.",
             "Before you look: which will come back better, the digit or the clothing item? Why?",
             "image-separation", "Mix a 3 with a T-shirt",
             {"digit_mode": "class", "digit_class": "3", "clothing_mode": "class", "clothing_class": "0",
              "weight": "0.5", "view": "One mixture"}),
        Step("Now switch off everything that is not the VAE: no refinement, no mixture consistency. This is what "
             "the two decoders draw from the encoder's guess alone.",
             "Which details are missing from the decoders' own drawings, and where do they come back from when "
             "consistency is on?",
             "image-separation", "Show the decoders' raw drawings",
             {"digit_mode": "class", "digit_class": "3", "clothing_mode": "class", "clothing_class": "0",
              "consistency": "none", "refine": "0"}),
        Step("Make the digit faint: a mixing weight of 0.2 gives it a fifth of the mixture.",
             "How far does each PSNR fall? Why is the faint source the harder one to take out?",
             "image-separation", "Mix with w = 0.2",
             {"digit_mode": "class", "digit_class": "3", "clothing_mode": "class", "clothing_class": "0",
              "weight": "0.2"}),
    )),
    Lesson("Reading the latent plane", (
        Step("This model has two latent numbers per source. The left picture is what the digit decoder draws at "
             "each point of its plane; the dots on the right are test digits, placed where the encoder puts them. "
             "Drag the ring slowly from the 0s to the 6s and watch the large picture.",
             "Where are the 1s? What does the decoder draw between the 0s and the 6s?",
             "latent-explorer", "Open the digit plane", {"checkpoint": "image-mlp-z2", "lx_tab": "Latent plane"}),
        Step("The clothing decoder has its own plane, learnt from the same mixtures.",
             "Which kinds of clothing sit next to each other? Would you have grouped them that way?",
             "latent-explorer", "Open the clothing plane",
             {"checkpoint": "image-mlp-z2", "lx_tab": "Latent plane", "lx_plane_source": "1"}),
        Step("Sampling z ~ N(0, I) and decoding is generation. Compare the 2-D model's samples with those of the "
             "best separator (64 dimensions) under **Generate from the prior** at the bottom: the link opens it on "
             "the separator's; switch to the 2-D model's.",
             "Why does the model that separates better draw worse samples?",
             "image-separation", "Sample from both priors", {"prior_open": "true", "prior_model": "chosen"}),
    )),
    Lesson("β and posterior collapse", (
        Step("Each line is a run that differs only in β. Watch the KL panel as β grows.",
             "At which β does the KL reach zero? What do that run's reconstructions look like, and why?",
             "beta-lab", "Open the β lab"),
    )),
    Lesson("The loss-scale trap", (
        Step("Two models with β = 1 that differ only in how the reconstruction error is averaged: summed over the "
             "pixels of an example (the ELBO) or averaged over them (a course report).",
             "Averaging divides the reconstruction term by the number of pixels. What is the effective β then, "
             "and what does the decoder do with its latent?",
             "effects-map", "Open the loss-scale trap", {"fx_tab": "The loss-scale trap"}),
    )),
    Lesson("Hearing separation", (
        Step("The same idea on sound: the VAE's two decoders draw the voice's and the accompaniment's spectrograms, "
             "which become masks on the mixture. Listen to the mixture, then to the separated voice.",
             "What leaks into the separated voice? Is it more the drums or the guitar?",
             "audio-separation", "Listen at 0 dB", {"audio_snr": "0"}),
        Step("Make the music 5 dB louder than the voice.",
             "Which scores fall most: SIR (leakage) or SAR (artifacts)? Why?",
             "audio-separation", "Listen at −5 dB", {"audio_snr": "-5"}),
    )),
    Lesson("Generating music", (
        Step("Draw codes from the prior and decode them into classical music, first from the prior fitted to "
             "real codes, then from N(0, I), the prior the VAE was trained towards.",
             "Which sounds more like music? What does the Fréchet distance in the Course report say?",
             "music", "Generate from N(0, I)", {"music_prior": "standard", "music_tab": "Generate"}),
    )),
    Lesson("The effects map", (
        Step("Two seconds of singing or music through reverb, distortion, a low-pass filter or nothing. On the left "
             "the raw spectrograms, on the right the conditional VAE's latent means.",
             "Which effects overlap on the left but separate on the right? Why can the VAE tell them apart?",
             "effects-map", "Open the map",
             {"fx_effects": "clean,reverb,distortion,lowpass", "fx_tab": "Map"}),
    )),
    Lesson("Train your own, and change β mid-run", (
        Step("Start the quick preset, pause it after the first epoch, set β to 10, apply it, and step one epoch.",
             "What happens to the KL curve at the dotted line? And to the separations in the live picture?",
             "train", "Open the Train page", {"train_preset": "quick"}),
    )),
)
