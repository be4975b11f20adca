"""Audio groundwork: STFT front end (round trip, masks) and BSS metrics against hand cases and fast_bss_eval."""
from __future__ import annotations

import csv
import os
from pathlib import Path

import fast_bss_eval
import numpy as np
import pytest
import soundfile as sf
import torch

from vae_core.core.metrics import ClipScore, bss_eval, global_scores, score_clip, si_sdr
from vae_core.core.spectral import STFTConfig, apply_masks, griffin_lim, istft, magnitude_db, soft_masks, stft

MIR1K = Path(os.environ["VAE_DATA_DIR"]) / "mir1k"


@pytest.fixture(scope="module")
def clip() -> tuple[np.ndarray, int]:
    """A real MIR-1K test clip: (2, samples) = [accompaniment (left), voice (right)] at 16 kHz."""
    with open(MIR1K / "manifest.csv") as f:
        row = next(r for r in csv.DictReader(f) if r["source_split_huang2014"] == "test")
    audio, rate = sf.read(MIR1K / row["file"], dtype="float64")
    assert audio.shape[1] == 2 and rate == 16000
    return audio.T, rate


def test_stft_istft_round_trip_on_real_audio(clip):
    audio, _ = clip
    mixture = torch.from_numpy(audio.sum(0)).float()
    spec = stft(mixture)
    assert spec.shape[0] == STFTConfig().freq_bins == 513
    back = istft(spec, len(mixture))
    assert torch.max(torch.abs(back - mixture)) < 1e-4 * torch.max(torch.abs(mixture))


def test_magnitude_db_is_normalised():
    spec = stft(torch.randn(2, 16000))
    m = magnitude_db(spec)
    assert m.shape == spec.shape and m.min() >= 0 and m.max() <= 1
    assert torch.allclose(m.flatten(1).amax(1), torch.ones(2))  # each example's loudest bin is 1


def test_masks_sum_to_one_and_sources_sum_to_the_mixture(clip):
    g = torch.Generator().manual_seed(0)
    mags = torch.rand((3, 2, 513, 40), generator=g)
    mags[0, :, :5] = 0.0  # silent bins in every source
    masks = soft_masks(mags)
    assert torch.allclose(masks.sum(1), torch.ones(3, 513, 40), atol=1e-6)
    assert torch.allclose(masks[0, :, :5], torch.full((2, 5, 40), 0.5))
    audio, _ = clip
    mixture = torch.from_numpy(audio.sum(0)).float()[None]
    spec = stft(mixture)
    est_mags = torch.rand((1, 2, *spec.shape[-2:]), generator=g)
    sources = apply_masks(spec, soft_masks(est_mags), mixture.shape[-1])
    assert sources.shape == (1, 2, mixture.shape[-1])
    assert torch.max(torch.abs(sources.sum(1) - mixture)) < 1e-4 * torch.max(torch.abs(mixture))


def test_si_sdr_by_hand_and_scale_invariance():
    rng = np.random.default_rng(0)
    ref = rng.standard_normal(8000)
    noise = rng.standard_normal(8000)
    noise -= np.dot(noise, ref) / np.dot(ref, ref) * ref  # orthogonal to ref
    noise *= np.linalg.norm(ref) / np.linalg.norm(noise) / 10.0  # 20 dB below
    assert si_sdr(ref, ref + noise) == pytest.approx(20.0, abs=1e-9)
    assert si_sdr(ref, 3.7 * (ref + noise)) == pytest.approx(20.0, abs=1e-9)


def test_bss_eval_known_cases():
    rng = np.random.default_rng(1)
    refs = rng.standard_normal((2, 16000))
    perfect = bss_eval(refs, refs + 1e-6 * rng.standard_normal((2, 16000)))
    assert np.all(perfect["sdr"] > 90)
    # A delayed, filtered copy is still the target (BSS Eval allows a 512-tap distortion filter).
    delayed = np.stack([np.roll(refs[0], 7) * 0.5, refs[1]])
    assert bss_eval(refs, delayed)["sdr"][0] > 30
    # The mixture as estimate: SIR is the energy ratio of the sources (here 4, 6.02 dB) for the louder one and
    # its negative for the quieter. The 512-tap projection also absorbs about 512/n of an independent
    # interferer's energy, so the signals are long (n = 160,000: 0.3 %) for the hand value to hold to 0.05 dB.
    long_refs = rng.standard_normal((2, 160000))
    mix = long_refs[0] + 0.5 * long_refs[1]
    s = bss_eval(long_refs, np.stack([mix, mix]))
    assert s["sir"][0] == pytest.approx(10 * np.log10(4), abs=0.05)
    assert s["sir"][1] == pytest.approx(-10 * np.log10(4), abs=0.05)


@pytest.mark.parametrize("seconds", [1, 4])
def test_bss_eval_matches_fast_bss_eval_on_real_audio(clip, seconds):
    audio, rate = clip
    refs = audio[:, rate: rate + seconds * rate]  # [accompaniment, voice]
    rng = np.random.default_rng(seconds)
    ests = np.stack([refs[0] + 0.4 * refs[1], refs[1] + 0.3 * refs[0]]) + 0.01 * rng.standard_normal(refs.shape)
    mine = bss_eval(refs, ests)
    theirs = fast_bss_eval.bss_eval_sources(torch.from_numpy(refs), torch.from_numpy(ests), filter_length=512,
                                            compute_permutation=False)
    for key, value in zip(("sdr", "sir", "sar"), theirs[:3]):
        assert np.allclose(mine[key], value.numpy(), atol=1e-3), key


