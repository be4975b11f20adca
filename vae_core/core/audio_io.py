"""Reading users' recordings and writing results: every way a file can be wrong gets one clear sentence.

``read_audio`` accepts whatever libsndfile decodes (WAV, FLAC, OGG/Vorbis, MP3, AIFF, ...), from a path or
bytes, and returns a mono float32 waveform ``(samples,)`` with its sample rate. ``resample`` changes rate with
librosa (soxr); ``change_speed`` plays audio faster or slower (pitch moves with speed). ``wav_bytes`` encodes
audio for playback without the loudness normalisation ``st.audio`` applies to numpy arrays.
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from vae_core.core.errors import ConfigError, LabError

MAX_SECONDS = 600.0  # ten minutes: about a minute of separation on two CPU cores
MIN_RATE, MAX_RATE = 4000, 192000
MAX_CHANNELS = 2
SILENCE = 1e-5  # peak amplitude below which a recording counts as silent (-100 dBFS)


class AudioInputError(LabError):
    """A recording that cannot be separated; the message says why and what to do."""


@dataclass
class Recording:
    audio: np.ndarray  # (samples,) float32 mono
    sample_rate: int
    channels: int  # in the file (stereo is mixed down)
    notes: list[str]  # things done to the file that the user should know (mixed down, resampled)

    @property
    def seconds(self) -> float:
        return len(self.audio) / self.sample_rate


def read_audio(source: str | Path | bytes, name: str = "The file", max_seconds: float = MAX_SECONDS) -> Recording:
    """Decode a recording and check it can be separated; raises :class:`AudioInputError` with one sentence."""
    data = io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else source
    if isinstance(source, (bytes, bytearray)) and len(source) == 0:
        raise AudioInputError(f"{name} is empty (0 bytes); upload a recording.")
    try:
        info = sf.info(data)
    except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
        raise AudioInputError(f"{name} is not audio that can be read (WAV, FLAC, OGG or MP3 expected): "
                              f"{_reason(exc)}.") from None
    if info.channels > MAX_CHANNELS:
        raise AudioInputError(f"{name} has {info.channels} channels; upload a mono or stereo mix "
                              "(a multichannel file has no single mixture to separate).")
    if not MIN_RATE <= info.samplerate <= MAX_RATE:
        raise AudioInputError(f"{name} is sampled at {info.samplerate} Hz; use a rate between "
                              f"{MIN_RATE} and {MAX_RATE} Hz.")
    if info.duration > max_seconds:
        raise AudioInputError(f"{name} is {_minutes(info.duration)} long; the limit is {_minutes(max_seconds)}, "
                              "so cut out the part you want to separate and upload that.")
    if isinstance(data, io.BytesIO):
        data.seek(0)
    try:
        audio, rate = sf.read(data, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise AudioInputError(f"{name} is damaged or truncated and cannot be decoded ({_reason(exc)}); "
                              "export it again.") from None
    if audio.shape[0] == 0:
        raise AudioInputError(f"{name} contains no audio samples; upload a recording at least a quarter of a second long.")
    if not np.isfinite(audio).all():
        raise AudioInputError(f"{name} decodes to invalid samples (NaN or infinity); export it again as "
                              "16-bit PCM WAV or FLAC.")
    notes = []
    if audio.shape[1] == 2:
        notes.append("mixed down from stereo")
    mono = audio.mean(1)
    if np.abs(mono).max() < SILENCE:
        raise AudioInputError(f"{name} is silent (its loudest sample is below -100 dBFS); there is nothing to "
                              "separate.")
    if len(mono) < rate // 4:
        raise AudioInputError(f"{name} is only {len(mono) / rate * 1000:.0f} ms long; upload at least a quarter "
                              "of a second.")
    return Recording(mono.astype(np.float32), int(rate), audio.shape[1], notes)


def _reason(exc: Exception) -> str:
    """libsndfile's explanation as a clause (it may hold several sentences of its own)."""
    text = str(exc).strip().rstrip(".")
    text = text.split(": ", 1)[-1] if text else type(exc).__name__
    return text.replace(". ", "; ")


def _minutes(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} minutes"


def resample(audio: np.ndarray, rate_from: float, rate_to: float) -> np.ndarray:
    """Resample ``(..., samples)`` float32 (librosa with soxr, high quality); a no-op at equal rates."""
    if rate_from == rate_to:
        return np.asarray(audio, dtype=np.float32)
    import librosa  # imported here: it takes a second, and 16 kHz input never needs it

    return librosa.resample(np.asarray(audio, dtype=np.float32), orig_sr=rate_from, target_sr=rate_to,
                            res_type="soxr_hq").astype(np.float32)


MIN_SPEED, MAX_SPEED = 0.5, 2.0  # playback speeds accepted for training and test-time augmentation


def check_speeds(speeds: Any) -> tuple[float, ...]:
    """Playback speeds (training or test time) as a tuple of floats; one clear sentence on anything wrong."""
    try:
        values = tuple(speeds)
    except TypeError:
        values = ()
    if not values or not all(isinstance(v, (int, float, np.number)) and not isinstance(v, bool)
                             and MIN_SPEED <= v <= MAX_SPEED for v in values):
        raise ConfigError(f"speeds must be one or more numbers between {MIN_SPEED:g} and {MAX_SPEED:g} "
                          f"(1 = as recorded), not {speeds!r}.")
    return tuple(float(v) for v in values)


def change_speed(audio: np.ndarray, speed: float, rate: int = 16000) -> np.ndarray:
    """``(..., samples)`` played ``speed`` times faster (fewer samples, higher pitch) at the same rate."""
    # Read as if recorded at rate * speed, resampled to rate.
    return resample(audio, rate * speed, rate)


def wav_bytes(audio: np.ndarray, sample_rate: int) -> bytes:
    """16-bit PCM WAV of ``(samples,)`` or ``(channels, samples)``, clipped to [-1, 1], at its true level."""
    a = np.asarray(audio, dtype=np.float32)
    buf = io.BytesIO()
    sf.write(buf, np.clip(a.T if a.ndim == 2 else a, -1.0, 1.0), sample_rate, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def segments(wave: np.ndarray, length: int, hop: int | None = None) -> np.ndarray:
    """Consecutive segments ``(n, length)`` of ``(samples,)``, ``hop`` apart (default: no overlap); the ragged end
    is dropped."""
    hop = hop or length
    if length < 1 or hop < 1:
        raise ConfigError(f"Segment length and hop must be at least 1 sample, not {length} and {hop}.")
    n = 0 if len(wave) < length else 1 + (len(wave) - length) // hop
    if n == 0:
        return np.zeros((0, length), dtype=np.float32)
    idx = np.arange(length)[None, :] + hop * np.arange(n)[:, None]
    return np.asarray(wave, dtype=np.float32)[idx]
