"""Training jobs (vae_core.core.jobs.LocalJobRunner): lifecycle, stop and cancel, queue, failures, restarts, caps.

Every job is tiny (an MLP with one hidden layer of 32 on a few hundred real training pairs, scored on 200 test
mixtures), so each trains in a second or two (plus a few seconds for its worker process to start). Jobs run in
worker processes: the ``make_runner`` fixture stops every job of its runners and waits for their workers to end
before the test ends.
"""
from __future__ import annotations

import json
import math
import os
import shutil
import signal
import threading
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest

from vae_core.core.checkpoints import load_model

from vae_core.core.store import SIDECAR, list_checkpoints, read_sidecar
from vae_core.core.errors import ConfigError, LabError
from vae_core.core import jobs
from vae_core.core.jobs import ACTIVE, JOB_FILE, JobState, LocalJobRunner, folder_size_mb
from vae_core.audio.task import AudioTrainConfig
from vae_core.image.task import TrainConfig
from vae_core.core.trainer import train

TINY = dict(model="mlp", model_config={"latent_dim": 4, "hidden": [32]}, epochs=1, batch_size=64,
            train_limit=640, val_limit=100, seed=0)
EVAL_LIMIT = 200  # test mixtures a finished job is scored on (all 10,000 take minutes of SSIM on 2 cores)
WAIT_S = 60  # generous: the machine may be busy


def tiny(**overrides) -> TrainConfig:
    values = {**TINY, **overrides}
    values["model_config"] = dict(values["model_config"])
    return TrainConfig(**values)


LONG_STEPS_PER_EPOCH = 2000 // 64  # long_config: 2000 training pairs in batches of 64, ragged batch dropped


def long_config(**overrides) -> TrainConfig:
    """Many short epochs (LONG_STEPS_PER_EPOCH = 31 steps each): runs until stopped, with a checkpoint after its first epoch."""
    return tiny(**{"epochs": 50, "train_limit": 2000, "lr_schedule": "constant", **overrides})


def wait_until(predicate, timeout: float = WAIT_S, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)
    return value


@pytest.fixture
def make_runner(tmp_path):
    """``make_runner(root=None, **kwargs)`` -> a LocalJobRunner over ``tmp_path/'runs'`` (by default) whose jobs
    are all stopped and whose training threads are joined when the test ends."""
    runners: list[LocalJobRunner] = []

    def make(root: Path | None = None, **kwargs) -> LocalJobRunner:
        kwargs.setdefault("eval_limit", EVAL_LIMIT)
        runner = LocalJobRunner(root=root or tmp_path / "runs", **kwargs)
        runners.append(runner)
        return runner

    yield make
    for runner in runners:
        runner.close(stop_jobs=True, timeout=WAIT_S)
        assert not runner._live, "a worker process did not end"


@pytest.fixture
def runner(make_runner) -> LocalJobRunner:
    return make_runner()


def job_file(job: JobState) -> dict:
    return json.loads((Path(job.folder) / JOB_FILE).read_text())


# --------------------------------------------------------------------------- lifecycle