def test_nsdr_and_global_scores_are_length_weighted(clip):
    audio, rate = clip
    refs = audio[:, : 2 * rate]
    mixture = refs.sum(0)
    as_mixture = score_clip(refs, np.stack([mixture, mixture]), mixture)
    assert np.allclose(as_mixture.nsdr, 0.0)
    a = ClipScore(100, np.array([5.0, 1.0]), np.array([9.0, 2.0]), np.array([7.0, 3.0]), np.array([1.0, 0.0]))
    b = ClipScore(300, np.array([9.0, 2.0]), np.array([13.0, 4.0]), np.array([11.0, 5.0]), np.array([1.0, 1.0]))
    g = global_scores([a, b])
    assert np.allclose(g["gnsdr"], [0.25 * 4 + 0.75 * 8, 0.25 * 1 + 0.75 * 1])
    assert np.allclose(g["gsir"], [12.0, 3.5]) and np.allclose(g["gsar"], [10.0, 4.5])
    assert np.allclose(g["mean_sdr"], [7.0, 1.5])


# --------------------------------------------------------------------------- MIR-1K loading, both layouts

from vae_core.audio.data import mix_at_snr  # noqa: E402
from vae_core.core.mir1k import Clip, find_clips, read_clip, split_clips
from vae_core.core.errors import DataCorruptError, DataMissingError  # noqa: E402


def test_project_layout_splits_match_the_protocol():
    clips = find_clips(MIR1K.parent)
    assert len(clips) == 353
    train, test = split_clips(clips, "train"), split_clips(clips, "test")
    assert len(train) == 175 and len(test) == 178  # 171 train + 4 dev; 178 test
    assert {c.singer for c in train} == {"abjones", "amy"}
    assert not {c.singer for c in test} & {"abjones", "amy"}
    voice, acc = read_clip(test[0])
    assert voice.dtype == np.float32 and voice.shape == acc.shape and np.abs(voice).max() > 0.01


def _write_stereo(path: Path, n: int, seed: int, fmt: str) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    acc, voice = 0.1 * rng.standard_normal(n), 0.05 * rng.standard_normal(n)  # well inside full scale: no clipping
    sf.write(path, np.stack([acc, voice], 1), 16000, subtype="PCM_16", format=fmt)
    return voice, acc


def test_original_wav_layout_is_read_with_the_singer_split(tmp_path):
    wavs = tmp_path / "mir1k" / "MIR-1K" / "Wavfile"
    wavs.mkdir(parents=True)
    voice, acc = _write_stereo(wavs / "amy_1_01.wav", 1600, 0, "WAV")
    _write_stereo(wavs / "Ani_1_01.wav", 800, 1, "WAV")
    clips = find_clips(tmp_path)
    assert [(c.clip_id, c.split) for c in clips] == [("Ani_1_01", "test"), ("amy_1_01", "train")]
    v, a = read_clip(clips[1])  # right channel is the voice, left the accompaniment
    assert np.allclose(v, voice, rtol=0, atol=2 / 32768) and np.allclose(a, acc, rtol=0, atol=2 / 32768)


def test_missing_and_bad_files_are_one_sentence(tmp_path):
    with pytest.raises(DataMissingError, match="MIR-1K.zip"):
        find_clips(tmp_path)
    (tmp_path / "bad.flac").write_bytes(b"not audio at all")
    with pytest.raises(DataCorruptError, match="cannot be read as audio"):
        read_clip(Clip("x_1_01", "x", tmp_path / "bad.flac", "test"))
    sf.write(tmp_path / "mono.flac", np.zeros(160), 16000, format="FLAC")
    with pytest.raises(DataCorruptError, match="1-channel at 16000 Hz"):
        read_clip(Clip("x_1_02", "x", tmp_path / "mono.flac", "test"))


@pytest.mark.parametrize("snr", [0.0, -5.0, 6.0])
def test_mix_at_snr(snr):
    rng = np.random.default_rng(2)
    voice, acc = rng.standard_normal(16000).astype(np.float32), 3 * rng.standard_normal(16000).astype(np.float32)
    mixture, scaled = mix_at_snr(voice, acc, snr)
    assert 10 * np.log10(np.sum(voice.astype(np.float64) ** 2) / np.sum(scaled.astype(np.float64) ** 2)) == \
        pytest.approx(snr, abs=1e-4)
    assert np.allclose(mixture, voice + scaled)


def test_griffin_lim_rebuilds_a_real_music_magnitude_and_repeats_for_a_seed():
    cfg = STFTConfig(n_fft=1024, hop=256, sample_rate=22050)
    clip = Path(os.environ["VAE_DATA_DIR"]) / "gtzan-classical-derived" / "clips" / "classical.00000.flac"
    audio, rate = sf.read(clip, dtype="float32")  # a real recording, not a synthetic tone
    assert rate == 22050
    wave = torch.from_numpy(audio[rate: 3 * rate])
    target = stft(wave, cfg).abs()

    def convergence(w: torch.Tensor) -> float:  # spectral convergence (lower is closer)
        return float((stft(w, cfg).abs() - target).norm() / target.norm())

    g = torch.Generator().manual_seed(0)
    random_phase = istft(torch.polar(target, torch.rand(target.shape, generator=g) * 2 * torch.pi), len(wave), cfg)
    rebuilt = griffin_lim(target, len(wave), cfg, iterations=32, generator=torch.Generator().manual_seed(1))
    assert convergence(rebuilt) < 0.5 * convergence(random_phase)
    again = griffin_lim(target, len(wave), cfg, iterations=32, generator=torch.Generator().manual_seed(1))
    assert torch.equal(rebuilt, again)
