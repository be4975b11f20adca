"""CDPAM features: the weights are read without running code, converted once to safetensors, and embed real music
differently from noise. Uses the real cdpam 0.0.6 wheel (requirements.txt) and a GTZAN clip."""
from __future__ import annotations

import collections
import importlib.util
import io
import os
import pickle
import pickletools
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import safetensors
import safetensors.torch
import soundfile as sf
import torch

from vae_core.core import cdpam_features as cf
from vae_core.core.audio_io import resample
from vae_core.core.errors import LabError

CLIP = Path("gtzan-classical-derived") / "clips" / "classical.00003.flac"


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory) -> Path:
    """A model cache for this module: the weights are converted into it once, by the first test that needs them."""
    path = tmp_path_factory.mktemp("models")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VAE_MODELS_DIR", str(path))
        yield path


def one_sentence(message: str) -> bool:
    return message.endswith(".") and "\n" not in message and ". " not in message.replace("e.g. ", "")


class RunsACommand:
    """Unpickling this runs ``touch <marker>`` through os.system: what a malicious checkpoint would do."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


# --------------------------------------------------------------------------- the restricted unpickler

def test_the_allowlist_is_exactly_what_the_weights_file_names():
    """Every global in the file's five pickles is allowed, nothing else is; and the file uses the INT opcode that
    torch.load(weights_only=True) refuses (the reason for the custom unpickler)."""
    globals_, opcodes = set(), set()
    with open(cf.cdpam_weights_source(), "rb") as f:
        for _ in range(5):  # magic number, protocol, system info, the checkpoint, storage keys; then raw data
            for op, arg, _ in pickletools.genops(f):
                opcodes.add(op.name)
                if op.name == "GLOBAL":
                    globals_.add(tuple(arg.split(" ")))
                assert op.name != "STACK_GLOBAL"
    assert globals_ == set(cf.ALLOWED_GLOBALS)
    assert "INT" in opcodes


@pytest.mark.parametrize("protocol", [0, 2, 4])
def test_a_pickle_that_calls_os_system_is_refused_and_runs_nothing(tmp_path, protocol):
    marker = tmp_path / "pwned"
    payload = pickle.dumps(RunsACommand(marker), protocol=protocol)
    with pytest.raises(pickle.UnpicklingError, match="system is not allowed"):
        cf.RestrictedUnpickler(io.BytesIO(payload)).load()
    assert not marker.exists()
    # The payload is live: a plain unpickler (in another process) does run the command.
    subprocess.run([sys.executable, "-c", "import pickle, sys; pickle.loads(sys.stdin.buffer.read())"],
                   input=payload, check=True, timeout=60)
    assert marker.exists()


@pytest.mark.parametrize("target", [collections.Counter, getattr, eval, torch.load, shutil.rmtree])
def test_any_other_global_is_refused_however_harmless(target):
    payload = pickle.dumps(target, protocol=2)
    with pytest.raises(pickle.UnpicklingError, match="is not allowed"):
        cf.RestrictedUnpickler(io.BytesIO(payload)).load()


def test_allowed_globals_and_protocol_0_integers_are_read():
    data = collections.OrderedDict(a=1, b=-7, c=2**40)
    payload = pickle.dumps(data, protocol=0)
    assert "INT" in {op.name for op, _, _ in pickletools.genops(payload)}
    loaded = cf.RestrictedUnpickler(io.BytesIO(payload)).load()
    assert loaded == data and type(loaded) is collections.OrderedDict


def test_a_crafted_legacy_checkpoint_is_refused_by_the_loader(tmp_path):
    """The same file layout as CDPAM's weights, with a main pickle that would run a command."""
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    with open(path, "wb") as f:
        pickle.dump(torch.serialization.MAGIC_NUMBER, f, protocol=2)
        pickle.dump(torch.serialization.PROTOCOL_VERSION, f, protocol=2)
        pickle.dump({"protocol_version": 1001, "little_endian": True}, f, protocol=2)
        pickle.dump({"state": RunsACommand(marker)}, f, protocol=2)
        pickle.dump([], f, protocol=2)
    with pytest.raises(cf.FeatureModelError) as info:
        cf.read_legacy_state(path)
    assert "refused" in str(info.value) and "system" in str(info.value)
    assert one_sentence(str(info.value))
    assert not marker.exists()


# --------------------------------------------------------------------------- conversion and loading

def test_the_converted_safetensors_equals_what_the_restricted_unpickler_read(models_dir):
    path = cf.converted_weights_path()
    assert path.parent == models_dir and path.suffix == ".safetensors"
    converted = safetensors.torch.load_file(str(path))
    original = cf.read_legacy_state(cf.cdpam_weights_source())
    assert list(converted) != [] and sorted(converted) == sorted(original)
    for name, tensor in original.items():
        assert converted[name].dtype == tensor.dtype and torch.equal(converted[name], tensor), name
    assert sum(t.numel() for t in converted.values()) == 26_224_908
    with safetensors.safe_open(str(path), "pt") as f:
        assert f.metadata()["sha256"] == cf.WEIGHTS_SHA256


def test_the_conversion_is_written_once(models_dir):
    path = cf.converted_weights_path()
    before = path.stat()
    for _ in range(2):
        assert cf.converted_weights_path() == path
    after = path.stat()
    assert (after.st_ino, after.st_mtime_ns, after.st_size) == (before.st_ino, before.st_mtime_ns, before.st_size)
    assert sorted(p.name for p in models_dir.iterdir()) == [path.name]  # no temporary file left behind