def test_job_lifecycle_writes_a_listed_checkpoint(make_runner, tmp_path, monkeypatch):
    root = tmp_path / "user-runs"
    monkeypatch.setenv("VAE_RUNS_DIR", str(root))
    runner = make_runner(root)
    assert runner.jobs() == []
    job_id = runner.submit(tiny(epochs=2), name="My first run!")

    seen, progress, scoring = [], [], []
    while (state := runner.get(job_id)).status in ACTIVE:
        if not seen or seen[-1] != state.status:
            seen.append(state.status)
        progress.append(state.progress)
        if state.scoring_progress is not None:
            scoring.append(state.scoring_progress)
        time.sleep(0.01)
    assert seen == ["running"]  # a free slot: it starts at once (the queued state is tested below)
    assert runner.queue_position(job_id) is None
    assert progress == sorted(progress) and all(0 <= p <= 1 for p in progress)

    assert state.status == "done" and state.message is None
    assert state.progress == 1.0 and state.eta_s is None
    # The final scoring reported its own progress, up to all of the test data.
    assert state.scoring_progress == 1.0 and scoring == sorted(scoring)
    assert state.created <= state.started <= state.finished and state.elapsed_s > 0
    # The worker times its phases; together they fit in the job's time (the page shows them when it is done).
    assert set(state.timings) == {"loading_s", "training_s", "scoring_s"}
    assert all(t > 0 for t in state.timings.values()) and sum(state.timings.values()) <= state.elapsed_s + 0.05
    assert state.name.startswith("my-first-run-")
    # Per-epoch history and the live step curve (10 steps per epoch: 640 pairs, batch 64).
    h = state.history
    assert h["epoch"] == [1, 2] and len(h["val_psnr"]) == 2 and len(h["val_psnr_projected"]) == 2
    assert len(h["train"]["total"]) == len(h["val"]["total"]) == 2
    assert all(math.isfinite(v) for v in h["train"]["total"] + h["val"]["total"])
    assert {k: len(v) for k, v in state.steps.items()} == {"epoch": 20, "total": 20, "recon": 20, "kl": 20}
    assert state.steps["epoch"][0] == pytest.approx(0.1) and state.steps["epoch"][-1] == pytest.approx(2.0)
    assert state.steps["epoch"] == sorted(state.steps["epoch"])
    # The checkpoint folder: sidecar with the run's config, history and test metrics, loadable weights.
    folder = Path(state.folder)
    assert folder.parent == root
    assert (folder / SIDECAR).is_file() and state.has_checkpoint
    meta = read_sidecar(folder)
    assert meta["job_id"] == job_id and meta["origin"] == "app" and meta["name"] == state.name
    assert meta["train_config"] == state.config
    assert meta["history"]["train"] == h["train"]
    assert meta["test_metrics"]["n"] == EVAL_LIMIT
    assert meta["test_metrics"]["projected"]["psnr_mean"] > 0
    load_model(folder)
    assert job_file(state)["status"] == "done"
    assert runner.preview(job_id).shape == (4, 4, 28, 28)
    # Every checkpoint picker lists it as a user run.
    (info,) = [c for c in list_checkpoints("image") if c.path == folder]
    assert info.origin == "user" and info.name == state.name
    assert [j.id for j in runner.jobs()] == [job_id]


def test_same_config_and_seed_give_same_numbers_as_train(runner):
    values = dict(TINY, epochs=2, seed=5)
    direct = train(TrainConfig(**values)).history
    job = runner.wait(runner.submit(TrainConfig(**values)), timeout=WAIT_S)
    assert job.status == "done"
    assert job.history["train"] == direct["train"]
    assert job.history["val"] == direct["val"]
    assert job.history["val_psnr"] == direct["val_psnr"]


# --------------------------------------------------------------------------- stop and cancel


def test_stop_ends_training_soon_and_keeps_the_best_model(runner):
    """The worker sees the STOP file within a fifth of a second and the training loop checks before every step;
    the slow scoring of a finished run is skipped and the worker process ends."""
    job_id = runner.submit(long_config())
    wait_until(lambda: len(runner.get(job_id).history.get("epoch", [])) >= 1, what="the first epoch")
    assert runner.get(job_id).status == "running" and runner.get(job_id).has_checkpoint

    runner.stop(job_id)
    final = runner.wait(job_id, timeout=WAIT_S)
    assert final.status == "stopped"
    assert final.message == "Stopped; the best model so far was kept."
    assert final.epoch < 50 and final.epochs_done == pytest.approx(final.history["epoch"][-1], abs=1e-3)
    assert 1 <= len(final.history["epoch"]) < 50 and final.progress < 1
    meta = read_sidecar(Path(final.folder))
    assert 1 <= meta["best_epoch"] <= len(final.history["epoch"])
    assert "test_metrics" not in meta  # stopped runs are not scored (vae_core eval can do it later)
    load_model(Path(final.folder))
    assert job_file(final)["status"] == "stopped"
    assert job_id not in runner._live  # its worker process has ended


