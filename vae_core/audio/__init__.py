"""Audio: spectrogram front end and source-separation metrics (MIR-1K voice / accompaniment)."""
