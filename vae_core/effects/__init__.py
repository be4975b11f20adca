"""The effects-map task: a spectrogram β-VAE that embeds effect-processed audio."""
