"""Training the music VAE through the shared trainer on real clips, and the music commands as users run them."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from vae_core.core.trainer import train
from vae_core.core.gtzan import find_clips, split_clips
from vae_core.music.task import MusicTask, preset

ROOT = Path(__file__).resolve().parents[2]
TINY_SPEC = {"hidden": 32, "latent_channels": 4}


@pytest.mark.slow
def test_a_short_real_data_run_lowers_the_reconstruction_loss_and_records_the_split(tmp_path):
    cfg = preset("default", model_config=TINY_SPEC, epochs=4, train_clips=8, batch_size=16, kl_anneal_epochs=0.0,
                 free_bits=0.0)
    result = train(cfg, out_dir=tmp_path / "run")
    recon = result.history["val"]["recon"]
    assert len(recon) == 4 and recon[-1] < 0.8 * recon[0]
    assert result.history["val_lsd_db"][-1] < result.history["val_lsd_db"][0]
    meta = json.loads((tmp_path / "run" / "checkpoint.json").read_text())
    split = meta["data"]["music_split"]
    assert split["test"] == [c.clip_id for c in split_clips(find_clips())[1]]
    assert not set(split["val"]) & set(split["test"])


def test_the_live_preview_is_a_picture_of_input_and_reconstruction():
    task = MusicTask(preset("default", model_config=TINY_SPEC, train_clips=3))
    picture = task.preview(task.build_model())
    assert picture.ndim == 2 and picture.shape[0] == 513 and 0 <= picture.min() and picture.max() <= 1


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vae_core", *args], cwd=ROOT, capture_output=True, text=True,
                          env=dict(os.environ), timeout=600)


@pytest.mark.slow
def test_train_music_then_generate_wav_files(tmp_path):
    run = tmp_path / "course"
    r = cli("train", "music", "--preset", "course-base", "--epochs", "1", "--train-limit", "3", "--out", str(run))
    assert r.returncode == 0, r.stderr
    assert "log-spectral distance" in r.stdout and "test clips 18" in r.stdout
    meta = json.loads((run / "checkpoint.json").read_text())
    assert meta["train_config"]["epochs"] == 1 and meta["train_config"]["model_config"]["latent_dim"] == 2
    assert meta["train_config"]["beta"] == 1.0  # the preset's, not the generic flag's
    r = cli("generate", str(run), "--n", "2", "--seconds", "3", "--seed", "4", "--out", str(tmp_path / "wav"))
    assert r.returncode == 0, r.stderr
    files = sorted((tmp_path / "wav").glob("*.wav"))
    assert len(files) == 2
    audio, rate = sf.read(files[0])
    assert rate == 3000 and len(audio) == 9000 and np.isfinite(audio).all()
    for flags in (("--seconds", "-3"), ("--temperature", "nan"), ("--n", "100000")):
        r = cli("generate", str(run), *flags, "--out", str(tmp_path / "bad"))
        lines = [line for line in r.stderr.strip().splitlines() if line]
        assert r.returncode != 0 and len(lines) == 1 and "Traceback" not in r.stderr, (flags, r.stderr)
    assert not (tmp_path / "bad").exists() or not list((tmp_path / "bad").iterdir())
    assert meta["latent_prior"]["steps"] > 0  # train fits the prior to the training clips' codes
    r = cli("generate", str(run), "--n", "1", "--seconds", "3", "--prior", "fitted", "--out", str(tmp_path / "fit"))
    assert r.returncode == 0 and "fitted prior" in r.stdout, r.stderr
    shipped = tmp_path / "music-spec"  # a copy: --store writes into the checkpoints it scores
    shutil.copytree(ROOT / "checkpoints" / "music-spec", shipped)
    r = cli("fd-table", "--checkpoints", str(run), str(shipped), "--clips", "2", "--generated", "6", "--extractors",
            "course", "--store")
    assert r.returncode == 0, r.stderr
    assert all(name in r.stdout for name in ("floor", "ceiling", "noise", str(run), str(shipped)))
    assert json.loads((shipped / "checkpoint.json").read_text())["frechet"]["course_rows"] == 6  # 5 s at 3 kHz
    stored = json.loads((run / "checkpoint.json").read_text())["frechet"]
    assert stored["course_test"] >= 0 and stored["course_rows"] == 6  # one 2.7 s segment per 5 s clip


@pytest.mark.parametrize("args", [("generate", "image-conv"), ("generate", "audio-conv", "--n", "1")])
def test_a_separation_checkpoint_given_to_generate_gets_one_sentence(args):
    r = cli(*args)
    assert r.returncode != 0
    lines = [line for line in r.stderr.strip().splitlines() if line]
    assert len(lines) == 1 and "music" in lines[0] and "Traceback" not in r.stderr


@pytest.mark.parametrize("args", [("bench", "image", "--checkpoints", "music-spec"),
                                  ("tune", "audio", "music-spec")])
def test_a_music_checkpoint_given_to_a_separation_command_gets_one_sentence(args):
    r = cli(*args)
    lines = [line for line in r.stderr.strip().splitlines() if line]
    assert r.returncode != 0 and len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    assert "music" in lines[0]
