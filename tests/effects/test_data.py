"""Effect-processed audio: each effect does what it says, the on-the-fly dataset is reproducible and split by file,
bad parameters get one sentence."""
from __future__ import annotations

import numpy as np
import pytest

from vae_core.core.errors import ConfigError, LabError
from vae_core.effects import data as d

RATE = d.RATE


def sine(freq: float, seconds: float = 1.0, amp: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def band_energy(x: np.ndarray, lo: float, hi: float) -> float:
    spec = np.abs(np.fft.rfft(x)) ** 2
    f = np.fft.rfftfreq(len(x), 1 / RATE)
    return float(spec[(f >= lo) & (f < hi)].sum())


def test_lowpass_removes_energy_above_its_cutoff():
    x = sine(300) + sine(5000)
    y = d.apply_effect(x, "lowpass", {"cutoff_hz": 500.0, "resonance": 0.0})
    assert band_energy(y, 4500, 5500) < 1e-3 * band_energy(x, 4500, 5500)  # 30 dB and more below
    assert band_energy(y, 250, 350) > 0.3 * band_energy(x, 250, 350)


def test_delay_adds_a_copy_shifted_by_its_time():
    x = np.zeros(RATE, dtype=np.float32)
    x[1000] = 0.5
    y = d.apply_effect(x, "delay", {"delay_seconds": 0.2, "feedback": 0.35, "mix": 0.5})
    echo = 1000 + int(0.2 * RATE)
    assert abs(int(np.argmax(np.abs(y[1100:]))) + 1100 - echo) <= 2
    assert np.abs(y[echo - 2:echo + 3]).max() > 0.1


def test_distortion_adds_harmonics_of_a_sine():
    x = sine(440)
    y = d.apply_effect(x, "distortion", {"drive_db": 30.0})
    before = band_energy(x, 1250, 1390) / band_energy(x, 400, 480)  # the 3rd harmonic, 1320 Hz
    after = band_energy(y, 1250, 1390) / band_energy(y, 400, 480)
    assert before < 1e-6 and after > 1e-2


def test_clean_is_the_identity_and_the_preroll_is_dropped():
    x = np.random.default_rng(0).standard_normal(2000).astype(np.float32) * 0.1
    assert np.array_equal(d.apply_effect(x, "clean", {}, preroll=500), x[500:])


@pytest.mark.parametrize(("effect", "params", "words"), [
    ("flanger", {}, "Unknown effect 'flanger'"),
    ("reverb", {"room_size": 3.0}, "room_size must be between 0.6 and 1"),
    ("delay", {"feedback": float("nan")}, "feedback must be between"),
    ("bitcrush", {"bits": 4}, "has no parameter bits"),
])
def test_an_effect_with_bad_parameters_gets_one_sentence(effect, params, words):
    with pytest.raises(ConfigError, match=words) as info:
        d.apply_effect(np.zeros(100, np.float32), effect, params)
    assert str(info.value).endswith(".") and "\n" not in str(info.value)


def test_the_dry_files_are_split_by_file_and_the_examples_come_back_for_a_seed():
    train, val, test = (d.dry_sources(None, s) for s in ("train", "val", "test"))
    ids = [{f.file_id for f in s} for s in (train, val, test)]
    assert not (ids[0] & ids[1]) and not (ids[0] & ids[2]) and not (ids[1] & ids[2])
    # A MIR-1K clip gives two files (voice, accompaniment); both stay on one side of the split.
    clip = lambda i: i.split(":")[1]  # noqa: E731
    assert not {clip(i) for i in ids[0]} & {clip(i) for i in ids[2]}
    assert {f.kind for f in test} == {"voice", "music"}
    a = d.make_examples(train, d.EFFECTS, 18, seed=5)
    b = d.make_examples(train, d.EFFECTS, 18, seed=5)
    c = d.make_examples(train, d.EFFECTS, 18, seed=6)
    assert [e.effect for e in a] == list(d.EFFECTS) * 2  # balanced, in turn
    assert all(np.array_equal(x.wave, y.wave) and x.params == y.params for x, y in zip(a, b))
    assert any(not np.array_equal(x.wave, y.wave) for x, y in zip(a, c))
    for e in a:
        assert e.wave.shape == e.dry.shape == (d.SEGMENT,) and np.abs(e.wave).max() <= 1.0
        assert d.rms_dbfs(e.dry) == pytest.approx(d.LEVEL_DBFS, abs=1.0) or np.abs(e.dry).max() > 0.98
        for name, (lo, hi) in d.PARAM_RANGES[e.effect].items():
            assert lo <= e.params[name] <= hi


def test_the_held_out_grid_puts_one_dry_segment_through_every_effect():
    test = d.dry_sources(None, "test", ("voice",))
    grid = d.grid_examples(test, ("clean", "reverb", "lowpass"), seed=2, limit=3)
    assert len(grid) == 9 and [e.effect for e in grid[:3]] == ["clean", "reverb", "lowpass"]
    assert all(np.array_equal(grid[0].dry, e.dry) for e in grid[:3])
    assert np.array_equal(grid[0].wave, grid[0].dry)  # clean


def test_a_silent_or_short_upload_gets_one_sentence():
    with pytest.raises(LabError, match="silent"):
        d.user_segment(np.zeros(5 * 44100, np.float32), 44100)
    with pytest.raises(LabError, match="at least 2.0 s"):
        d.user_segment(np.ones(RATE, np.float32) * 0.1, RATE)
    seg = d.user_segment(sine(220, 4.0, 0.01), RATE)
    assert seg.shape == (d.PREROLL + d.SEGMENT,) and d.rms_dbfs(seg[d.PREROLL:]) == pytest.approx(d.LEVEL_DBFS, abs=0.5)
