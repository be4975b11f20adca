"""Audio in and out: reading users' recordings (every way a file can be wrong), WAV encoding, resampling,
the MIR-1K.zip download (against a local HTTP server), the spectrogram display, and the audio CLI."""
from __future__ import annotations

import contextlib
import hashlib
import io
import json
import re
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from vae_core.core.mir1k import ORIGINAL_URL, ensure_mir1k, read_clip
from vae_core.audio.demo import DISPLAY_FLOOR_DB, shared_db_range, spectrogram_db
from vae_core.core.audio_io import MAX_SECONDS, AudioInputError, read_audio, resample, wav_bytes
from vae_core.audio.model import AudioConvSeparationVAE
from vae_core.audio.inference import AudioSeparator
from vae_core.core.store import SIDECAR, read_sidecar
from vae_core.core.cli import main
from vae_core.core.errors import DataCorruptError, DataMissingError, DownloadError, LabError

SR = 16000


def one_sentence(message: str) -> bool:
    """A single sentence: non-empty, one line, ends with a full stop, no sentence break inside."""
    return bool(message) and "\n" not in message and message.endswith(".") and \
        re.search(r"[.!?]\s+[A-Z]", message[:-1]) is None


def tone(seconds: float, rate: int = SR, freq: float = 440.0, level: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (level * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def encode(audio: np.ndarray, rate: int, fmt: str, subtype: str | None = None) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, audio, rate, format=fmt, subtype=subtype)
    return buf.getvalue()


def peak_hz(audio: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(len(audio))))
    return float(np.fft.rfftfreq(len(audio), 1 / rate)[np.argmax(spectrum)])


def refused(source, **kwargs) -> str:
    """The message of the AudioInputError that reading ``source`` raises."""
    with pytest.raises(AudioInputError) as exc:
        read_audio(source, **kwargs)
    assert isinstance(exc.value, LabError)
    return str(exc.value)


# --------------------------------------------------------------------------- read_audio: accepted files

def test_mono_wav_decodes_exactly(tmp_path):
    x = tone(1.0)
    path = tmp_path / "mono.wav"
    sf.write(path, x, SR, subtype="PCM_16")
    for source in (path, str(path), path.read_bytes()):
        rec = read_audio(source)
        assert rec.sample_rate == SR and rec.channels == 1 and rec.notes == []
        assert rec.audio.dtype == np.float32 and rec.audio.shape == x.shape
        assert np.allclose(rec.audio, x, atol=1 / 32768)
        assert rec.seconds == pytest.approx(1.0)


def test_stereo_flac_is_mixed_down():
    left, right = tone(1.0, freq=440), tone(1.0, freq=660, level=0.1)
    rec = read_audio(encode(np.stack([left, right], 1), SR, "FLAC"))
    assert rec.channels == 2 and rec.audio.ndim == 1 and len(rec.audio) == SR
    assert any("stereo" in note for note in rec.notes)
    assert np.allclose(rec.audio, (left + right) / 2, atol=2 / 32768)


@pytest.mark.parametrize("fmt", ["OGG", "MP3"])
def test_lossy_formats_decode(fmt):
    x = tone(2.0, rate=44100, freq=1000)
    rec = read_audio(encode(np.stack([x, x], 1), 44100, fmt))
    assert rec.sample_rate == 44100 and rec.channels == 2
    assert abs(len(rec.audio) - len(x)) < 0.05 * len(x)
    assert peak_hz(rec.audio, 44100) == pytest.approx(1000, abs=2)
    assert 0.2 < np.abs(rec.audio).max() < 0.4


def test_96k_is_accepted_and_separated_at_its_rate():
    x = tone(1.5, rate=96000, freq=440) + np.random.default_rng(0).normal(0, 0.02, 144000).astype(np.float32)
    rec = read_audio(encode(x, 96000, "WAV", "PCM_16"))
    assert rec.sample_rate == 96000 and len(rec.audio) == 144000
    torch.manual_seed(0)
    sep = AudioSeparator(AudioConvSeparationVAE(), {"task": "audio"})
    out = sep.separate(rec.audio, rec.sample_rate)
    assert out.shape == (2, 144000)
    assert torch.allclose(out.sum(0), torch.from_numpy(rec.audio), atol=1e-4)