def test_a_running_job_pauses_steps_an_epoch_changes_beta_and_resumes(runner):
    """The page's live controls through a real worker process: pause (the phase says so and no step runs), one
    more epoch (it runs to the end of the epoch and pauses again), a new β (recorded in the history at once), then
    resume to the end; bad values and finished runs are refused in one sentence."""
    job_id = runner.submit(long_config(epochs=4))
    wait_until(lambda: runner.get(job_id).epoch >= 0.3, what="some steps")
    runner.control(job_id, "pause")
    wait_until(lambda: runner.get(job_id).phase == "paused", what="the pause")
    held = runner.get(job_id).epoch
    time.sleep(1.0)
    assert runner.get(job_id).epoch == held and runner.get(job_id).status == "running"

    runner.control(job_id, "change", beta=3.0)
    runner.control(job_id, "step")
    wait_until(lambda: runner.get(job_id).phase == "paused" and runner.get(job_id).epoch > held, what="one epoch")
    stepped = runner.get(job_id)
    assert stepped.epoch == pytest.approx(float(len(stepped.history["epoch"])))  # it stopped at the epoch's end
    (change,) = stepped.history["changes"]
    assert change["beta"] == 3.0 and change["epoch"] == pytest.approx(held, abs=0.05)

    with pytest.raises(LabError, match=r"β \(beta\) must be"):
        runner.control(job_id, "change", beta=-1.0)
    with pytest.raises(LabError, match="learning rate"):
        runner.control(job_id, "change", lr=5.0)
    with pytest.raises(LabError, match="Unknown run control"):
        runner.control(job_id, "rewind")
    runner.control(job_id, "resume")
    final = runner.wait(job_id, timeout=WAIT_S)
    assert final.status == "done" and final.history["epoch"] == [1, 2, 3, 4]
    assert final.history["beta"][-1] == 3.0 and final.history["changes"] == [change]
    with pytest.raises(LabError, match="Only a running job"):
        runner.control(job_id, "pause")


def test_a_run_left_paused_stops_by_itself_and_frees_its_slot(make_runner, monkeypatch):
    """A paused run holds a training slot: after VAE_MAX_PAUSE_S paused it stops, keeping its best model, and
    the queued run behind it starts."""
    monkeypatch.setenv("VAE_MAX_PAUSE_S", "1.5")
    runner = make_runner(max_jobs=1)
    first = runner.submit(long_config())
    second = runner.submit(tiny())
    wait_until(lambda: len(runner.get(first).history.get("epoch", [])) >= 1, what="the first epoch")
    runner.control(first, "pause")
    final = runner.wait(first, timeout=WAIT_S)
    assert final.status == "stopped" and final.message.startswith("Stopped after 2 s paused (a paused run holds a training slot)")
    assert final.has_checkpoint
    assert runner.wait(second, timeout=WAIT_S).status == "done"


def test_cancelling_a_queued_job(runner):
    first = runner.submit(long_config())
    second = runner.submit(tiny())
    assert runner.get(second).status == "queued" and runner.queue_position(second) == 1
    runner.stop(second)
    cancelled = runner.get(second)
    assert cancelled.status == "stopped" and cancelled.message == "Cancelled before it started."
    assert runner.queue_position(second) is None and cancelled.started is None
    assert job_file(cancelled)["status"] == "stopped"
    assert runner.get(first).status == "running"
    runner.stop(first)
    assert runner.wait(first, timeout=WAIT_S).status == "stopped"
    time.sleep(0.2)  # the freed slot must not start the cancelled job
    after = runner.get(second)
    assert after.status == "stopped" and after.started is None and not after.has_checkpoint


def test_stop_before_the_first_step_keeps_no_model(make_runner, tmp_path, data_dir):
    data = tmp_path / "data"  # a data folder of its own: loading it (checksums) takes a moment
    data.mkdir()
    for name in ("mnist", "fashion-mnist"):
        (data / name).symlink_to(data_dir / name)
    runner = make_runner(data_root=data)
    job_id = runner.submit(tiny())
    runner.stop(job_id)  # arrives while the job still loads its data
    state = runner.wait(job_id, timeout=WAIT_S)
    assert state.status == "stopped" and not state.has_checkpoint
    assert state.message == "Stopped; no model had been saved yet."
    assert state.history["epoch"] == [] and state.steps["epoch"] == []


# --------------------------------------------------------------------------- queue and concurrency


