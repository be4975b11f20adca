"""Music models: the course design's shapes, the spectrogram model's any-length decoding, generation from the
prior (shapes, rates, determinism), and bad requests refused with one sentence."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from vae_core.core.errors import ConfigError, LabError
from vae_core.core.models import build_model
from vae_core.music.inference import MusicGenerator
from vae_core.music.model import MusicCourseConfig, MusicSpecConfig
from vae_core.music.task import PRESETS, preset


def generator(kind: str, **config) -> MusicGenerator:
    torch.manual_seed(0)
    return MusicGenerator(build_model(kind, config), {"name": kind})


def test_course_preset_is_the_reports_residual_waveform_vae():
    cfg = preset("course-dropout-z20")
    model = build_model(cfg.model, cfg.model_config).eval()
    blocks = [m for m in model.encoder if type(m).__name__ == "ResidualBlock1d"]
    assert len(blocks) == len(MusicCourseConfig().channels)
    body = [type(m).__name__ for m in blocks[0].body]
    assert body == ["Conv1d", "BatchNorm1d", "LeakyReLU", "Dropout"] * 2
    assert blocks[0].body[2].negative_slope == 0.4 and blocks[0].body[3].p == 0.3
    x = torch.rand(3, 8192) * 2 - 1
    mu, logvar = model.encode(x)
    assert mu.shape == logvar.shape == (3, 1, 20)
    out = model.decode(mu[:, 0])
    assert out.shape == (3, 8192) and out.abs().max() <= 1
    assert {PRESETS[p]["model_config"]["latent_dim"] for p in PRESETS if p.startswith("course")} == {2, 10, 20}


def test_spectrogram_model_decodes_any_number_of_latent_frames():
    cfg = MusicSpecConfig(hidden=32, latent_channels=4)
    model = build_model("music-spec", cfg).eval()
    x = torch.rand(2, cfg.freq_bins, 64)
    mu, _ = model.encode(x)
    assert mu.shape == (2, 1, 4 * 64 // 8)
    assert model.decode(torch.zeros(1, 4 * 5)).shape == (1, cfg.freq_bins, 40)
    assert cfg.latent_dim == 4 * cfg.frames // 8


@pytest.mark.parametrize("kind,config", [("music-spec", {"hidden": 32, "latent_channels": 4}),
                                         ("music-course", {"channels": [4, 8], "segment": 1024})])
def test_generation_has_the_asked_length_and_rate_and_repeats_for_a_seed(kind, config):
    gen = generator(kind, **config)
    clips = gen.generate(2, seconds=1.5, seed=7, temperature=1.0)
    assert clips.shape == (2, int(round(1.5 * gen.rate))) and clips.dtype == np.float32
    assert np.isfinite(clips).all()
    np.testing.assert_array_equal(clips, gen.generate(2, seconds=1.5, seed=7))
    assert not np.array_equal(clips[0], gen.generate(1, seconds=1.5, seed=8)[0])
    cold = gen.generate(1, seconds=1.5, seed=1, temperature=0.0)
    np.testing.assert_array_equal(cold, gen.generate(1, seconds=1.5, seed=1, temperature=0.0))


def test_encode_decode_and_interpolation_shapes():
    gen = generator("music-spec", hidden=32, latent_channels=4)
    wave = np.sin(2 * np.pi * 440 * np.arange(44100) / 44100).astype(np.float32) * 0.3
    z = gen.encode(wave, 44100)  # resampled to the model's 22,050 Hz first
    assert z.shape == (-(-(22050 // 256 + 1) // 8), 4)  # frames padded to whole latent steps
    assert gen.decode(z).ndim == 1
    assert gen.reconstruct(wave, 44100).shape == (22050,)
    row = gen.interpolate(wave, wave[: 22050], 44100, points=3)
    assert row.shape[0] == 3


@pytest.mark.parametrize("n,seconds,temperature", [(0, 1.0, 1.0), (65, 1.0, 1.0), (1.5, 1.0, 1.0), (1, 0.0, 1.0),
                                                   (1, 1e9, 1.0), (1, float("nan"), 1.0), (1, 1.0, -1.0),
                                                   (1, 1.0, 99.0), (True, 1.0, 1.0)])
def test_absurd_generation_requests_get_one_sentence(n, seconds, temperature):
    gen = generator("music-spec", hidden=16, latent_channels=2)
    with pytest.raises(LabError) as err:
        gen.generate(n, seconds, temperature=temperature)
    assert "\n" not in str(err.value) and str(err.value).endswith(".")


def test_bad_waveforms_and_latents_get_one_sentence():
    gen = generator("music-spec", hidden=16, latent_channels=2)
    for wave, rate in ((np.zeros((2, 2, 5)), 22050), (np.array([np.nan] * 100), 22050), (np.zeros(10), 5)):
        with pytest.raises(LabError):
            gen.encode(wave, rate)
    with pytest.raises(LabError):
        gen.decode(np.zeros((3, 7)))


def test_model_settings_out_of_range_are_refused():
    with pytest.raises(ConfigError):
        build_model("music-course", {"segment": 1000})
    with pytest.raises(ConfigError):
        build_model("music-spec", {"n_fft": 1000})
    with pytest.raises(ConfigError):
        preset("course-base", beta=-1.0).validate()
    with pytest.raises(ConfigError):
        preset("no-such-preset")


def test_a_spectrogram_model_with_one_latent_per_segment_generates_and_reconstructs_any_length():
    gen = generator("music-spec", hidden=16, latent_channels=2, global_latent=8, frames=32)
    assert gen.latent_dim == 8 and gen.step_dim == 8
    clips = gen.generate(2, seconds=1.0, seed=3)
    assert clips.shape == (2, 22050)
    np.testing.assert_array_equal(clips, gen.generate(2, seconds=1.0, seed=3))
    wave = np.random.default_rng(0).standard_normal(30000).astype(np.float32) * 0.1
    z = gen.encode(wave, 22050)
    assert z.shape == (-(-(30000 // 256 + 1) // 32), 8)
    assert gen.reconstruct(wave, 22050).shape == (30000,)
