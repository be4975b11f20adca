"""The MIR-1K dataset: find its clips in either layout, split them, read them, check or download them.

Two layouts are read under ``<data root>/mir1k/``:

- the project's copy: ``manifest.csv`` + ``clips/*.flac`` (a ``source_split_huang2014`` column gives the split);
- the original distribution ``MIR-1K.zip`` unpacked: ``MIR-1K/Wavfile/*.wav`` (the split follows the standard
  protocol: singers abjones and amy train, everyone else test).

Every clip is 16 kHz stereo, left = accompaniment, right = singing voice. Waveforms are float32 ``(samples,)``.
"""
from __future__ import annotations

import csv
import shutil
import tempfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from vae_core.core.data import ProgressFn, data_root, download_file, md5sum
from vae_core.core.errors import DataCorruptError, DataMissingError

SAMPLE_RATE = 16000
TRAIN_SINGERS = ("abjones", "amy")  # Hsu & Jang 2010; Huang et al. 2014
ORIGINAL_URL = "http://mirlab.org/dataset/public/MIR-1K.zip"
ORIGINAL_MD5 = "3a4e5acd740110ae481a836460dabb6a"  # per the mirdata project


@dataclass(frozen=True)
class Clip:
    clip_id: str  # e.g. "amy_3_01"
    singer: str
    path: Path
    split: str  # "train", "dev" or "test"


def _singer(clip_id: str) -> str:
    return clip_id.split("_", 1)[0]


def find_clips(root: Path | None = None) -> list[Clip]:
    """All MIR-1K clips under ``<root>/mir1k`` (the project's FLAC copy first, else the original WAVs)."""
    folder = (Path(root) if root else data_root()) / "mir1k"
    manifest = folder / "manifest.csv"
    if manifest.is_file():
        try:
            with open(manifest, newline="") as f:
                rows = list(csv.DictReader(f))
            return [Clip(r["clip_id"], r["singer"], folder / r["file"], r["source_split_huang2014"]) for r in rows]
        except (KeyError, csv.Error, UnicodeDecodeError) as exc:
            raise DataCorruptError(f"{manifest} cannot be read ({exc}); restore it or use the original MIR-1K.zip.") from None
    for wavs in (folder / "MIR-1K" / "Wavfile", folder / "Wavfile"):
        paths = sorted(wavs.glob("*.wav"))
        if paths:
            return [Clip(p.stem, _singer(p.stem), p, "train" if _singer(p.stem) in TRAIN_SINGERS else "test")
                    for p in paths]
    raise DataMissingError(
        f"MIR-1K not found in {folder} (looked for manifest.csv with clips/, or MIR-1K/Wavfile/*.wav). Download "
        f"{ORIGINAL_URL} (md5 {ORIGINAL_MD5}) and unzip it into {folder}, or set VAE_DATA_DIR to a folder that "
        "holds a 'mir1k/' copy."
    )


def split_clips(clips: list[Clip], split: str) -> list[Clip]:
    """``train`` (the training singers, with the dev clips), or ``test``."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', not {split!r}")
    wanted = ("train", "dev") if split == "train" else ("test",)
    return [c for c in clips if c.split in wanted]


def read_clip(clip: Clip) -> tuple[np.ndarray, np.ndarray]:
    """Voice and accompaniment of one clip, float32 ``(samples,)`` each, at 16 kHz."""
    try:
        audio, rate = sf.read(clip.path, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, OSError) as exc:
        raise DataCorruptError(f"{clip.path} cannot be read as audio ({exc}); restore it from the original.") from None
    if audio.shape[1] != 2 or rate != SAMPLE_RATE:
        raise DataCorruptError(
            f"{clip.path} is {audio.shape[1]}-channel at {rate} Hz; MIR-1K clips are stereo at {SAMPLE_RATE} Hz."
        )
    return audio[:, 1].copy(), audio[:, 0].copy()


def manifest_checksums(root: Path | None = None) -> dict[str, str]:
    """Clip id -> MD5 of the audio, as listed in the project's manifest (empty for the original layout, whose
    archive checksum is :data:`ORIGINAL_MD5`)."""
    manifest = (Path(root) if root else data_root()) / "mir1k" / "manifest.csv"
    if not manifest.is_file():
        return {"archive_md5": ORIGINAL_MD5}
    with open(manifest, newline="") as f:
        return {r["clip_id"]: r.get("flac_md5", "") for r in csv.DictReader(f)}


def ensure_mir1k(root: Path | None = None, download: bool = False, url: str = ORIGINAL_URL,
                 md5: str = ORIGINAL_MD5, progress: ProgressFn | None = None) -> list[Clip]:
    """The clips, downloading and unpacking ``MIR-1K.zip`` first when no copy is found and ``download`` is set.

    The archive is checked against its MD5 before anything is unpacked; only ``Wavfile/*.wav`` is extracted,
    into a temporary folder that is renamed into place, so an interrupted unpack leaves nothing half-done.
    """
    try:
        return find_clips(root)
    except DataMissingError:
        if not download:
            raise
    folder = (Path(root) if root else data_root()) / "mir1k"
    archive = folder / "MIR-1K.zip"
    if archive.is_file() and md5sum(archive) != md5:
        raise DataCorruptError(f"{archive} does not match its MD5 checksum ({md5}); delete it and download again.")
    if not archive.is_file():
        download_file([url], archive, md5, progress=progress)
    target = folder / "MIR-1K" / "Wavfile"
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".Wavfile.", dir=target.parent))
    try:
        with zipfile.ZipFile(archive) as z:
            names = [n for n in z.namelist() if n.lower().endswith(".wav") and "/wavfile/" in f"/{n.lower()}"]
            if not names:
                raise DataCorruptError(f"{archive} holds no Wavfile/*.wav; delete it and download again.")
            for n in names:
                with z.open(n) as src, open(tmp / Path(n).name, "wb") as dst:
                    shutil.copyfileobj(src, dst)
        shutil.rmtree(target, ignore_errors=True)
        tmp.rename(target)
    except (zipfile.BadZipFile, zlib.error, EOFError):
        raise DataCorruptError(f"{archive} is not a valid zip file; delete it and download again.") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return find_clips(root)