def test_two_sessions_submitting_at_once_share_one_slot(make_runner):
    runner = make_runner(max_jobs=1)
    barrier = threading.Barrier(2)
    ids: list[str] = []

    def session(seed: int) -> None:
        barrier.wait()
        ids.append(runner.submit(tiny(epochs=2, train_limit=1280, seed=seed)))

    threads = [threading.Thread(target=session, args=(s,)) for s in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(ids) == 2
    states = {i: runner.get(i) for i in ids}
    assert sorted(s.status for s in states.values()) == ["queued", "running"]
    (running,) = [i for i, s in states.items() if s.status == "running"]
    (queued,) = [i for i, s in states.items() if s.status == "queued"]
    assert runner.queue_position(running) is None and runner.queue_position(queued) == 1
    assert job_file(states[queued])["status"] == "queued"

    first, second = runner.wait(running, timeout=WAIT_S), runner.wait(queued, timeout=WAIT_S)
    assert first.status == second.status == "done"
    assert second.started >= first.finished - 0.05  # one at a time
    assert first.history["train"]["total"] != second.history["train"]["total"]  # different seeds


# --------------------------------------------------------------------------- failures


def test_missing_data_fails_with_a_sentence_and_frees_the_slot(make_runner, tmp_path, data_dir):
    empty = tmp_path / "data"
    empty.mkdir()
    runner = make_runner(data_root=empty, max_jobs=1)
    failed = runner.wait(runner.submit(tiny()), timeout=WAIT_S)
    assert failed.status == "failed"
    assert "train-images-idx3-ubyte.gz" in failed.message and str(empty) in failed.message
    assert "vae_core data download" in failed.message
    assert not failed.has_checkpoint and not (Path(failed.folder) / "error.log").exists()
    assert job_file(failed)["status"] == "failed" and job_file(failed)["message"] == failed.message
    # Once the data is there, the same runner (one slot) runs the next job.
    for name in ("mnist", "fashion-mnist"):
        (empty / name).symlink_to(data_dir / name)
    ok = runner.wait(runner.submit(tiny()), timeout=WAIT_S)
    assert ok.status == "done" and ok.has_checkpoint


def test_unexpected_error_is_reported_and_the_queued_job_still_runs(make_runner):
    runner = make_runner(max_jobs=1)
    first = runner.submit(tiny())
    bad = runner.submit(tiny())
    # A job record with a setting this version does not know (as a job.json from a newer version would have):
    # building its TrainConfig raises TypeError inside the job, an error no validation anticipated.
    path = Path(runner.get(bad).folder) / JOB_FILE
    record = json.loads(path.read_text())
    record["config"]["dropout"] = 0.1
    path.write_text(json.dumps(record))
    good = runner.submit(tiny())
    assert runner.wait(first, timeout=WAIT_S).status == "done"
    failed = runner.wait(bad, timeout=WAIT_S)
    assert failed.status == "failed"
    assert failed.message.startswith("Training failed (TypeError") and "error.log" in failed.message
    log = Path(failed.folder) / "error.log"
    assert log.is_file() and "Traceback" in log.read_text()
    assert runner.wait(good, timeout=WAIT_S).status == "done"


def test_run_folder_lost_mid_run_fails_instead_of_hanging(make_runner):
    """Writes into the run folder fail (here it is moved away and a file takes its place; a full disk does the
    same): the job reports the error even though error.log cannot be written, and the next job runs."""
    runner = make_runner(max_jobs=1)
    job_id = runner.submit(long_config(epochs=3))
    wait_until(lambda: runner.get(job_id).history.get("epoch"), what="the first epoch")
    folder = Path(runner.get(job_id).folder)
    folder.rename(folder.with_name("moved-away"))  # atomic, unlike deleting a folder being written to
    folder.write_text("not a folder")
    failed = runner.wait(job_id, timeout=WAIT_S)
    assert failed.status == "failed" and failed.message.startswith("Training failed (")
    assert "error.log" not in failed.message and failed.finished is not None
    assert runner.wait(runner.submit(tiny()), timeout=WAIT_S).status == "done"


@pytest.mark.parametrize("bad", [dict(beta=-1.0), dict(epochs=0), dict(train_limit=32), dict(model="rnn"),
                                 dict(model_config={"latent_dim": 0, "hidden": [32]})])
def test_invalid_config_is_refused_at_submit(runner, bad):
    with pytest.raises(ConfigError) as info:
        runner.submit(tiny(**bad))
    assert str(info.value).endswith(".")
    assert runner.jobs() == [] and not any(runner.root.glob("*/" + JOB_FILE))


def test_invalid_limits_in_the_environment_are_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("VAE_MAX_JOBS", "two")
    with pytest.raises(ConfigError, match="VAE_MAX_JOBS must be a number"):
        LocalJobRunner(root=tmp_path / "runs")


# --------------------------------------------------------------------------- restarts


def test_history_survives_a_restart(make_runner, tmp_path):
    runner = make_runner()
    done = runner.wait(runner.submit(tiny(epochs=2)), timeout=WAIT_S)
    assert done.status == "done"
    again = LocalJobRunner(root=tmp_path / "runs")
    (job,) = again.jobs()
    assert asdict(job) == asdict(done)
    assert again.queue_position(job.id) is None


def test_after_a_restart_dead_runs_are_interrupted_and_queued_ones_still_run(make_runner, tmp_path):
    runner = make_runner()
    done = runner.wait(runner.submit(tiny()), timeout=WAIT_S)
    assert done.status == "done"
    # What a server that stopped leaves behind (job.json is written atomically): a running job with a checkpoint
    # and one that had not finished an epoch, both with workers long gone (no fresh heartbeat), and one still
    # waiting in the queue. They are copied into another runs folder, which the new runner must use (not the
    # folder recorded in job.json).
    root = tmp_path / "restarted"
    with_model = root / "with-model"
    shutil.copytree(done.folder, with_model)
    state = {**job_file(done), "id": "a" * 12, "status": "running", "progress": 0.5, "finished": None}
    (with_model / JOB_FILE).write_text(json.dumps(state))
    for name, status in (("early", "running"), ("waiting", "queued")):
        (root / name).mkdir()
        job = JobState(id=name, name=name, config=asdict(tiny()), status=status, eval_limit=EVAL_LIMIT,
                       started=time.time() if status == "running" else None, folder=str(tmp_path / "elsewhere"))
        (root / name / JOB_FILE).write_text(json.dumps(asdict(job)))

    restarted = make_runner(root)
    jobs = {j.name: j for j in restarted.jobs()}
    assert set(jobs) == {done.name, "early", "waiting"}
    kept = jobs[done.name]
    assert kept.status == "interrupted" and "best model so far was kept" in kept.message
    assert kept.folder == str(with_model) and kept.has_checkpoint and kept.finished is not None
    assert kept.history == done.history
    early = jobs["early"]
    assert early.status == "interrupted" and "no model was saved" in early.message
    assert early.folder == str(root / "early")
    # The new states are written back, so the next restart agrees.
    assert json.loads((with_model / JOB_FILE).read_text())["status"] == "interrupted"
    assert json.loads((root / "early" / JOB_FILE).read_text())["status"] == "interrupted"
    # The queued job was waiting for a slot: the new server runs it, in its new folder.
    waited = restarted.wait("waiting", timeout=WAIT_S)
    assert waited.status == "done" and waited.folder == str(root / "waiting") and waited.has_checkpoint
    assert not (tmp_path / "elsewhere").exists()
    assert done.status == runner.get(done.id).status == job_file(done)["status"] == "done"  # original untouched


def test_a_killed_worker_leaves_a_loadable_run_shown_as_interrupted(runner):
    job_id = runner.submit(long_config())
    wait_until(lambda: runner.get(job_id).history.get("epoch"), what="the first epoch")
    pid = runner.get(job_id).pid
    assert pid and pid != os.getpid()  # training runs in a process of its own, not in the caller's
    os.kill(pid, signal.SIGKILL)
    state = runner.wait(job_id, timeout=WAIT_S)
    assert state.status == "interrupted"
    assert state.message == ("Interrupted: its training process was killed by signal 9; the best model so far "
                             "was kept.")
    model, meta = load_model(Path(state.folder))  # verifies the weights against the sidecar's sha256
    assert meta["best_epoch"] >= 1 and state.history["epoch"]
    assert LocalJobRunner(root=runner.root).get(job_id).status == "interrupted"  # and so it stays


def worker_environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode().split("=", 1) for item in raw if b"=" in item)


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="reads a live process's environment in /proc")
@pytest.mark.parametrize("chosen", [None, "ACTIVE"])
def test_workers_do_not_inherit_the_apps_passive_openmp_wait(make_runner, monkeypatch, chosen):
    # The app sets a passive wait for its own process; a worker training with it ran 1.8x slower on 2 cores.
    monkeypatch.setenv("OMP_WAIT_POLICY", "PASSIVE")
    if chosen:
        monkeypatch.setenv("VAE_WORKER_OMP_WAIT_POLICY", chosen)
    runner = make_runner()
    job_id = runner.submit(long_config())
    pid = wait_until(lambda: runner.get(job_id).pid, what="the worker to start")
    env = worker_environ(pid)
    assert env.get("OMP_WAIT_POLICY") == chosen
    assert env["VAE_DATA_DIR"] == os.environ["VAE_DATA_DIR"]  # the rest is passed on
    runner.stop(job_id)
    assert runner.wait(job_id, timeout=WAIT_S).status == "stopped"


