"""Effect-processed audio, made on the fly and reproducible from a seed.

Dry audio: the MIR-1K voice and accompaniment channels (:mod:`vae_core.core.mir1k`) and the GTZAN classical
stand-in (:mod:`vae_core.core.gtzan`), all at 16 kHz. Sources are split **by file**: the MIR-1K clips of the
training singers and the GTZAN training clips train (a few of them held out to pick the best epoch), the other
singers' clips and the GTZAN test clips test; no file is on both sides.

An example is a segment of ``SEGMENT`` samples from one dry file, levelled to ``LEVEL_DBFS`` RMS, run through one
effect of Spotify's ``pedalboard`` with parameters drawn in musical ranges (:data:`PARAM_RANGES`); the effect sees
``PREROLL`` samples before the segment, so reverb and delay tails are already running when it starts. Every draw
comes from a ``numpy`` generator: the same seed gives the same examples. Waveforms are float32 ``(samples,)``.

``pedalboard`` (GPLv3) is an optional dependency: without it, making examples raises one sentence on how to
install it, and the rest of the project works.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vae_core.core.audio_io import resample
from vae_core.core.errors import ConfigError, LabError
from vae_core.core import gtzan, mir1k

RATE = 16000
SEGMENT = 32512  # samples (2.03 s): 128 STFT frames at hop 256 (centre padding adds the 128th)
PREROLL = 8000  # samples of the file before the segment that the effect also processes (0.5 s)
LEVEL_DBFS = -20.0  # RMS level of every dry segment before its effect
SILENT_DBFS = -45.0  # a segment this quiet (RMS) is no example: effects on silence all sound alike
SOURCE_KINDS = ("voice", "music")  # voice: MIR-1K singing; music: MIR-1K accompaniment and GTZAN classical
VAL_EVERY = 10  # every 10th training file (by id) is held out to pick the best epoch

# Each effect's parameters and the range a random draw takes them from (uniform; the musical range of the effect).
PARAM_RANGES: dict[str, dict[str, tuple[float, float]]] = {
    "clean": {},
    "reverb": {"room_size": (0.6, 1.0), "damping": (0.2, 0.7), "wet_level": (0.35, 0.6), "dry_level": (0.4, 0.7)},
    "distortion": {"drive_db": (18.0, 36.0)},
    "chorus": {"rate_hz": (0.8, 3.0), "depth": (0.4, 0.9), "centre_delay_ms": (6.0, 14.0), "mix": (0.5, 0.8)},
    "delay": {"delay_seconds": (0.12, 0.35), "feedback": (0.35, 0.6), "mix": (0.45, 0.7)},
    "phaser": {"rate_hz": (0.4, 2.0), "depth": (0.6, 1.0), "feedback": (0.4, 0.8), "mix": (0.6, 0.9)},
    "compressor": {"threshold_db": (-40.0, -28.0), "ratio": (8.0, 20.0), "attack_ms": (0.5, 5.0),
                   "release_ms": (40.0, 150.0)},
    "bitcrush": {"bit_depth": (3.0, 6.0)},
    "lowpass": {"cutoff_hz": (350.0, 1200.0), "resonance": (0.0, 0.5)},
}
EFFECTS = tuple(PARAM_RANGES)


def pedalboard_module() -> Any:
    """The ``pedalboard`` package, or one sentence on how to install it."""
    try:
        import pedalboard  # optional (GPLv3): only the effects task needs it
    except ImportError:
        raise LabError("The effects map needs Spotify's pedalboard: pip install pedalboard (or pip install "
                       ".[effects]).") from None
    return pedalboard


def check_effect(effect: str, params: dict[str, float]) -> dict[str, float]:
    """``params`` of ``effect`` checked against :data:`PARAM_RANGES`; one sentence on anything wrong."""
    if effect not in PARAM_RANGES:
        raise ConfigError(f"Unknown effect {effect!r}; choose one of {', '.join(EFFECTS)}.")
    ranges = PARAM_RANGES[effect]
    unknown = set(params) - set(ranges)
    if unknown:
        raise ConfigError(f"{effect} has no parameter {', '.join(sorted(unknown))}; its parameters are "
                          f"{', '.join(ranges) or 'none'}.")
    out = {}
    for name, (lo, hi) in ranges.items():
        value = params.get(name, (lo + hi) / 2)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                or not lo <= value <= hi:
            raise ConfigError(f"{effect} {name} must be between {lo:g} and {hi:g}, not {value!r}.")
        out[name] = float(value)
    return out


def draw_params(effect: str, rng: np.random.Generator) -> dict[str, float]:
    """Random parameters of ``effect`` in its musical ranges."""
    check_effect(effect, {})
    return {name: float(rng.uniform(lo, hi)) for name, (lo, hi) in PARAM_RANGES[effect].items()}


def build_effect(effect: str, params: dict[str, float]) -> Any:
    """The pedalboard plugin chain of ``effect`` with ``params`` (checked)."""
    p = check_effect(effect, params)
    pb = pedalboard_module()
    if effect == "clean":
        return pb.Pedalboard([])
    if effect == "reverb":
        return pb.Pedalboard([pb.Reverb(room_size=p["room_size"], damping=p["damping"], wet_level=p["wet_level"],
                                        dry_level=p["dry_level"])])
    if effect == "distortion":
        return pb.Pedalboard([pb.Distortion(drive_db=p["drive_db"]), pb.Gain(gain_db=-p["drive_db"] / 2)])
    if effect == "chorus":
        return pb.Pedalboard([pb.Chorus(rate_hz=p["rate_hz"], depth=p["depth"],
                                        centre_delay_ms=p["centre_delay_ms"], mix=p["mix"])])
    if effect == "delay":
        return pb.Pedalboard([pb.Delay(delay_seconds=p["delay_seconds"], feedback=p["feedback"], mix=p["mix"])])
    if effect == "phaser":
        return pb.Pedalboard([pb.Phaser(rate_hz=p["rate_hz"], depth=p["depth"], feedback=p["feedback"],
                                        mix=p["mix"])])
    if effect == "compressor":
        return pb.Pedalboard([pb.Compressor(threshold_db=p["threshold_db"], ratio=p["ratio"],
                                            attack_ms=p["attack_ms"], release_ms=p["release_ms"])])
    if effect == "bitcrush":
        return pb.Pedalboard([pb.Bitcrush(bit_depth=p["bit_depth"])])
    return pb.Pedalboard([pb.LadderFilter(mode=pb.LadderFilter.Mode.LPF24, cutoff_hz=p["cutoff_hz"],
                                          resonance=p["resonance"])])


def apply_effect(wave: np.ndarray, effect: str, params: dict[str, float], rate: int = RATE,
                 preroll: int = 0) -> np.ndarray:
    """``wave`` ``(samples,)`` through ``effect``; the first ``preroll`` samples are processed and then dropped.
    The result is float32, clipped to [-1, 1] as a file would be."""
    chain = build_effect(effect, params)
    out = chain(np.asarray(wave, dtype=np.float32)[None, :], sample_rate=float(rate), reset=True)[0]
    return np.clip(out[preroll:], -1.0, 1.0).astype(np.float32)


def rms_dbfs(wave: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(np.square(wave, dtype=np.float64)) + 1e-12))


def level(wave: np.ndarray, dbfs: float = LEVEL_DBFS) -> np.ndarray:
    """``wave`` scaled to an RMS of ``dbfs`` (its peak kept below full scale)."""
    gain = 10 ** ((dbfs - rms_dbfs(wave)) / 20)
    peak = float(np.abs(wave).max()) * gain
    if peak > 0.99:
        gain *= 0.99 / peak
    return (wave * gain).astype(np.float32)


# ----------------------------------------------------------------------------------------------- dry sources


@dataclass(frozen=True)
class DrySource:
    """One dry file: ``file_id`` (e.g. ``mir1k:amy_3_01:voice``), its kind (voice or music) and its waveform."""

    file_id: str
    kind: str
    wave: np.ndarray = field(repr=False, compare=False)


def _mir1k_ids(root: Path | None, split: str) -> list[tuple[str, Any]]:
    return [(c.clip_id, c) for c in mir1k.split_clips(mir1k.find_clips(root), split)]


@functools.lru_cache(maxsize=4)
def _load(root: str | None, split: str) -> tuple[DrySource, ...]:
    base = Path(root) if root else None
    out = []
    for clip_id, clip in _mir1k_ids(base, split):
        voice, accompaniment = mir1k.read_clip(clip)
        out += [DrySource(f"mir1k:{clip_id}:voice", "voice", voice),
                DrySource(f"mir1k:{clip_id}:accompaniment", "music", accompaniment)]
    train, test = gtzan.split_clips(gtzan.find_clips(base))
    for clip in train if split == "train" else test:
        out.append(DrySource(f"gtzan:{clip.clip_id}", "music", gtzan.read_clip(clip, RATE)))
    return tuple(sorted(out, key=lambda s: s.file_id))


def dry_sources(root: Path | None, split: str, kinds: tuple[str, ...] = SOURCE_KINDS) -> list[DrySource]:
    """The dry files of ``split``: ``train`` (without the held-out ones), ``val`` (every ``VAL_EVERY``-th training
    file by id) or ``test``; only those of ``kinds``."""
    if split not in ("train", "val", "test"):
        raise ValueError(f"split must be train, val or test, not {split!r}")
    bad = set(kinds) - set(SOURCE_KINDS)
    if bad or not kinds:
        raise ConfigError(f"Source kinds must be some of {', '.join(SOURCE_KINDS)}, not {', '.join(kinds) or 'none'}.")
    files = _load(str(root) if root else None, "test" if split == "test" else "train")
    if split != "test":
        files = tuple(f for i, f in enumerate(files) if (i % VAL_EVERY == VAL_EVERY - 1) == (split == "val"))
    return [f for f in files if f.kind in kinds and len(f.wave) >= SEGMENT + PREROLL]


def dry_segment(source: DrySource, rng: np.random.Generator, tries: int = 8) -> tuple[np.ndarray, int] | None:
    """A segment with its preroll ``(PREROLL + SEGMENT,)`` from ``source`` at a random offset (the loudest of
    ``tries`` draws), levelled; None if every draw was silent."""
    span = len(source.wave) - SEGMENT - PREROLL
    starts = rng.integers(0, span + 1, size=tries)
    louds = [rms_dbfs(source.wave[s + PREROLL:s + PREROLL + SEGMENT]) for s in starts]
    best = int(np.argmax(louds))
    if louds[best] < SILENT_DBFS:
        return None
    start = int(starts[best])
    piece = source.wave[start:start + PREROLL + SEGMENT]
    gain = 10 ** ((LEVEL_DBFS - louds[best]) / 20)  # the segment's level sets the gain, the preroll follows
    return np.clip(piece * gain, -1.0, 1.0).astype(np.float32), start + PREROLL


@dataclass
class Example:
    """One effect-processed segment: ``wave`` (processed) and ``dry`` ``(SEGMENT,)``, what made it."""

    wave: np.ndarray
    dry: np.ndarray
    effect: str
    params: dict[str, float]
    file_id: str
    kind: str
    start: int  # sample offset of the segment in its file


def make_example(source: DrySource, effect: str, rng: np.random.Generator) -> Example | None:
    """``source`` at a random offset through ``effect`` with random parameters (None if the file is silent)."""
    cut = dry_segment(source, rng)
    if cut is None:
        return None
    piece, start = cut
    params = draw_params(effect, rng)
    return Example(apply_effect(piece, effect, params, preroll=PREROLL), piece[PREROLL:], effect, params,
                   source.file_id, source.kind, start)


def make_examples(sources: list[DrySource], effects: tuple[str, ...], n: int, seed: int) -> list[Example]:
    """``n`` examples, effects in turn (balanced classes), each from a random file of ``sources``: the same
    arguments give the same examples."""
    if not sources:
        raise LabError("No dry audio file is long enough for one example; check the data folder.")
    rng = np.random.default_rng(seed)
    out: list[Example] = []
    misses = 0
    while len(out) < n:
        example = make_example(sources[int(rng.integers(len(sources)))], effects[len(out) % len(effects)], rng)
        if example is None:
            misses += 1
            if misses > 20 * n + 100:
                raise LabError("The dry audio is almost all silent; check the data folder.")
            continue
        out.append(example)
    return out


def grid_examples(sources: list[DrySource], effects: tuple[str, ...], seed: int,
                  limit: int | None = None) -> list[Example]:
    """Held-out examples: one segment per file (its offset drawn from ``seed``), through every effect (the same
    dry segment each time, so only the effect tells them apart); the first ``limit`` files."""
    out = []
    for i, source in enumerate(sources[:limit]):
        rng = np.random.default_rng([seed, i])
        cut = dry_segment(source, rng)
        if cut is None:
            continue
        piece, start = cut
        for effect in effects:
            params = draw_params(effect, rng)
            out.append(Example(apply_effect(piece, effect, params, preroll=PREROLL), piece[PREROLL:], effect,
                               params, source.file_id, source.kind, start))
    return out


def user_segment(wave: np.ndarray, rate: int) -> np.ndarray:
    """The loudest ``SEGMENT`` samples (with ``PREROLL`` before them where there is room) of a user's mono
    recording, at 16 kHz and levelled: what :func:`apply_effect` takes with ``preroll=PREROLL``."""
    x = resample(np.asarray(wave, dtype=np.float32), rate, RATE)
    if len(x) < SEGMENT:
        raise LabError(f"The recording is {len(x) / RATE:.1f} s long; the map needs at least "
                       f"{SEGMENT / RATE:.1f} s.")
    hop = RATE // 4
    starts = list(range(0, len(x) - SEGMENT + 1, hop))
    louds = [rms_dbfs(x[s:s + SEGMENT]) for s in starts]
    best = int(np.argmax(louds))
    if louds[best] < SILENT_DBFS:
        raise LabError(f"The recording is silent (its loudest {SEGMENT / RATE:.0f} s are at {louds[best]:.0f} dBFS); "
                       "upload one with sound in it.")
    s = starts[best]
    pre = x[max(0, s - PREROLL):s]
    piece = np.concatenate([np.zeros(PREROLL - len(pre), np.float32), pre, x[s:s + SEGMENT]])
    gain = 10 ** ((LEVEL_DBFS - louds[best]) / 20)
    return np.clip(piece * gain, -1.0, 1.0).astype(np.float32)


def data_checksums(root: Path | None) -> dict[str, Any]:
    """What dry data a run used (file id lists per split), for the sidecar."""
    return {split: [f.file_id for f in dry_sources(root, split)] for split in ("train", "val", "test")}