def test_the_encoder_loads_from_the_cache_and_leaves_the_callers_random_state_alone(models_dir, tmp_path,
                                                                                     monkeypatch):
    cache = tmp_path / "copy"
    cache.mkdir()
    shutil.copy(cf.converted_weights_path(), cache)
    monkeypatch.setenv("VAE_MODELS_DIR", str(cache))
    torch.manual_seed(123)
    state = torch.get_rng_state()
    encoder = cf.cdpam_encoder()
    assert torch.equal(torch.get_rng_state(), state)
    assert cf.cdpam_encoder() is encoder  # built once
    assert not encoder.training
    params = list(encoder.parameters())
    assert params and all(p.device.type == "cpu" and not p.requires_grad for p in params)
    weights = safetensors.torch.load_file(str(cache / cf.converted_weights_path().name))
    assert torch.equal(encoder.encoder[15].weight, weights["base_encoder.encoder.15.weight"])
    assert sorted(p.name for p in cache.iterdir()) == [cf.converted_weights_path().name]


@pytest.mark.parametrize("damage", ["missing key", "truncated"])
def test_a_cache_file_that_is_not_cdpams_weights_is_refused(models_dir, tmp_path, monkeypatch, damage):
    good = cf.converted_weights_path()
    bad = tmp_path / "bad" / good.name
    bad.parent.mkdir()
    if damage == "missing key":
        state = safetensors.torch.load_file(str(good))
        del state["base_encoder.ebatch.3.running_var"]
        safetensors.torch.save_file(state, str(bad))
    else:
        bad.write_bytes(good.read_bytes()[:1000])
    monkeypatch.setenv("VAE_MODELS_DIR", str(bad.parent))
    with pytest.raises(cf.FeatureModelError) as info:
        cf.cdpam_encoder()
    assert str(bad) in str(info.value) and "delete it" in str(info.value)
    assert one_sentence(str(info.value).replace(str(bad), "FILE"))


def test_without_cdpam_installed_the_error_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setenv("VAE_MODELS_DIR", str(tmp_path))
    monkeypatch.setattr(sys, "path", [p for p in sys.path if not (Path(p or ".") / "cdpam").is_dir()])
    assert importlib.util.find_spec("cdpam") is None
    with pytest.raises(LabError) as info:
        cf.cdpam_embeddings(np.zeros(cf.SAMPLE_RATE, dtype=np.float32), cf.SAMPLE_RATE)
    assert "pip install cdpam==0.0.6" in str(info.value) and one_sentence(str(info.value))
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- embeddings

@pytest.mark.slow
def test_embeddings_of_music_and_noise(models_dir, data_dir):
    """Seven 1-second frames through the 16-layer encoder (a few seconds on one thread)."""
    music, rate = sf.read(data_dir / CLIP, dtype="float32", start=5 * 22050, frames=2 * 22050)
    assert rate == cf.SAMPLE_RATE == 22050
    noise = np.random.default_rng(0).standard_normal(int(1.5 * rate)).astype(np.float32) * music.std()

    emb = cf.cdpam_embeddings([music, noise], rate)
    # Two frames of music, then the noise's full second and its last half second.
    assert emb.shape == (4, cf.EMBEDDING_DIM) and cf.EMBEDDING_DIM == 512 and emb.dtype == np.float32
    assert np.linalg.norm(emb, axis=1) == pytest.approx(1.0, abs=1e-5)
    cos = emb @ emb.T
    assert cos[0, 1] > 0.7 and cos[2, 3] > 0.7  # frames of the same sound are alike ...
    assert cos[:2, 2:].max() < 0.6  # ... and music is far from noise

    # Deterministic, and a clip's rows do not depend on the clips embedded with it.
    assert np.array_equal(cf.cdpam_embeddings(music, rate), emb[:2])

    # Other rates are resampled to 22,050 Hz first: the same second at 44.1 kHz embeds (almost) the same.
    at_44k = cf.cdpam_embeddings(resample(music[:rate], rate, 44100)[None], 44100)
    assert at_44k.shape == (1, 512)
    assert np.abs(at_44k[0] - emb[0]).max() < 1e-3


@pytest.mark.slow
def test_embeddings_are_kept_by_content_and_a_damaged_copy_is_recomputed(models_dir, data_dir):
    music, rate = sf.read(data_dir / CLIP, dtype="float32", start=8 * 22050, frames=22050)
    path = cf.embeddings_cache_path([music], rate)
    assert not path.exists()
    first = cf.cdpam_embeddings(music, rate)
    assert np.array_equal(np.load(path), first)
    # Other samples, or the same samples at another rate, are other rows.
    louder = music * 0.5
    assert cf.embeddings_cache_path([louder], rate) != path
    assert cf.embeddings_cache_path([music], 44100) != path
    # A kept copy is what the next call returns ...
    np.save(path, np.zeros_like(first))
    assert not cf.cdpam_embeddings(music, rate).any()
    # ... and one that cannot be read is computed again and replaced.
    path.write_bytes(b"not an array")
    again = cf.cdpam_embeddings(music, rate)
    assert np.array_equal(again, first) and np.array_equal(np.load(path), first)


@pytest.mark.parametrize(("waveforms", "rate", "words"), [
    (np.zeros(int(0.3 * 22050), dtype=np.float32), 22050, "at least half a second"),
    ([np.ones(22050), np.full(22050, np.nan)], 22050, "Clip 1 contains NaN"),
    (np.zeros((2, 2, 22050)), 22050, "one mono clip"),
    ([np.zeros((22050, 2))], 22050, "one mono clip"),
    ([], 22050, "one mono clip"),
    (np.zeros(22050), 0, "positive whole number"),
    (np.zeros(22050), 22050.5, "positive whole number"),
])
def test_bad_waveforms_raise_one_sentence(waveforms, rate, words):
    with pytest.raises(cf.FeatureModelError) as info:
        cf.cdpam_embeddings(waveforms, rate)
    assert words in str(info.value) and one_sentence(str(info.value))