def test_a_restarted_server_adopts_a_live_worker_and_can_stop_it(make_runner, tmp_path):
    first = make_runner()
    job_id = first.submit(long_config())
    wait_until(lambda: first.get(job_id).history.get("epoch"), what="the first epoch")
    first._closed.set()  # the server goes away without stopping its runs (its worker has a session of its own)
    assert first._monitor is None or (first._monitor.join(2) or not first._monitor.is_alive())
    second = make_runner(tmp_path / "runs")
    adopted = second.get(job_id)
    assert adopted.status == "running" and job_id in second._live
    wait_until(lambda: second.get(job_id).epoch > adopted.epoch, what="training to go on")
    second.stop(job_id)
    final = second.wait(job_id, timeout=WAIT_S)
    assert final.status == "stopped" and final.message == "Stopped; the best model so far was kept."
    first._live.pop(job_id).wait(timeout=WAIT_S)  # the process the first server started has ended


# --------------------------------------------------------------------------- caps


def test_disk_cap_refuses_new_jobs_with_a_sentence(make_runner, tmp_path, monkeypatch):
    monkeypatch.setenv("VAE_RUNS_MAX_MB", "1")
    root = tmp_path / "runs"
    root.mkdir()
    (root / "old-run").mkdir()
    (root / "old-run" / "big.bin").write_bytes(b"\0" * 1_500_000)
    runner = make_runner(root)
    assert runner.disk_cap_mb == 1
    with pytest.raises(LabError) as info:
        runner.submit(tiny())
    message = str(info.value)
    assert str(root) in message and "2 MB" in message and "1 MB limit" in message
    assert "VAE_RUNS_MAX_MB" in message and message.endswith(".")
    assert runner.jobs() == [] and sorted(p.name for p in root.iterdir()) == ["old-run"]
    # Deleting old runs makes room again.
    shutil.rmtree(root / "old-run")
    job_id = runner.submit(tiny())
    runner.stop(job_id)
    assert runner.wait(job_id, timeout=WAIT_S).status in ("stopped", "done")


