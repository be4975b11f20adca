"""The music task: a β-VAE that generates classical music (course design and a spectrogram default)."""
