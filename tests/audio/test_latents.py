"""The audio latent explorer's core: encoding test patches, where each unit sits, making decoded patches audible."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from vae_core.audio.latents import decode_patch, patch_db, summarize_audio, unit_label, unit_region
from vae_core.audio.model import AudioConvConfig, AudioConvSeparationVAE
from vae_core.audio.inference import AudioSeparator


@pytest.fixture(scope="module")
def sep() -> AudioSeparator:
    torch.manual_seed(0)
    model = AudioConvSeparationVAE(AudioConvConfig(channels=(8, 8, 8), decoder_channels=(8, 8, 8), latent_channels=4))
    return AudioSeparator(model.eval(), {"task": "audio"})


@pytest.fixture(scope="module")
def summary(sep):
    return summarize_audio(sep, n_clips=2, patches_per_clip=3)


def test_summary_encodes_real_test_patches(sep, summary):
    n = 6
    assert summary.mu.shape == (n, 2, sep.latent_dim)
    assert summary.patches.shape == (n, 513, 64) and summary.phases.shape == (n, 513, 64)
    assert summary.kl.shape == summary.activity.shape == summary.active.shape == (2, sep.latent_dim)
    assert (summary.kl >= 0).all() and np.isfinite(summary.mu).all()
    assert len(set(summary.labels)) == n and all(" @ " in label for label in summary.labels)
    assert (summary.refs > 0).all()
    order = summary.order(0)
    assert summary.kl[0, order[0]] == summary.kl[0].max() and sorted(order) == list(range(sep.latent_dim))


def test_unit_regions_tile_the_spectrum_and_the_patch(sep):
    c, f, t = sep.model.config.latent_shape
    first, last = unit_region(sep, 0), unit_region(sep, sep.latent_dim - 1)
    assert first == {"channel": 0, "hz_low": 0.0, "hz_high": pytest.approx(first["hz_high"]), "t_low": 0.0,
                     "t_high": pytest.approx(64 / t * 256 / 16000)}
    assert last["channel"] == c - 1
    assert last["hz_high"] == pytest.approx(513 * 16000 / 1024)  # the top band ends at the last bin
    assert last["t_high"] == pytest.approx(64 * 256 / 16000)  # the last cell ends with the patch
    next_band = unit_region(sep, t)  # one step along frequency
    assert next_band["hz_low"] == pytest.approx(first["hz_high"]) and next_band["t_low"] == 0.0
    assert unit_label(sep, 0).startswith("z0 · ch 0 · 0–")


def test_decoded_patches_are_playable_with_borrowed_phase_and_griffin_lim(sep, summary):
    patches = decode_patch(sep, summary.mu[0])
    assert patches.shape == (2, 513, 64) and patches.min() >= 0 and patches.max() <= 1
    db = patch_db(sep, patches[0])
    assert db.max() <= 0 and db.min() >= -80
    borrowed = sep.patch_audio(patches[0], float(summary.refs[0]), summary.phases[0])
    estimated = sep.patch_audio(patches[0], float(summary.refs[0]))
    assert borrowed.shape == (63 * 256,) and np.isfinite(borrowed).all() and np.abs(borrowed).max() > 0
    assert estimated.dtype == np.float32 and np.isfinite(estimated).all() and len(estimated) >= 63 * 256


def test_input_patch_round_trips_through_its_phase(sep, summary):
    """The input patch itself, played with its own phase, is the mixture's audio (what the players build on)."""
    from vae_core.audio.data import mix_at_snr
    from vae_core.core.mir1k import read_clip
    from vae_core.audio.demo import test_clips

    voice, acc = read_clip(test_clips()[0])
    mixture, _ = mix_at_snr(voice, acc, 0.0)
    x, ref, phase = sep.patch_input(mixture, 0)
    audio = sep.patch_audio(x.numpy(), ref, phase)
    # Bins quieter than the 80 dB floor are dropped, and the first frame is centred on sample 0.
    n = len(audio) - 1024
    err = np.abs(audio[512:n] - mixture[512:n]).max()
    assert err < 0.01 * np.abs(mixture[:n]).max()