def test_time_cap_bounds_every_job(make_runner):
    runner = make_runner(time_cap_s=30, max_jobs=1)
    ids = [runner.submit(long_config(time_budget_s=b)) for b in (None, 100.0, 5.0)]
    assert [runner.get(i).config["time_budget_s"] for i in ids] == [30, 30, 5]
    for i in reversed(ids):
        runner.stop(i)


def test_time_cap_stops_a_long_job(make_runner, monkeypatch):
    monkeypatch.setenv("VAE_JOB_TIME_CAP_S", "1")
    runner = make_runner()
    assert runner.time_cap_s == 1
    state = runner.wait(runner.submit(long_config()), timeout=WAIT_S)
    assert state.status == "stopped"
    assert state.message == "Reached the time limit of 1 s; the best model so far was kept."
    assert state.config["time_budget_s"] == 1 and state.has_checkpoint
    assert 1 <= len(state.history["epoch"]) < 50
    assert read_sidecar(Path(state.folder))["test_metrics"]["n"] == EVAL_LIMIT  # scored like a finished run


def test_folder_size_counts_files_and_survives_files_vanishing(tmp_path):
    """Jobs write atomically (temp file + rename) while another session submits."""
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "w.bin").write_bytes(b"x" * 2000)
    (tmp_path / "top.json").write_bytes(b"y" * 500)
    (tmp_path / "gone").symlink_to(tmp_path / "missing")
    assert folder_size_mb(tmp_path) == pytest.approx(2500 / 1e6)
    assert folder_size_mb(tmp_path / "nothing-here") == 0.0

    stop = threading.Event()

    def churn() -> None:
        # Many short-lived files and folders, as atomic writes and deleted runs leave.
        i = 0
        while not stop.is_set():
            run = tmp_path / f"run{i % 3}"
            run.mkdir(exist_ok=True)
            for k in range(20):
                tmp = run / f".job.json.{k}.tmp"
                tmp.write_bytes(b"z" * 100)
                tmp.replace(run / "job.json")
            shutil.rmtree(run)
            i += 1

    worker = threading.Thread(target=churn)
    worker.start()
    try:
        sizes = [folder_size_mb(tmp_path) for _ in range(300)]
    finally:
        stop.set()
        worker.join()
    assert min(sizes) >= 2500 / 1e6


