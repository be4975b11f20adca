"""Killing a process mid-run leaves a loadable checkpoint and a readable job history (atomic writes)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from vae_core.core.checkpoints import SIDECAR, load_model
from vae_core.core.jobs import JOB_FILE, LocalJobRunner

ROOT = Path(__file__).resolve().parents[2]

# A job runner in its own process, training a tiny model for many short epochs (a checkpoint write each time
# validation improves), so that a kill lands during or between writes.
RUNNER_SCRIPT = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from vae_core.core.jobs import LocalJobRunner
    from vae_core.image.task import TrainConfig
    runner = LocalJobRunner(root=Path(sys.argv[1]))
    cfg = TrainConfig(model="mlp", model_config={"latent_dim": 4, "hidden": [32]}, epochs=200, batch_size=64,
                      train_limit=640, val_limit=64, lr_schedule="constant")
    job = runner.submit(cfg, name="killme")
    print("started", flush=True)
    runner.wait(job)
""")


def _wait_for(predicate, timeout: float = 60.0) -> None:
    deadline = time.time() + timeout
    while not predicate():
        assert time.time() < deadline, "timed out"
        time.sleep(0.02)


@pytest.mark.parametrize("extra_delay", [0.0, 0.37, 1.1])
def test_sigkill_mid_run_leaves_a_loadable_checkpoint_and_history(tmp_path, extra_delay):
    root = tmp_path / "runs"
    proc = subprocess.Popen([sys.executable, "-c", RUNNER_SCRIPT, str(root)], cwd=ROOT,
                            env={**os.environ, "OMP_NUM_THREADS": "1"}, stdout=subprocess.PIPE, text=True)
    try:
        _wait_for(lambda: any(root.glob(f"*/{SIDECAR}")))
        time.sleep(extra_delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    (folder,) = [p for p in root.iterdir() if p.is_dir()]
    model, meta = load_model(folder)  # verifies the weights against the sidecar's sha256
    assert meta["history"]["epoch"] and meta["best_epoch"] >= 1
    json.loads((folder / JOB_FILE).read_text())  # never half-written
    # A runner started afterwards (a server restart) shows the run as interrupted, with its model kept.
    (job,) = LocalJobRunner(root=root).jobs()
    assert job.status == "stopped" and "restart" in job.message
    assert job.has_checkpoint
