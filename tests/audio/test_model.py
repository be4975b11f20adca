"""Audio separation VAE: model shapes and config checks, patching and masks, separation of whole waveforms,
checkpoints, the loss, and training (short runs on the real MIR-1K clips)."""
from __future__ import annotations

import json
import math
import threading

import numpy as np
import pytest
import torch

import vae_core
from vae_core.audio.data import mix_at_snr
from vae_core.core.mir1k import find_clips, read_clip, split_clips
from vae_core.audio.evaluation import evaluate_clips, oracle_irm, separate_waveform
from vae_core.audio.filtering import patch_starts, separate_spectrogram
from vae_core.audio.loss import AUDIO_LOSS_TERMS, audio_separation_loss
from vae_core.core.metrics import bss_eval
from vae_core.audio.model import AudioConvConfig, AudioConvSeparationVAE
from vae_core.audio.inference import CHUNK_SECONDS, AudioSeparator
from vae_core.core.audio_io import change_speed
from vae_core.audio.task import WIDE_CONTEXT, AudioTrainConfig, SpectrogramPool, batch_tensors
from vae_core.core.spectral import STFTConfig, stft
from vae_core.core.checkpoints import save_checkpoint
from vae_core.core.store import SIDECAR, read_sidecar
from vae_core.core.errors import ConfigError, LabError
from vae_core.core.trainer import Callbacks, train
from vae_core.image.task import TrainConfig

SR = 16000
HOP = STFTConfig().hop
TINY = dict(freq_bins=33, frames=16, channels=(4, 8), latent_channels=2, decoder_channels=(8, 4))


def untrained(seed: int = 0, **config) -> AudioConvSeparationVAE:
    """An untrained model in eval mode with reproducible weights and non-trivial BatchNorm statistics."""
    torch.manual_seed(seed)
    model = AudioConvSeparationVAE(AudioConvConfig(**config))
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    return model.eval()


@pytest.fixture(scope="module")
def model() -> AudioConvSeparationVAE:
    """The default design (patch 513 x 64), untrained."""
    return untrained(0)


@pytest.fixture(scope="module")
def test_clips():
    return split_clips(find_clips(), "test")


@pytest.fixture(scope="module")
def train_clips():
    return [c for c in split_clips(find_clips(), "train") if c.split == "train"]


def one_sentence(message: str) -> bool:
    """A single sentence: non-empty, one line, ends with a full stop, no sentence break inside."""
    import re

    return bool(message) and "\n" not in message and message.endswith(".") and \
        re.search(r"[.!?]\s+[A-Z]", message[:-1]) is None


# --------------------------------------------------------------------------- model

def test_encode_decode_shapes_default_patch(model):
    cfg = model.config
    assert (cfg.freq_bins, cfg.frames) == (513, 64)
    x = torch.rand(3, 513, 64)
    mu, logvar = model.encode(x)
    assert mu.shape == logvar.shape == (3, 2, cfg.latent_dim)
    assert model.latent_dim == cfg.latent_dim == math.prod(cfg.latent_shape)
    with torch.no_grad():
        y = model.decode_all(mu)
    assert y.shape == (3, 2, 513, 64)
    assert y.min() >= 0 and y.max() <= 1
    out = model(x)
    assert out.sources.shape == (3, 2, 513, 64) and out.mixture.shape == (3, 513, 64)
    assert out.mixture.min() >= 0 and out.mixture.max() <= 1


@pytest.mark.parametrize("scale", [(2.0, 2.0), (2.0, 1.0), (1.0, 2.0), (1.0, 1.0)])
def test_upsample_conv_equals_upsampling_then_convolving(scale):
    from vae_core.audio.model import upsample_conv

    g = torch.Generator().manual_seed(0)
    x, w = torch.randn(3, 5, 9, 7, generator=g), torch.randn(4, 5, 3, 3, generator=g)
    reference = torch.nn.functional.conv2d(torch.nn.functional.interpolate(x, scale_factor=scale, mode="nearest"),
                                           w, padding=1)
    out = upsample_conv(x, w, scale)
    assert out.shape == reference.shape and torch.allclose(out, reference, atol=1e-5)