def test_an_audio_job_runs_through_the_same_runner_with_its_own_preview(make_runner):
    """The runner knows no task: an audio config runs, is scored on its own test data and previews a spectrogram
    patch (mixture | voice decoder | accompaniment decoder) instead of a grid of images."""
    runner = make_runner(eval_limit=1)
    cfg = AudioTrainConfig(epochs=1, train_clips=2, val_clips=1, batch_size=4, seed=0,
                           model_config={"channels": [4, 8, 8], "decoder_channels": [8, 4, 4], "latent_channels": 2})
    job_id = runner.submit(cfg, "tiny audio")
    state = runner.wait(job_id, timeout=300)
    assert state.status == "done" and state.task == "audio", state.message
    assert state.history["val_nsdr_voice"] and "val_psnr" not in state.history
    meta = read_sidecar(Path(state.folder))
    assert meta["task"] == "audio" and meta["test_metrics"]["clips"] == 1
    picture = runner.preview(job_id)
    assert picture.ndim == 2 and picture.shape[0] == 513 and picture.shape[1] == 3 * 64 + 4
    assert 0.0 <= picture.min() and picture.max() <= 1.0
    # The three panels differ: the decoders draw something other than the mixture and other than each other.
    mixture, voice, accompaniment = picture[:, :64], picture[:, 66:130], picture[:, 132:]
    assert not np.allclose(mixture, voice) and not np.allclose(voice, accompaniment)


# --------------------------------------------------------------------------- commands beside a run

def _wait_for_command(folder: Path, name: str, timeout: float = 120) -> jobs.CommandState:
    t0 = time.monotonic()
    while (state := jobs.command_state(folder, name)).status == "running":
        assert time.monotonic() - t0 < timeout, state.log
        time.sleep(0.2)
    return state


def test_a_command_runs_in_a_process_of_its_own_and_reports_its_output(tmp_path):
    state = jobs.start_command(tmp_path, "listing", ["list"])
    assert state.status == "running" and jobs.command_state(tmp_path, "listing").status in ("running", "done")
    done = _wait_for_command(tmp_path, "listing")
    assert done.status == "done" and done.finished >= done.started
    assert done.pid not in (None, os.getpid())
    assert "shipped" in done.log and "checkpoints" in done.log  # what `python -m vae_core list` printed
    assert jobs.command_state(tmp_path, "never-ran") is None


def test_a_failing_command_says_so_and_can_be_started_again(tmp_path):
    jobs.start_command(tmp_path, "eval", ["eval", "no-such-checkpoint"])
    failed = _wait_for_command(tmp_path, "eval")
    assert failed.status == "failed" and "its log says why" in failed.message
    assert "no-such-checkpoint" in failed.last_line
    jobs.start_command(tmp_path, "eval", ["list"])  # not refused: the first one has ended
    assert _wait_for_command(tmp_path, "eval").status == "done"


def test_a_running_command_is_not_started_twice_and_a_killed_one_is_interrupted(tmp_path, monkeypatch):
    jobs.start_command(tmp_path, "slow", ["bench", "image", "--limit", "100000"])  # long enough to be killed
    with pytest.raises(LabError, match="already running"):
        jobs.start_command(tmp_path, "slow", ["list"])
    t0 = time.monotonic()
    while (state := jobs.command_state(tmp_path, "slow")).pid is None or not (tmp_path / "slow.heartbeat").exists():
        assert time.monotonic() - t0 < 60, state.log
        time.sleep(0.1)
    os.kill(state.pid, signal.SIGKILL)
    monkeypatch.setattr(jobs, "_HEARTBEAT_STALE_S", 1.0)  # not the 10 s a busy server allows
    time.sleep(1.5)
    state = jobs.command_state(tmp_path, "slow")
    assert state.status == "interrupted" and "stopped before it finished" in state.message


def test_command_names_are_plain_words(tmp_path):
    with pytest.raises(ValueError):
        jobs.start_command(tmp_path, "../escape", ["list"])
