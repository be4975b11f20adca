"""The Ray backend on a real local Ray instance (loopback, 2 CPUs): a training job, Stop, and a sweep whose runs
are Ray tasks, with the same numbers as the same runs trained here."""
from __future__ import annotations

import time
from pathlib import Path

import pytest

import ray  # the `cluster` extra: requirements.txt installs it for the tests

from vae_core.core.store import read_sidecar
from vae_core.core.cluster import RayJobRunner, connect
from vae_core.core.trainer import train
from vae_core.image.sweep import run_sweep
from vae_core.image.task import TrainConfig

TINY = dict(model="mlp", model_config={"latent_dim": 4, "hidden": [32]}, epochs=1, batch_size=64,
            train_limit=640, val_limit=100, seed=0)


@pytest.fixture(scope="module")
def local_ray(data_dir):
    connect(num_cpus=2)
    yield
    ray.shutdown()


def test_a_job_runs_as_a_ray_task_and_stop_reaches_it(local_ray, tmp_path):
    runner = RayJobRunner(root=tmp_path / "runs", cpus_per_job=1, eval_limit=100)
    assert runner.max_jobs == 2  # the instance's 2 CPUs, one per job
    try:
        done_id = runner.submit(TrainConfig(**{**TINY, "epochs": 2}), name="on ray", owner="ada")
        long_id = runner.submit(TrainConfig(**{**TINY, "epochs": 200, "lr_schedule": "constant"}), name="long")
        done = runner.wait(done_id, timeout=180)
        assert done.status == "done", done.message
        assert done.backend == "ray" and done.owner == "ada" and done.history["epoch"] == [1, 2]
        assert read_sidecar(Path(done.folder))["test_metrics"]["n"] == 100
        assert runner.preview(done_id).shape == (4, 4, 28, 28)

        deadline = time.time() + 180
        while not runner.get(long_id).history.get("epoch"):
            assert time.time() < deadline, "the long job never finished an epoch"
            time.sleep(0.1)
        runner.stop(long_id)
        stopped = runner.wait(long_id, timeout=120)
        assert stopped.status == "stopped" and stopped.message == "Stopped; the best model so far was kept."
        assert stopped.has_checkpoint and len(stopped.history["epoch"]) < 200
    finally:
        runner.close()


def test_a_sweep_runs_its_runs_as_ray_tasks_with_the_numbers_of_a_local_run(local_ray, tmp_path):
    base = TrainConfig(**TINY)
    lines: list[str] = []
    folders = run_sweep(base, [0.0, 1.0], [2], tmp_path / "sweep", sweep="ray-sweep", eval_limit=100,
                        echo=lines.append, backend="ray", cpus_per_run=1)
    assert [f.name for f in folders] == ["beta0-z2", "beta1-z2"]
    assert len(lines) == 2 and all("PSNR" in line for line in lines)
    metas = [read_sidecar(f) for f in folders]
    assert [m["train_config"]["beta"] for m in metas] == [0.0, 1.0]
    assert all(m["sweep"] == "ray-sweep" and m["test_metrics"]["n"] == 100 and m["latent_stats"] for m in metas)
    # The same config and seed trained in this process (one thread, as each Ray task) gives the same numbers.
    here = train(TrainConfig(**{**TINY, "beta": 1.0, "model_config": {"latent_dim": 2, "hidden": [32]}})).history
    assert metas[1]["history"]["train"] == here["train"] and metas[1]["history"]["val"] == here["val"]
