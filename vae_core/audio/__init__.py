"""Voice separation: the singing voice and the accompaniment of MIR-1K songs, from spectrogram patches."""
