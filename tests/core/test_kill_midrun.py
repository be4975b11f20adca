"""Killing a training worker mid-run leaves a loadable checkpoint and a readable job history (atomic writes),
and the run is shown as interrupted, by the runner that watched it and by one started afterwards."""
from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from vae_core.core.checkpoints import load_model

from vae_core.core.store import SIDECAR
from vae_core.core.jobs import JOB_FILE, LocalJobRunner
from vae_core.image.task import TrainConfig


def _wait_for(predicate, timeout: float = 60.0) -> None:
    deadline = time.time() + timeout
    while not predicate():
        assert time.time() < deadline, "timed out"
        time.sleep(0.02)


@pytest.mark.parametrize("extra_delay", [0.0, 0.37, 1.1])
def test_sigkill_mid_run_leaves_a_loadable_checkpoint_and_history(tmp_path, extra_delay):
    # A tiny model for many short epochs (a checkpoint write each time validation improves), so that the kill
    # lands during or between writes.
    root = tmp_path / "runs"
    runner = LocalJobRunner(root=root)
    cfg = TrainConfig(model="mlp", model_config={"latent_dim": 4, "hidden": [32]}, epochs=200, batch_size=64,
                      train_limit=640, val_limit=64, lr_schedule="constant")
    job_id = runner.submit(cfg, name="killme")
    try:
        _wait_for(lambda: any(root.glob(f"*/{SIDECAR}")))
        time.sleep(extra_delay)
        pid = runner.get(job_id).pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        state = runner.wait(job_id, timeout=60)
    finally:
        runner.close()
    (folder,) = [p for p in root.iterdir() if p.is_dir()]
    model, meta = load_model(folder)  # verifies the weights against the sidecar's sha256
    assert meta["history"]["epoch"] and meta["best_epoch"] >= 1
    json.loads((folder / JOB_FILE).read_text())  # never half-written
    assert state.status == "interrupted" and "killed by signal 9" in state.message
    assert state.has_checkpoint and "best model so far was kept" in state.message
    # A runner started afterwards (a server restart) agrees.
    (job,) = LocalJobRunner(root=root).jobs()
    assert job.status == "interrupted" and job.has_checkpoint
    assert Path(job.folder) == folder