def test_decoder_inference_path_matches_its_layers(model):
    """In eval mode the decoders skip building upsampled maps; the result is that of their layers."""
    z = torch.randn(2, model.config.latent_channels, 65, 16, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        for decoder in model.decoders:
            reference = torch.sigmoid(torch.nn.functional.adaptive_avg_pool2d(
                decoder.out(decoder.body(z)), (513, 64))).squeeze(1)
            assert torch.allclose(decoder(z, (513, 64)), reference, atol=1e-5)


def test_latent_dim_follows_the_config_for_odd_sizes():
    m = untrained(1, **TINY)
    c, f, t = m.config.latent_shape
    assert (f, t) == (9, 4)  # 33 -> 17 -> 9 bins, 16 / 4 frames
    mu, logvar = m.encode(torch.rand(5, 33, 16))
    assert mu.shape == logvar.shape == (5, 2, m.config.latent_dim) and m.config.latent_dim == c * f * t
    with torch.no_grad():
        y = m.decode_all(torch.randn(5, 2, m.latent_dim) * 3)
    assert y.shape == (5, 2, 33, 16) and 0 <= float(y.min()) and float(y.max()) <= 1
    assert m.sample_prior(4, torch.Generator().manual_seed(0)).shape == (4, 2, 33, 16)


def test_forward_eval_is_deterministic_and_train_mode_samples():
    m = untrained(2, **TINY)
    x = torch.rand(4, 33, 16)
    with torch.no_grad():
        a, b = m(x), m(x)
        assert torch.equal(a.sources, b.sources) and torch.equal(a.z, a.mu)
        s1 = m(x, sample=True, generator=torch.Generator().manual_seed(0))
        s2 = m(x, sample=True, generator=torch.Generator().manual_seed(1))
        s3 = m(x, sample=True, generator=torch.Generator().manual_seed(0))
    assert not torch.equal(s1.z, s2.z) and torch.equal(s1.z, s3.z)


@pytest.mark.parametrize("bad", [
    dict(frames=62),                                # not divisible by 2**2 (two layers halve time)
    dict(frames=16, channels=(4, 8, 16, 32, 64), decoder_channels=(4, 4, 4, 4, 4), time_strides=5),  # 16 % 2**5
    dict(time_strides=4),                           # more than the three encoder layers
    dict(decoder_channels=(32, 16)),                # length differs from the encoder's
    dict(channels=()),
    dict(channels=(16, 0, 64)),
    dict(latent_channels=0),
    dict(freq_bins=8),
    dict(frames=4),
    dict(context_dilations=(0,)),
    dict(context_dilations=(2, 32)),
])
def test_config_validation(bad):
    with pytest.raises(ConfigError) as exc:
        AudioConvSeparationVAE(AudioConvConfig(**bad))
    assert one_sentence(str(exc.value))


def _input_gradient(model: AudioConvSeparationVAE, x: torch.Tensor, f: int, t: int) -> torch.Tensor:
    """|d voice latent mean at map position (f, t) / d input| ``(freq, frames)``: where that latent looks."""
    x = x.clone().requires_grad_(True)
    mu, _ = model.encode(x.unsqueeze(0))
    c, fl, tl = model.config.latent_shape
    mu[0, 0].reshape(c, fl, tl)[:, f, t].sum().backward()
    return x.grad.abs()


def test_context_dilations_widen_what_a_latent_sees():
    """One latent position of the plain encoder depends on about 15 x 15 input bins; residual dilated layers
    (2, 4, 8) make it depend on bins more than 100 away in frequency and on the whole patch in time."""
    x = torch.rand(513, 64, generator=torch.Generator().manual_seed(0))
    reach = {}
    for dilations in ((), (2, 4, 8)):
        m = untrained(0, context_dilations=dilations)
        g = _input_gradient(m, x, 32, 8)  # the map centre: bins around 256, frames around 32
        bins, frames = torch.nonzero(g > 0, as_tuple=True)
        reach[dilations] = (int(bins.max() - bins.min()) + 1, int(frames.max() - frames.min()) + 1)
    assert reach[()][0] <= 16 and reach[()][1] <= 16, reach
    assert reach[(2, 4, 8)][0] > 200 and reach[(2, 4, 8)][1] == 64, reach


def test_freq_channel_tells_the_encoder_where_a_bin_is():
    """Without the frequency channel a spectrum shifted up by 8 bins (one latent row) encodes to the same
    latents shifted by one row; with it, the encoder's output also depends on absolute frequency."""
    x = torch.zeros(1, 513, 64)
    x[0, 200:232, 16:48] = torch.rand(32, 32, generator=torch.Generator().manual_seed(0))
    shifted = torch.roll(x, 8, dims=1)
    for freq_channel in (False, True):
        m = untrained(0, freq_channel=freq_channel)
        assert m.encoder.body[0].in_channels == (2 if freq_channel else 1)
        c, fl, tl = m.config.latent_shape
        with torch.no_grad():
            a = m.encode(x)[0][0, 0].reshape(c, fl, tl)[:, 20:40]
            b = m.encode(shifted)[0][0, 0].reshape(c, fl, tl)[:, 21:41]
        assert torch.allclose(a, b, atol=1e-5) is (not freq_channel)


def test_wider_model_round_trips_through_a_checkpoint(tmp_path):
    m = untrained(3, **TINY, context_dilations=(2, 4), freq_channel=True)
    save_checkpoint(tmp_path / "ctx", m, {"task": "audio"})
    sep = vae_core.load_checkpoint(tmp_path / "ctx")
    assert sep.model.config.context_dilations == (2, 4) and sep.model.config.freq_channel is True
    x = torch.rand(2, 33, 16)
    with torch.no_grad():
        assert torch.equal(sep.model(x).sources, m(x).sources)


# --------------------------------------------------------------------------- patching and masks

@pytest.mark.parametrize("n", [1, 10, 63, 64, 65, 96, 97, 128, 300, 1001])
def test_patch_starts_cover_the_clip(n):
    frames = 64
    starts = patch_starts(n, frames)
    assert starts[0] == 0
    assert all(b - a == frames // 2 for a, b in zip(starts, starts[1:]))
    assert starts[-1] + frames >= n  # the last patch reaches the end
    if len(starts) > 1:
        assert starts[-2] + frames < n  # and no patch is wasted
    else:
        assert n <= frames


@pytest.mark.parametrize("n_frames", [37, 64, 300])
def test_separate_spectrogram_masks_sum_to_one(model, n_frames):
    g = torch.Generator().manual_seed(n_frames)
    wave = 0.1 * torch.randn((n_frames - 1) * HOP, generator=g)
    wave[: len(wave) // 3] *= 0.01  # quiet and loud stretches
    spec = stft(wave)
    assert spec.shape == (513, n_frames)
    calls = []
    masks, decoded = separate_spectrogram(model, spec, batch_size=4, progress=calls.append)
    assert masks.shape == decoded.shape == (2, 513, n_frames)
    assert torch.isfinite(masks).all() and masks.min() >= 0 and masks.max() <= 1
    assert torch.allclose(masks.sum(0), torch.ones(513, n_frames), atol=1e-5)
    assert decoded.min() >= 0 and decoded.max() <= 1
    assert calls and calls[-1] == 1.0 and calls == sorted(calls)


def test_separate_waveform_sums_to_the_mixture_on_real_audio(model, test_clips):
    voice, acc = read_clip(test_clips[0])
    mixture, _ = mix_at_snr(voice[: 3 * SR], acc[: 3 * SR])
    est = separate_waveform(model, mixture)
    assert est.shape == (2, len(mixture)) and est.dtype == np.float32
    assert np.abs(est).max() > 1e-3  # not an empty separation
    assert np.allclose(est.sum(0), mixture, atol=1e-4)


def test_oracle_irm_beats_the_mixture(test_clips):
    clips = test_clips[:2]
    oracle, mixture = evaluate_clips("oracle", clips), evaluate_clips("mixture", clips)
    assert len(oracle["scores"]) == len(mixture["scores"]) == 2
    assert oracle["gnsdr"][0] > 8 and oracle["gnsdr"][1] > 8
    assert np.allclose(mixture["gnsdr"], 0.0, atol=1e-6)
    # oracle_irm on its own: the two estimates re-mix to the mixture, and BSS Eval scores them well.
    voice, acc = read_clip(clips[0])
    mix, acc = mix_at_snr(voice, acc)
    est = oracle_irm(voice, acc)
    assert np.allclose(est.sum(0), mix, atol=1e-4)
    refs = np.stack([voice, acc])
    assert np.all(bss_eval(refs, est)["sdr"] > bss_eval(refs, np.stack([mix, mix]))["sdr"] + 8)


# --------------------------------------------------------------------------- checkpoints and the separator

def test_checkpoint_round_trip_gives_an_audio_separator(tmp_path, model):
    folder = tmp_path / "ck"
    save_checkpoint(folder, model, {"task": "audio"})
    meta = read_sidecar(folder)
    assert meta["task"] == "audio" and meta["kind"] == "audio-conv"
    sep = vae_core.load_checkpoint(folder)
    assert isinstance(sep, AudioSeparator) and sep.task == "audio"
    assert sep.model.config == model.config and sep.latent_dim == model.latent_dim
    x = torch.rand(2, 513, 64)
    with torch.no_grad():
        assert torch.equal(sep.model(x).sources, model(x).sources)


def test_image_train_config_refuses_the_audio_model():
    with pytest.raises(ConfigError):
        TrainConfig(model="audio-conv").validate()


@pytest.fixture(scope="module")
def separator(model) -> AudioSeparator:
    return AudioSeparator(model, {"task": "audio"})


@pytest.mark.parametrize("rate", [16000, 44100, 8000])
def test_separate_any_rate_sums_to_the_input(separator, rate):
    g = torch.Generator().manual_seed(rate)
    t = torch.arange(2 * rate) / rate
    x = 0.3 * torch.sin(2 * torch.pi * 440 * t) + 0.05 * torch.randn(2 * rate, generator=g)
    out = separator.separate(x, rate)
    assert isinstance(out, torch.Tensor) and out.shape == (2, len(x))
    assert torch.isfinite(out).all() and out[0].abs().max() > 1e-3
    assert torch.allclose(out.sum(0), x, atol=1e-4)


def test_separate_long_input_in_cross_faded_chunks(separator):
    n = 70 * SR
    assert n > CHUNK_SECONDS * SR + SR  # long enough to be chunked
    x = torch.from_numpy(np.random.default_rng(0).normal(0, 0.1, n).astype(np.float32))
    calls = []
    out = separator.separate(x, SR, progress=calls.append)
    assert out.shape == (2, n) and torch.isfinite(out).all()
    assert torch.allclose(out.sum(0), x, atol=1e-4)
    assert len(calls) >= 2 and calls == sorted(calls) and len(set(calls)) == len(calls) and calls[-1] == 1.0
    # The first chunk (30 s plus a 1 s fade) is separated on its own and kept as is before the fade starts.
    chunk = int(CHUNK_SECONDS * SR)
    first = separate_waveform(separator.model, x[: chunk + SR].numpy())[0]
    assert np.allclose(out[0, :chunk].numpy(), first[:chunk], atol=1e-6)
    # Around the seams the voice is a blend, never a jump to zero.
    seam = out[0, chunk - SR: chunk + 2 * SR]
    assert float(seam.abs().max()) > 1e-3


@pytest.mark.parametrize("waveform, rate", [
    (torch.zeros(2, 16000), 16000),
    (torch.zeros(16000, dtype=torch.int16), 16000),
    (torch.zeros(0), 16000),
    (torch.tensor([0.1, float("nan")] * 8000), 16000),
    (torch.zeros(16000), 0),
    (torch.zeros(16000), 1e6),
    (torch.zeros(16000), 1_000_000),
    (torch.zeros(16000), 44100.5),
    (torch.zeros(16000), True),
    ([0.0] * 16000, 16000),
])
def test_separate_refuses_bad_input(separator, waveform, rate):
    with pytest.raises(LabError) as exc:
        separator.separate(waveform, rate)
    assert one_sentence(str(exc.value))


@pytest.mark.parametrize("n, rate", [(1, 16000), (100, 16000), (1000, 44100)])
def test_separate_very_short_input_is_padded_and_separated(separator, n, rate):
    """Shorter than one STFT frame (1024 samples at 16 kHz): AudioSeparator.separate_16k pads it with silence and
    separates it; the caller gets both sources at the input's own length and rate, summing to the input."""
    x = 0.1 * torch.randn(n, generator=torch.Generator().manual_seed(n))
    out = separator.separate(x, rate)
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float32 and out.shape == (2, n)
    assert torch.isfinite(out).all()
    assert torch.allclose(out.sum(0), x, atol=1e-4)
    assert out[0].abs().max() > 1e-4 and out[1].abs().max() > 1e-4  # a split, not all of it on one side


# --------------------------------------------------------------------------- loss

@pytest.fixture(scope="module")
def real_batch(train_clips):
    pool = SpectrogramPool(train_clips[:2], 64)
    mixture, sources = pool.sample(3, torch.Generator().manual_seed(0), gain_db=6.0, remix_prob=0.5)
    assert mixture.is_complex() and mixture.shape == (3, 513, 64) and sources.shape == (3, 2, 513, 64)
    assert torch.allclose(mixture, sources.sum(1))
    return batch_tensors(mixture, sources)


def test_audio_loss_terms_add_up(model, real_batch):
    x, targets, mmag, smag = real_batch
    assert x.shape == (3, 513, 64) and targets.shape == (3, 2, 513, 64)
    assert x.min() >= 0 and x.max() <= 1 and targets.min() >= 0 and targets.max() <= 1
    assert torch.allclose(mmag.flatten(1).amax(1), torch.ones(3))  # relative to each patch's loudest bin
    with torch.no_grad():
        out = model(x)
    beta, mask_weight = 0.3, 7.0
    terms = audio_separation_loss(out, targets, x, mmag, smag, beta=beta, mask_weight=mask_weight)
    assert set(terms) == set(AUDIO_LOSS_TERMS)
    assert all(torch.isfinite(v) and v.ndim == 0 for v in terms.values())
    assert all(float(terms[t]) >= 0 for t in AUDIO_LOSS_TERMS)
    assert torch.allclose(terms["total"], terms["recon"] + mask_weight * terms["masked"] + beta * terms["kl"])
    assert torch.allclose(terms["recon"], terms["recon_voice"] + terms["recon_accompaniment"] + terms["recon_mixture"])
    assert torch.allclose(terms["masked"], terms["masked_voice"] + terms["masked_accompaniment"])
    assert torch.allclose(terms["kl"], terms["kl_voice"] + terms["kl_accompaniment"])
    # Free bits: every latent dimension's batch-mean KL is raised to the floor, so with a floor far above
    # any dimension's KL the KL part is exactly floor x (sources x latent_dim).
    fb = 1e3
    floored = audio_separation_loss(out, targets, x, mmag, smag, beta=beta, mask_weight=mask_weight, free_bits=fb)
    expected = terms["recon"] + mask_weight * terms["masked"] + beta * fb * 2 * model.latent_dim
    assert torch.allclose(floored["total"], expected, rtol=1e-5)
    assert torch.equal(floored["kl"], terms["kl"])  # the reported KL is the true one


def test_audio_loss_perfect_reconstruction(model, real_batch):
    x, targets, mmag, smag = real_batch
    with torch.no_grad():
        out = model(x)
    perfect = out._replace(sources=targets)
    terms = audio_separation_loss(perfect, targets, x, mmag, smag)
    assert float(terms["recon_voice"]) == 0 and float(terms["recon_accompaniment"]) == 0
    assert float(terms["masked"]) < float(audio_separation_loss(out, targets, x, mmag, smag)["masked"])


# --------------------------------------------------------------------------- training

TINY_RUN = dict(epochs=2, train_clips=4, val_clips=1, batch_size=4, time_budget_s=15, seed=0)


@pytest.mark.slow
def test_train_audio_history_and_checkpoint(tmp_path):
    out = tmp_path / "run"
    epochs_seen = []

    class Record(Callbacks):
        def on_epoch(self, record):
            epochs_seen.append(record["epoch"])

    result = train(AudioTrainConfig(**TINY_RUN), Record(), out_dir=out)
    h = result.history
    n = len(h["epoch"])
    assert 1 <= n <= 2 and epochs_seen == h["epoch"]
    if not result.stopped:
        assert h["epoch"] == [1, 2]
    for split in ("train", "val"):
        assert set(h[split]) == set(AUDIO_LOSS_TERMS)
        assert all(len(h[split][t]) == n and all(math.isfinite(v) for v in h[split][t]) for t in AUDIO_LOSS_TERMS)
    assert len(h["val_nsdr_voice"]) == len(h["val_nsdr_accompaniment"]) == n
    assert 1 <= result.best_epoch <= n
    assert h["val_nsdr_voice"][result.best_epoch - 1] == max(h["val_nsdr_voice"])

    meta = json.loads((out / SIDECAR).read_text())
    assert meta["task"] == "audio" and meta["kind"] == "audio-conv"
    assert meta["train_config"]["train_clips"] == 4 and meta["best_epoch"] == result.best_epoch
    assert len(meta["data"]["mir1k"]) == 353
    sep = vae_core.load_checkpoint(out)
    assert isinstance(sep, AudioSeparator)
    x = torch.rand(2, 513, 64)
    with torch.no_grad():
        assert torch.allclose(sep.model(x).sources, result.model(x).sources, atol=1e-6)


@pytest.mark.slow
def test_train_audio_is_deterministic():
    cfg = dict(epochs=1, train_clips=2, val_clips=1, batch_size=4, seed=3)
    a = train(AudioTrainConfig(**cfg))
    b = train(AudioTrainConfig(**cfg))
    assert not a.stopped and not b.stopped
    assert len(a.history["train"]["total"]) == 1
    assert a.history["train"]["total"] == b.history["train"]["total"]
    assert a.history["val"]["total"] == b.history["val"]["total"]
    c = train(AudioTrainConfig(**{**cfg, "seed": 4}))
    assert c.history["train"]["total"] != a.history["train"]["total"]


@pytest.mark.parametrize("bad", [dict(beta=-1.0), dict(beta=float("nan")), dict(epochs=0), dict(remix_prob=2.0),
                                 dict(model="conv"), dict(batch_size=0), dict(lr=0.0), dict(train_clips=0),
                                 dict(model_config={"frames": 62}), dict(mask_power=0.0), dict(lr_schedule="step"),
                                 dict(speeds=()), dict(speeds=(1.0, 3.0)), dict(ema_decay=1.0)])
def test_audio_train_config_validation(bad):
    with pytest.raises(ConfigError) as exc:
        AudioTrainConfig(**bad).validate()
    assert one_sentence(str(exc.value))
    with pytest.raises(ConfigError):
        train(AudioTrainConfig(**bad))


def test_stop_before_training_returns_cleanly(tmp_path):
    stop = threading.Event()
    stop.set()
    result = train(AudioTrainConfig(epochs=3, train_clips=1, val_clips=1, batch_size=4), stop=stop,
                         out_dir=tmp_path / "run")
    assert result.stopped is True
    assert result.history["epoch"] == [] and result.history["train"]["total"] == []
    assert isinstance(result.model, AudioConvSeparationVAE) and not result.model.training
    assert not (tmp_path / "run" / SIDECAR).exists()  # nothing trained, nothing saved


def test_spent_time_budget_stops_before_the_first_step(tmp_path):
    """The budget is checked before every step, like the stop event: a budget already spent (1 ns) trains
    nothing, reports the run as stopped and saves nothing."""
    result = train(AudioTrainConfig(epochs=3, train_clips=1, val_clips=1, batch_size=4, time_budget_s=1e-9),
                   out_dir=tmp_path / "run")
    assert result.stopped is True
    assert result.history["epoch"] == [] and result.history["train"]["total"] == []
    assert not (tmp_path / "run" / SIDECAR).exists()


@pytest.mark.slow
@pytest.mark.parametrize("model_config", [{}, WIDE_CONTEXT], ids=["plain", "wide-context"])
def test_short_real_training_beats_the_mixture(test_clips, model_config):
    """Two epochs on 20 MIR-1K training clips (a fixed number of steps, no time budget, so the result does not
    depend on the machine's speed) separate unseen test singers better than doing nothing (the mixture used as
    both estimates scores 0 dB NSDR by definition), with the plain encoder and with the wider context."""
    result = train(AudioTrainConfig(epochs=2, train_clips=20, val_clips=1, batch_size=8, seed=0,
                                    model_config=dict(model_config)))
    assert not result.stopped and result.history["epoch"] == [1, 2]
    scores = evaluate_clips(result.model, test_clips[:3])
    assert scores["gnsdr"][0] > 1.0, scores["gnsdr"]
    assert scores["gnsdr"][1] > 0.0, scores["gnsdr"]


def test_change_speed_moves_pitch_and_length_together():
    rate = 16000
    t = np.arange(rate) / rate
    tone = np.stack([np.sin(2 * np.pi * 440 * t), np.sin(2 * np.pi * 1000 * t)]).astype(np.float32)
    fast = change_speed(tone, 1.1, rate)
    assert fast.shape[0] == 2 and abs(fast.shape[1] - rate / 1.1) <= 2
    for channel, f0 in ((0, 440), (1, 1000)):
        spectrum = np.abs(np.fft.rfft(fast[channel] * np.hanning(fast.shape[1])))
        peak_hz = np.argmax(spectrum) * rate / fast.shape[1]
        assert abs(peak_hz - 1.1 * f0) < 3, (channel, peak_hz)


def test_pool_with_speeds_holds_every_clip_at_every_speed(train_clips):
    plain = SpectrogramPool(train_clips[:2], 64)
    perturbed = SpectrogramPool(train_clips[:2], 64, speeds=(0.9, 1.0, 1.2))
    assert len(perturbed.specs) == 3 * len(plain.specs)
    # An epoch is still counted in the recorded clips' frames.
    assert perturbed.total_frames == plain.total_frames
    lengths = [s.shape[-1] for s in perturbed.specs[:3]]
    assert lengths[0] > lengths[1] > lengths[2]  # slower clips are longer
    assert torch.equal(perturbed.specs[1], plain.specs[0])
    mixture, sources = perturbed.sample(4, torch.Generator().manual_seed(1), gain_db=6.0, remix_prob=0.5)
    assert torch.allclose(mixture, sources.sum(1)) and mixture.shape == (4, 513, 64)


@pytest.mark.slow
def test_ema_run_saves_the_averaged_weights(tmp_path):
    """With ema_decay the validated, returned and saved model is the moving average, not the last weights; it
    differs from a plain run with the same seed, and is as reproducible."""
    cfg = dict(epochs=1, train_clips=2, val_clips=1, batch_size=4, seed=3)
    plain = train(AudioTrainConfig(**cfg))
    ema = train(AudioTrainConfig(**cfg, ema_decay=0.9), out_dir=tmp_path / "ema")
    again = train(AudioTrainConfig(**cfg, ema_decay=0.9))
    # Same data and steps: the training losses agree, the validated model does not.
    assert ema.history["train"]["total"] == plain.history["train"]["total"]
    assert ema.history["val"]["total"] != plain.history["val"]["total"]
    assert ema.history["val"]["total"] == again.history["val"]["total"]
    saved = vae_core.load_checkpoint(tmp_path / "ema")
    x = torch.rand(2, 513, 64)
    with torch.no_grad():
        assert torch.allclose(saved.model(x).sources, ema.model(x).sources, atol=1e-6)
        assert not torch.allclose(saved.model(x).sources, plain.model(x).sources, atol=1e-4)
    assert json.loads((tmp_path / "ema" / SIDECAR).read_text())["train_config"]["ema_decay"] == 0.9


# --------------------------------------------------------------------------- mask power

@pytest.mark.slow
def test_tune_uses_dev_clips_and_the_separator_follows_it(tmp_path, model):
    from vae_core.audio.evaluation import choose_setting, tune_inference

    folder = tmp_path / "tuned"
    save_checkpoint(folder, model, {"task": "audio", "train_config": {"mask_power": 2.0}})
    before = vae_core.load_checkpoint(folder)
    assert before.mask_power == 2.0 and before.speeds == (1.0,)  # before tuning: the training power, one pass
    result = tune_inference(folder, powers=(1.0, 3.0), speed_sets=((1.0,), (0.9, 1.0, 1.1)), overlaps=(1, 2))
    rows = result["dev_gnsdr"]
    assert [(r["mask_power"], r["speeds"], r["overlap"]) for r in rows] == [
        (p, sp, ov) for p in (1.0, 3.0) for sp in ([1.0], [0.9, 1.0, 1.1]) for ov in (1, 2)]
    assert len({tuple(r["gnsdr"]) for r in rows}) == len(rows)  # every setting separates differently
    assert result["chosen_on"].startswith("4 MIR-1K dev clips")
    chosen = choose_setting(rows)
    keys = ("mask_power", "speeds", "overlap")
    assert all(result[k] == chosen[k] for k in keys)
    assert chosen["gnsdr"][0] >= max(r["gnsdr"][0] for r in rows) - result["tolerance_db"]
    sep = vae_core.load_checkpoint(folder)
    assert (sep.mask_power, sep.speeds, sep.overlap) == (result["mask_power"], tuple(result["speeds"]),
                                                         result["overlap"])
    # The power changes the output: softer masks with a lower power.
    x = 0.1 * torch.randn(16000, generator=torch.Generator().manual_seed(0))
    sep.mask_power = 1.0
    soft = sep.separate(x, 16000)
    sep.mask_power = 3.0
    hard = sep.separate(x, 16000)
    assert not torch.allclose(soft, hard, atol=1e-4)
    assert torch.allclose(soft.sum(0), x, atol=1e-4) and torch.allclose(hard.sum(0), x, atol=1e-4)


def test_choose_setting_prefers_less_work_within_the_tolerance():
    from vae_core.audio.evaluation import choose_setting
    from vae_core.audio.filtering import inference_cost

    five = [0.8, 0.9, 1.0, 1.1, 1.25]
    rows = [{"mask_power": 1.0, "speeds": [1.0], "overlap": 2, "gnsdr": [7.00, 6.0]},
            {"mask_power": 1.0, "speeds": [0.9, 1.0, 1.1], "overlap": 2, "gnsdr": [7.40, 6.0]},
            {"mask_power": 1.0, "speeds": five, "overlap": 1, "gnsdr": [7.43, 6.0]},
            {"mask_power": 2.0, "speeds": five, "overlap": 2, "gnsdr": [7.50, 6.0]}]
    assert inference_cost([1.0], 2) == 1.0 and inference_cost([0.5], 1) == 1.0
    assert inference_cost(five, 1) < inference_cost([0.9, 1.0, 1.1], 2) < inference_cost(five, 2)
    assert choose_setting(rows, tolerance_db=0.05) is rows[3]  # the best; nothing within 0.05 dB
    assert choose_setting(rows, tolerance_db=0.08) is rows[2]  # five speeds side by side: less work than rows[3]
    assert choose_setting(rows, tolerance_db=0.1) is rows[2]  # and less than three overlapping speeds
    assert choose_setting(rows, tolerance_db=0.0) is rows[3]
    assert choose_setting(rows, tolerance_db=1.0) is rows[0]


def test_change_speed_round_trip_keeps_the_signal():
    """Test-time speed averaging plays the mixture faster or slower and its voice back at speed 1."""
    rng = np.random.default_rng(0)
    t = np.arange(2 * SR) / SR
    x = sum(rng.uniform(0.05, 0.2) * np.sin(2 * np.pi * f * t + rng.uniform(0, 6)) for f in (220, 660, 1500, 3100))
    x = x.astype(np.float32)
    for speed in (0.8, 1.25):
        y = change_speed(change_speed(x, speed), 1 / speed)
        assert abs(len(y) - len(x)) <= 2
        n = min(len(x), len(y))
        core = slice(SR // 10, n - SR // 10)  # the resampler's edges aside
        err = y[core] - x[core]
        assert 10 * np.log10(np.sum(x[core] ** 2) / np.sum(err ** 2)) > 30, speed


def test_speed_averaging_is_the_mean_of_single_speed_passes(separator, test_clips):
    voice, acc = read_clip(test_clips[0])
    x, _ = mix_at_snr(voice[: 3 * SR], acc[: 3 * SR], 0.0)
    one = separator.separate(x, SR)  # the fixture has no stored speeds: one pass
    assert torch.equal(one, separator.separate(x, SR, speeds=(1.0,)))
    passes = {s: separator.separate(x, SR, speeds=(s,))[0] for s in (0.9, 1.0, 1.1)}
    for s in (0.9, 1.1):
        assert not torch.allclose(passes[s], passes[1.0], atol=1e-3)  # another speed is another separation
    calls = []
    tta = separator.separate(x, SR, progress=calls.append, speeds=(0.9, 1.0, 1.1))
    assert tta.shape == (2, len(x)) and torch.allclose(tta.sum(0), torch.from_numpy(x), atol=1e-4)
    assert torch.allclose(tta[0], (passes[0.9] + passes[1.0] + passes[1.1]) / 3, atol=1e-5)
    assert calls == sorted(calls) and calls[-1] == pytest.approx(1.0) and min(calls) <= 1 / 3 + 1e-6


@pytest.mark.parametrize("speeds, overlap", [((), None), ((0.3,), None), ((1.0, 2.5), None), (("fast",), None),
                                             ((float("nan"),), None), (1.0, None), (None, 0), (None, 9),
                                             (None, 1.5), (None, True), (None, "2")])
def test_bad_speeds_or_overlap_are_refused_with_a_sentence(separator, speeds, overlap):
    with pytest.raises(LabError) as exc:
        separator.separate(np.zeros(SR, dtype=np.float32) + 0.01, SR, speeds=speeds, overlap=overlap)
    assert one_sentence(str(exc.value))


def test_overlap_changes_the_patches_not_the_sum(separator, test_clips):
    voice, acc = read_clip(test_clips[1])
    x, _ = mix_at_snr(voice[: 3 * SR], acc[: 3 * SR], 0.0)
    side_by_side, overlapped = (separator.separate(x, SR, overlap=ov) for ov in (1, 2))
    assert torch.equal(overlapped, separator.separate(x, SR))  # untuned: 50 % overlap
    assert not torch.allclose(side_by_side, overlapped, atol=1e-3)
    for out in (side_by_side, overlapped):
        assert torch.allclose(out.sum(0), torch.from_numpy(x), atol=1e-4)
