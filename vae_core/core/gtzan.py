"""Classical-music clips (GTZAN "classical"): find them, split them by clip, read them at a chosen rate.

Two folders are read under the data root, the first one found wins:

- ``gtzan-classical/``: a user's own copy of the real GTZAN "classical" genre (30 s clips at 22,050 Hz), any
  audio files directly inside it or in ``classical/`` or ``genres_original/classical/`` (``.au``, ``.wav``,
  ``.flac``). The project cannot download GTZAN with a checksum, so it never downloads it.
- ``gtzan-classical-derived/``: the stand-in beside the project (``manifest.csv`` + ``clips/*.flac``: 90
  clips of 15 s, 22,050 Hz mono, decoded from lossy excerpts; read its PROVENANCE.md).

Waveforms are float32 ``(samples,)``, mono.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from vae_core.core.audio_io import resample
from vae_core.core.data import data_root
from vae_core.core.errors import DataCorruptError, DataMissingError

DERIVED_DIR = "gtzan-classical-derived"
USER_DIR = "gtzan-classical"
NATIVE_RATE = 22050
TEST_FRACTION = 0.2
SPLIT_SEED = 0  # the split is part of the dataset's definition: every run and checkpoint uses the same one
_AUDIO_SUFFIXES = (".au", ".wav", ".flac")


@dataclass(frozen=True)
class MusicClip:
    clip_id: str  # e.g. "classical.00042"
    path: Path
    md5: str = ""  # from the manifest ("" for a user's own folder)


def find_clips(root: Path | None = None) -> list[MusicClip]:
    """Every clip of the first music folder found under the data root (see the module docstring), by id."""
    base = Path(root) if root else data_root()
    user = base / USER_DIR
    for folder in (user, user / "classical", user / "genres_original" / "classical"):
        paths = sorted(p for p in folder.glob("*") if p.suffix.lower() in _AUDIO_SUFFIXES) if folder.is_dir() else []
        if paths:
            return [MusicClip(p.stem, p) for p in paths]
    derived = base / DERIVED_DIR
    manifest = derived / "manifest.csv"
    if manifest.is_file():
        try:
            with open(manifest, newline="") as f:
                rows = list(csv.DictReader(f))
            return sorted((MusicClip(r["gtzan_id"], derived / r["file"], r.get("flac_md5", "")) for r in rows),
                          key=lambda c: c.clip_id)
        except (KeyError, csv.Error, UnicodeDecodeError) as exc:
            raise DataCorruptError(f"{manifest} cannot be read ({exc}); restore it from the project's data.") from None
    raise DataMissingError(
        f"No classical-music clips found: looked for audio files in {user} (your own copy of GTZAN's 'classical' "
        f"genre) and for {manifest} (the project's stand-in). Put either there, or set VAE_DATA_DIR to a folder "
        "that holds one.")


def split_clips(clips: list[MusicClip], test_fraction: float = TEST_FRACTION,
                seed: int = SPLIT_SEED) -> tuple[list[MusicClip], list[MusicClip]]:
    """``(train, test)`` by clip: a seeded shuffle of the sorted ids, the last ``test_fraction`` held out (no clip
    on both sides)."""
    if len(clips) < 2:
        raise DataMissingError(f"The music task needs at least 2 clips (one to train on, one to test); found "
                               f"{len(clips)}.")
    ordered = sorted(clips, key=lambda c: c.clip_id)
    order = np.random.default_rng(seed).permutation(len(ordered))
    n_test = min(len(ordered) - 1, max(1, round(test_fraction * len(ordered))))
    test_ids = set(order[len(ordered) - n_test:].tolist())
    return ([c for i, c in enumerate(ordered) if i not in test_ids],
            [c for i, c in enumerate(ordered) if i in test_ids])


def read_clip(clip: MusicClip, rate: int) -> np.ndarray:
    """One clip as float32 mono ``(samples,)`` at ``rate`` Hz (channels averaged, resampled with soxr)."""
    try:
        audio, native = sf.read(clip.path, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, OSError) as exc:
        raise DataCorruptError(f"{clip.path} cannot be read as audio ({exc}); restore it.") from None
    return resample(audio.mean(axis=1), native, rate)


def clip_checksums(clips: list[MusicClip]) -> dict[str, str]:
    """Clip id -> MD5 from the manifest ("" for a user's folder), for a checkpoint's sidecar."""
    return {c.clip_id: c.md5 for c in clips}
