"""A short real training run of the effects map (through the shared trainer), its scores, the inference API, and
the commands."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from vae_core.core.errors import LabError
from vae_core.core.inference import load_checkpoint
from vae_core.core.trainer import train
from vae_core.effects.evaluation import evaluate_embedder
from vae_core.effects.task import preset

EFFECTS = ("clean", "reverb", "lowpass")


@pytest.fixture(scope="module")
def short_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("effects") / "run"
    cfg = preset("quick", effects=EFFECTS, epochs=2, steps=12, batch_size=16, kl_anneal_epochs=0.0)
    result = train(cfg, out_dir=out)
    return out, result


@pytest.mark.slow
def test_a_short_run_learns_and_its_checkpoint_embeds_what_an_effect_did(short_run):
    out, result = short_run
    val = result.history["val"]
    assert val["total"][-1] < val["total"][0]  # two epochs of fresh audio: the loss falls
    assert 0 <= result.history["val_knn_acc"][-1] <= 1
    emb = load_checkpoint(out)
    assert emb.task == "effects" and emb.paired and emb.effects == EFFECTS
    metrics = evaluate_embedder(emb, limit=6)
    assert metrics["n_effects"] == 3 and metrics["test_files"] == 6 and metrics["test_examples"] == 18
    for key in ("probe_acc", "knn_acc", "pca_knn_acc", "pca_diff_knn_acc", "random_knn_acc"):
        assert 0 <= metrics[key] <= 1
    assert -1 <= metrics["silhouette"] <= 1 and 0 <= metrics["active_units"] <= metrics["latent_dim"]
    # The inference API: an effect applied to a recording, then embedded.
    rng = np.random.default_rng(0)
    recording = (rng.standard_normal(3 * 44100) * 0.1).astype(np.float32)
    dry, wet, z = emb.place(recording, 44100, "lowpass", {"cutoff_hz": 400.0})
    assert dry.shape == wet.shape == (32512,) and z.shape == (emb.embedding_dim,)
    assert np.allclose(emb.embed([wet], [dry])[0], z, atol=1e-5)
    decoded = emb.decode(z, dry=emb.features([wet], [dry])[0, 1].numpy())
    assert decoded.shape == (64, 128) and 0 <= decoded.min() and decoded.max() <= 1
    with pytest.raises(LabError, match="needs the dry segment"):
        emb.embed([wet])
    with pytest.raises(LabError, match="cutoff_hz must be between"):
        emb.place(recording, 44100, "lowpass", {"cutoff_hz": 20000.0})


@pytest.mark.slow
def test_bench_effects_prints_its_numbers_and_one_json_line(short_run):
    out, _ = short_run
    run = subprocess.run([sys.executable, "-m", "vae_core", "bench", "effects", "--checkpoints", str(out), "--limit",
                          "4", "--json"], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "latent means minus PCA" in run.stdout and "placing a 30-s upload" in run.stdout
    report = json.loads(run.stdout.strip().splitlines()[-1])
    for key in ("n_effects", "probe_acc", "knn_acc", "silhouette", "pca_knn_acc", "pca_silhouette",
                "place_upload_s", "place_upload_first_s"):
        assert key in report
    assert report["n_effects"] == 3


def test_a_music_checkpoint_given_to_bench_effects_gets_one_sentence():
    run = subprocess.run([sys.executable, "-m", "vae_core", "bench", "effects", "--checkpoints", "music-spec"],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert "music" in run.stderr and run.stderr.strip().endswith(".")
