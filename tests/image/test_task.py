"""Integration: short training runs on the real MNIST + Fashion-MNIST data."""
from __future__ import annotations

import threading

import pytest
import torch

from vae_core.core.checkpoints import load_model

from vae_core.core.store import read_sidecar
from vae_core.core.errors import ConfigError
from vae_core.image.evaluation import evaluate_separator
from vae_core.image.loss import LOSS_TERMS
from vae_core.image.mixing import load_pairs
from vae_core.image.inference import ImageSeparator
from vae_core.core.trainer import Callbacks, train
from vae_core.image.task import TrainConfig

QUICK = dict(model="mlp", model_config={"latent_dim": 16}, epochs=2, batch_size=128, beta=1.0,
             train_limit=8000, val_limit=500, seed=3)


@pytest.mark.slow
def test_short_training_beats_mixture_baseline(tmp_path):
    result = train(TrainConfig(**QUICK), out_dir=tmp_path / "run")
    test = load_pairs("test", 0, limit=2000)
    metrics = evaluate_separator(ImageSeparator(result.model, {}), pairs=test)
    baseline = metrics["mixture_baseline"]["psnr_mean"]
    assert 13.0 < baseline < 14.2  # the mixture itself scores 13.55 dB on all 10,000 pairs
    assert metrics["projected"]["psnr_mean"] > baseline + 1.5
    assert metrics["raw"]["psnr_mean"] > 12.0
    # The best-validation model was written and loads back to the same outputs.
    model, meta = load_model(tmp_path / "run")
    x = torch.rand(4, 28, 28)
    assert torch.allclose(model(x).sources, result.model(x).sources)
    assert meta["best_epoch"] == result.best_epoch
    for split in ("train", "val"):
        assert set(meta["history"][split]) == set(LOSS_TERMS)
        assert len(meta["history"][split]["total"]) == 2
    # Training lowers the validation loss.
    assert meta["history"]["val"]["total"][1] < meta["history"]["val"]["total"][0]


def test_same_config_and_seed_give_same_numbers():
    cfg = dict(QUICK, epochs=1, train_limit=1500, val_limit=200)
    a = train(TrainConfig(**cfg)).history
    b = train(TrainConfig(**cfg)).history
    c = train(TrainConfig(**dict(cfg, seed=4))).history
    assert a["train"] == b["train"] and a["val"] == b["val"]
    assert a["train"]["total"] != c["train"]["total"]


def test_callbacks_and_stop_event_keep_best_model(tmp_path):
    stop = threading.Event()
    steps, epochs = [], []

    class Recorder(Callbacks):
        def on_step(self, info):
            steps.append(info)
            if info["step"] == 5:
                stop.set()

        def on_epoch(self, record):
            epochs.append(record)

    result = train(TrainConfig(**dict(QUICK, epochs=3)), Recorder(), stop, out_dir=tmp_path / "run")
    assert result.stopped
    assert len(steps) == 5 and steps[-1]["progress"] < 0.1
    assert len(epochs) == 1 and epochs[0]["epoch"] < 1  # a partial epoch is recorded as a fraction
    assert read_sidecar(tmp_path / "run")["best_epoch"] == 1


def test_kl_annealing_ramps_beta():
    betas = []

    class Recorder(Callbacks):
        def on_step(self, info):
            betas.append(info["beta"])

    train(TrainConfig(**dict(QUICK, epochs=1, train_limit=1280, val_limit=100, kl_anneal_epochs=2.0)), Recorder())
    assert betas[0] == 0.0 and 0.4 < betas[-1] < 0.5  # halfway through a 2-epoch ramp to beta = 1


@pytest.mark.parametrize("bad", [dict(beta=-1.0), dict(epochs=0), dict(lr=0.0), dict(weight=1.0),
                                 dict(model="rnn"), dict(model_config={"latent_dim": 0}), dict(seed=-1),
                                 dict(seed=2**70)])
def test_invalid_config_is_refused_with_a_sentence(bad):
    with pytest.raises(ConfigError) as info:
        TrainConfig(**dict(QUICK, **bad)).validate()
    assert str(info.value).endswith(".")


def test_concurrent_runs_give_the_same_numbers_as_a_run_alone():
    """Two runs in threads at once (VAE_MAX_JOBS > 1) must not disturb each other's random streams."""
    cfg = dict(QUICK, epochs=1, train_limit=1280, val_limit=100)
    alone = train(TrainConfig(**cfg)).history["train"]["total"]
    results = {}

    def run(key, seed):
        results[key] = train(TrainConfig(**dict(cfg, seed=seed))).history["train"]["total"]

    threads = [threading.Thread(target=run, args=(k, s)) for k, s in (("a", cfg["seed"]), ("b", cfg["seed"] + 1))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results["a"] == alone
    assert results["b"] != alone