# --------------------------------------------------------------------------- read_audio: refused files

@pytest.mark.parametrize("raw", [np.random.default_rng(0).integers(0, 256, 4000, dtype=np.uint8).tobytes(),
                                 b"These are my lyrics, not a recording.\n" * 50])
def test_not_audio(raw, tmp_path):
    msg = refused(raw)
    assert "not audio" in msg and one_sentence(msg)
    path = tmp_path / "song.wav"  # the name does not make it audio
    path.write_bytes(raw)
    assert "not audio" in refused(path)


def test_empty():
    msg = refused(b"", name="song.mp3")
    assert msg.startswith("song.mp3") and "empty" in msg and one_sentence(msg)


def test_wav_header_only_has_no_samples():
    msg = refused(encode(tone(1.0), SR, "WAV", "PCM_16")[:44])  # the 44-byte header and no data
    assert "no audio samples" in msg and one_sentence(msg)


def test_wav_cut_to_30_bytes():
    # libsndfile sees a RIFF header without a data chunk: reported as a file that cannot be read as audio.
    msg = refused(encode(tone(1.0), SR, "WAV", "PCM_16")[:30])
    assert msg.startswith("The file ") and ("not audio" in msg or "truncated" in msg) and one_sentence(msg)


def test_flac_cut_in_half():
    blob = encode(tone(2.0), SR, "FLAC")
    msg = refused(blob[: len(blob) // 2])
    assert "truncated" in msg and one_sentence(msg)


def test_wav_cut_in_half_decodes_what_is_there():
    # libsndfile reads a WAV whose data chunk is cut short without complaint: the part present is returned.
    x = tone(2.0)
    blob = encode(x, SR, "WAV", "PCM_16")
    rec = read_audio(blob[: len(blob) // 2])
    assert 0.4 * len(x) < len(rec.audio) < 0.6 * len(x)
    assert np.allclose(rec.audio, x[: len(rec.audio)], atol=1 / 32768)


def test_silent():
    msg = refused(encode(np.zeros(SR, np.float32), SR, "WAV", "PCM_16"))
    assert "silent" in msg and one_sentence(msg)


def test_six_channels():
    msg = refused(encode(np.random.default_rng(0).normal(0, 0.1, (SR, 6)), SR, "WAV", "PCM_16"))
    assert "6 channels" in msg and one_sentence(msg)


def test_rate_too_low():
    msg = refused(encode(tone(1.0, rate=2000, freq=200), 2000, "WAV", "PCM_16"))
    assert "2000 Hz" in msg and one_sentence(msg)


def test_too_long_for_the_cap():
    blob = encode(tone(3.0), SR, "WAV", "PCM_16")
    msg = refused(blob, max_seconds=2)
    assert "3 s long" in msg and "2 s" in msg and one_sentence(msg)
    assert len(read_audio(blob, max_seconds=4).audio) == 3 * SR


def test_an_hour_is_refused_from_the_header(tmp_path):
    path = tmp_path / "hour.wav"
    sf.write(path, np.zeros(3600 * 4000, np.float32), 4000, subtype="PCM_U8")
    assert sf.info(path).duration == 3600 > MAX_SECONDS
    msg = refused(path)
    assert "60 minutes" in msg and "10 minutes" in msg and one_sentence(msg)


def test_nan_samples():
    x = tone(1.0)
    x[1000] = np.nan
    msg = refused(encode(x, SR, "WAV", "FLOAT"))
    assert "NaN" in msg and one_sentence(msg)


def test_too_short():
    msg = refused(encode(tone(0.1), SR, "WAV", "PCM_16"))
    assert "100 ms" in msg and one_sentence(msg)


# --------------------------------------------------------------------------- writing and resampling

def test_wav_bytes_keeps_the_level():
    rng = np.random.default_rng(0)
    x = rng.uniform(-0.9, 0.9, SR).astype(np.float32)
    back, rate = sf.read(io.BytesIO(wav_bytes(x, SR)), dtype="float32")
    assert rate == SR and np.allclose(back, x, atol=2 / 32768)

    quiet = (0.001 * rng.standard_normal(SR)).astype(np.float32)
    back, _ = sf.read(io.BytesIO(wav_bytes(quiet, SR)), dtype="float32")
    assert np.abs(back).max() == pytest.approx(np.abs(quiet).max(), abs=2 / 32768)  # not normalised

    loud = np.array([1.5, -1.5, 0.5, -3.0, 1.0], np.float32)
    back, _ = sf.read(io.BytesIO(wav_bytes(loud, SR)), dtype="float32")
    assert np.allclose(back, np.clip(loud, -1, 1), atol=2 / 32768) and np.abs(back).max() <= 1.0

    stereo = np.stack([x, quiet])  # (channels, samples)
    back, _ = sf.read(io.BytesIO(wav_bytes(stereo, SR)), dtype="float32")
    assert back.shape == (SR, 2) and np.allclose(back.T, stereo, atol=2 / 32768)


def test_resample_keeps_frequency_and_length():
    x = tone(1.0, rate=44100, freq=1000)
    y = resample(x, 44100, SR)
    assert y.dtype == np.float32 and len(y) == SR
    assert peak_hz(y, SR) == pytest.approx(1000, abs=1)
    assert np.abs(y[1000:-1000]).max() == pytest.approx(0.3, abs=0.01)
    assert np.array_equal(resample(x, 44100, 44100), x)


# --------------------------------------------------------------------------- MIR-1K.zip download (http_server: conftest)

CLIP_IDS = ("abjones_1_01", "amy_2_03", "Ani_1_01")


def _mir1k_zip() -> tuple[bytes, dict[str, np.ndarray]]:
    """A tiny MIR-1K.zip: three stereo 16 kHz clips (left accompaniment, right voice) and an unrelated WAV."""
    buf, stereo = io.BytesIO(), {}
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("MIR-1K/", b"")
        z.writestr("MIR-1K/Wavfile/", b"")
        for k, cid in enumerate(CLIP_IDS):
            rng = np.random.default_rng(k)
            stereo[cid] = np.round(rng.uniform(-0.3, 0.3, (1600 + 160 * k, 2)) * 32768) / 32768
            z.writestr(f"MIR-1K/Wavfile/{cid}.wav", encode(stereo[cid], SR, "WAV", "PCM_16"))
        z.writestr("MIR-1K/UndividedWavfile/x.wav", encode(stereo[CLIP_IDS[0]], SR, "WAV", "PCM_16"))
        z.writestr("MIR-1K/readme.txt", b"not audio")
    return buf.getvalue(), stereo


def _files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")) if folder.exists() else []


def test_mir1k_missing_names_the_archive(tmp_path):
    with pytest.raises(DataMissingError) as exc:
        ensure_mir1k(tmp_path, download=False)
    assert ORIGINAL_URL in str(exc.value) and "MIR-1K.zip" in str(exc.value)
    assert _files(tmp_path) == []  # looking does not create anything


def test_mir1k_download_and_unpack(http_server, tmp_path):
    base, srv = http_server
    blob, stereo = _mir1k_zip()
    (srv / "MIR-1K.zip").write_bytes(blob)
    root = tmp_path / "root"
    seen = []
    clips = ensure_mir1k(root, download=True, url=base + "MIR-1K.zip", md5=hashlib.md5(blob).hexdigest(),
                         progress=lambda done, total: seen.append(done))
    assert sorted(c.clip_id for c in clips) == sorted(CLIP_IDS)
    split = {c.clip_id: c.split for c in clips}
    assert split == {"abjones_1_01": "train", "amy_2_03": "train", "Ani_1_01": "test"}
    assert seen and seen[-1] == len(blob)
    wavs = root / "mir1k" / "MIR-1K" / "Wavfile"
    assert sorted(p.name for p in wavs.iterdir()) == sorted(f"{c}.wav" for c in CLIP_IDS)
    assert not [p for p in (root / "mir1k").rglob("x.wav")]  # only Wavfile/ is unpacked
    assert not [p for p in (root / "mir1k").rglob("*") if p.name.startswith(".")]  # no temp folder left
    for clip in clips:
        voice, acc = read_clip(clip)
        assert np.array_equal(voice, stereo[clip.clip_id][:, 1].astype(np.float32))
        assert np.array_equal(acc, stereo[clip.clip_id][:, 0].astype(np.float32))
    # Once unpacked, nothing is fetched again (the server is gone for this call's URL).
    assert len(ensure_mir1k(root, download=True, url="http://127.0.0.1:9/none.zip")) == 3


def test_mir1k_wrong_md5(http_server, tmp_path):
    base, srv = http_server
    blob, _ = _mir1k_zip()
    (srv / "MIR-1K.zip").write_bytes(blob)
    root = tmp_path / "root"
    with pytest.raises(DownloadError) as exc:
        ensure_mir1k(root, download=True, url=base + "MIR-1K.zip", md5="0" * 32)
    assert "MIR-1K.zip" in str(exc.value)
    assert not (root / "mir1k" / "MIR-1K" / "Wavfile").exists()
    assert not (root / "mir1k" / "MIR-1K.zip").exists()
    assert _files(root / "mir1k") == []  # no partial download either


def test_mir1k_archive_that_is_not_a_zip(http_server, tmp_path):
    base, srv = http_server
    garbage = np.random.default_rng(5).integers(0, 256, 50_000, dtype=np.uint8).tobytes()
    (srv / "MIR-1K.zip").write_bytes(garbage)
    root = tmp_path / "root"
    with pytest.raises(DataCorruptError) as exc:
        ensure_mir1k(root, download=True, url=base + "MIR-1K.zip", md5=hashlib.md5(garbage).hexdigest())
    assert "MIR-1K.zip" in str(exc.value) and one_sentence(str(exc.value))
    assert not (root / "mir1k" / "MIR-1K" / "Wavfile").exists()
    assert not [p for p in (root / "mir1k").rglob("*") if p.is_dir() and "Wavfile" in p.name]
    assert not [p for p in (root / "mir1k").rglob("*.wav")]


def test_mir1k_existing_archive_with_a_damaged_member(tmp_path):
    wav = encode(np.random.default_rng(0).uniform(-0.3, 0.3, (SR, 2)), SR, "WAV", "PCM_16")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("MIR-1K/Wavfile/amy_1_01.wav", wav)
    blob = bytearray(buf.getvalue())
    for i in range(200, 2000, 7):  # inside the compressed data; the zip directory stays intact
        blob[i] ^= 0xFF
    folder = tmp_path / "mir1k"
    folder.mkdir()
    (folder / "MIR-1K.zip").write_bytes(bytes(blob))
    with pytest.raises(DataCorruptError):
        ensure_mir1k(tmp_path, download=True, url="http://127.0.0.1:9/unused.zip")
    assert not (folder / "MIR-1K" / "Wavfile").exists()


# --------------------------------------------------------------------------- spectrogram display

def test_spectrogram_db_of_a_long_signal_is_chunked_seamlessly():
    rng = np.random.default_rng(0)
    x = (0.1 * rng.standard_normal(70 * SR)).astype(np.float32)
    x[10 * SR: 12 * SR] = 0.0  # two seconds of digital silence
    full = 10**6  # no decimation
    db70, t70, f70 = spectrogram_db(x, SR, max_frames=full)
    db30, t30, _ = spectrogram_db(x[: 30 * SR], SR, max_frames=full)
    hop = 256
    assert db30.shape == (513, 30 * SR // hop) and db70.shape == (513, 70 * SR // hop)  # same frame rate
    assert np.allclose(np.diff(t70), hop / SR) and np.allclose(np.diff(t30), hop / SR)
    assert f70[0] == 0 and f70[-1] == SR / 2
    # Frames away from the 30 s end (where the shorter signal's padding differs) are the same.
    assert np.allclose(db70[:, : db30.shape[1] - 4], db30[:, :-4], atol=1e-3)
    # Around the minute boundary the second chunk continues the first: compare with the last 10 s alone.
    db_tail, _, _ = spectrogram_db(x[60 * SR:], SR, max_frames=full)
    start = 60 * SR // hop
    assert np.allclose(db70[:, start + 4:], db_tail[:, 4:], atol=1e-3)
    assert db70.dtype == np.float32 and db70.min() == DISPLAY_FLOOR_DB and np.isfinite(db70).all()
    silent = slice(10 * SR // hop + 4, 12 * SR // hop - 4)
    assert np.all(db70[:, silent] == DISPLAY_FLOOR_DB)
    # Decimated for display: at most max_frames columns, still spanning the whole signal.
    small, t_small, _ = spectrogram_db(x, SR, max_frames=800)
    assert small.shape[0] == 513 and small.shape[1] <= 800
    assert 69 < t_small[-1] < 70 and small.min() >= DISPLAY_FLOOR_DB
    assert small.max() == pytest.approx(db70.max())  # max over neighbouring frames keeps the peaks


def test_spectrogram_db_just_over_a_minute():
    n = 60 * SR + 320
    db, times, _ = spectrogram_db(np.random.default_rng(1).normal(0, 0.1, n).astype(np.float32), SR,
                                  max_frames=10**6)
    assert db.shape == (513, -(-n // 256)) and len(times) == db.shape[1]


def test_shared_db_range():
    a = np.array([[-80.0, -20.0], [-5.0, -60.0]], np.float32)
    b = np.array([[-30.0, -3.0]], np.float32)
    assert shared_db_range([a, b]) == (-83.0, -3.0)
    assert shared_db_range([a], span_db=60) == (-65.0, -5.0)


# --------------------------------------------------------------------------- CLI

def test_cli_data_status(capsys):
    assert main(["data", "status"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any(line.startswith("MIR-1K: complete (353 clips)") for line in lines), lines


def test_cli_train_audio_bad_beta(tmp_path, capsys):
    out = tmp_path / "never"
    code = main(["train", "audio", "--beta", "-1", "--epochs", "1", "--train-limit", "2", "--val-limit", "1",
                 "--out", str(out)])
    captured = capsys.readouterr()
    assert code == 2
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and "beta" in err[0]
    assert not out.exists()


@pytest.fixture(scope="module")
def cli_checkpoint(tmp_path_factory):
    """``python -m vae_core train audio`` on two clips, one epoch: (exit code, stdout, checkpoint folder)."""
    folder = tmp_path_factory.mktemp("cli") / "a"
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        code = main(["train", "audio", "--epochs", "1", "--train-limit", "2", "--val-limit", "1",
                     "--batch-size", "4", "--out", str(folder)])
    return code, stdout.getvalue(), folder


@pytest.mark.slow
def test_cli_train_audio(cli_checkpoint):
    code, out, folder = cli_checkpoint
    assert code == 0
    assert "epoch 1:" in out and str(folder) in out.splitlines()[-1]
    meta = read_sidecar(folder)
    assert meta["task"] == "audio" and meta["kind"] == "audio-conv"
    assert meta["train_config"]["epochs"] == 1 and meta["train_config"]["train_clips"] == 2
    assert meta["train_config"]["batch_size"] == 4
    assert meta["command"].startswith("python -m vae_core train audio")
    assert (folder / meta["weights"]).is_file() and (folder / SIDECAR).is_file()


@pytest.mark.slow
def test_cli_bench_audio(cli_checkpoint, tmp_path, capsys):
    code, _, folder = cli_checkpoint
    assert code == 0
    report_path = tmp_path / "b.json"
    assert main(["bench", "audio", "--checkpoints", str(folder), "--limit", "1", "--out", str(report_path),
                 "--json"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    report = json.loads(lines[-1])
    assert report == json.loads(report_path.read_text())
    assert set(report["methods"]) == {"model", "oracle_irm", "mixture"}
    assert report["clips"] == 1 and report["checkpoint"] == folder.name
    for r in report["methods"].values():
        assert len(r["gnsdr"]) == len(r["gsir"]) == len(r["gsar"]) == 2
    assert report["methods"]["oracle_irm"]["gnsdr"][0] > 8
    assert report["methods"]["mixture"]["gnsdr"] == [0.0, 0.0]
    assert report["speeds"] == [1.0]  # untuned: one pass
    for key in ("separate_10s_seconds", "separate_10s_one_pass_seconds"):
        t = report[key]
        assert 0 < t["median"] <= t["max"]
    assert report["separate_10s_first_call_seconds"] > 0
    assert "first call" in "\n".join(lines[:-1])


@pytest.mark.slow
def test_cli_eval_tune_and_list_audio(cli_checkpoint, capsys):
    code, _, folder = cli_checkpoint
    assert code == 0
    before = read_sidecar(folder).get("test_metrics")
    assert main(["eval", str(folder), "--limit", "2", "--json"]) == 0
    m = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert m["clips"] == 2 and len(m["gnsdr"]) == 2 and m["checkpoint"] == folder.name
    assert read_sidecar(folder).get("test_metrics") == before  # eval alone only prints
    assert main(["eval", str(folder), "--limit", "2", "--json", "--store"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["gnsdr"] == m["gnsdr"]
    assert read_sidecar(folder)["test_metrics"]["gnsdr"] == m["gnsdr"]  # stored for the pickers and `list`

    assert main(["tune", "audio", str(folder), "--powers", "1,2", "--speed-sets", "1", "0.9,1,1.1",
                 "--overlaps", "2"]) == 0
    out = capsys.readouterr().out
    assert out.count("dev GNSDR voice") == 4 and out.count("<- chosen") == 1
    inference = read_sidecar(folder)["inference"]
    assert inference["mask_power"] in (1.0, 2.0) and inference["speeds"] in ([1.0], [0.9, 1.0, 1.1])
    assert inference["overlap"] == 2
    for bad, message in ((["--powers", "1", "--speed-sets", "1,3"], "error: speeds must be"),
                         (["--powers", "0"], "error: mask power must be"),
                         (["--overlaps", "0"], "error: overlap must be")):
        assert main(["tune", "audio", str(folder), *bad]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith(message) and err[0].endswith("."), err
    assert read_sidecar(folder)["inference"] == inference  # a refused tune leaves the checkpoint as it was
    assert main(["eval", str(folder), "--limit", "1", "--json"]) == 0
    m = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert [m[k] for k in ("mask_power", "speeds", "overlap")] == [inference[k] for k in ("mask_power", "speeds",
                                                                                        "overlap")]  # as tuned
    assert main(["tune", "audio", "no-such-checkpoint"]) == 2
    assert capsys.readouterr().err.startswith("error: No checkpoint called")


@pytest.mark.slow
def test_cli_train_audio_init_from(cli_checkpoint, tmp_path, capsys):
    code, _, folder = cli_checkpoint
    assert code == 0
    out = tmp_path / "continued"
    assert main(["train", "audio", "--epochs", "1", "--train-limit", "2", "--val-limit", "1", "--batch-size", "4",
                 "--init-from", str(folder), "--out", str(out)]) == 0
    assert read_sidecar(out)["train_config"]["init_from"] == str(folder)
    # A checkpoint of another shape is refused in one sentence.
    assert main(["train", "audio", "--epochs", "1", "--train-limit", "2", "--latent-channels", "3",
                 "--init-from", str(folder), "--out", str(tmp_path / "other")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "other model settings" in err[0]
