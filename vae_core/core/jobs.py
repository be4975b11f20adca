"""Training jobs for the app: a queue, a concurrency limit, caps, and state that survives restarts.

The app talks to a :class:`JobRunner`; :class:`LocalJobRunner` runs jobs in threads of this process through the
same trainer (:func:`vae_core.core.trainer.run_training`) as the CLI, so the same config and seed give the same
numbers in both. The runner knows no task: the registry gives each config's task, which builds the run, draws
the live preview and scores the finished model. Another backend (a cluster scheduler, say) only has to
implement ``JobRunner``.

Each job lives in its own run folder in the user runs folder: ``job.json`` (status, progress, live loss
curve, error) next to the checkpoint files. Both are written atomically, so killing the server mid-run
leaves the last complete state; a runner that starts again marks such jobs as interrupted.

Limits, from the environment: ``VAE_MAX_JOBS`` concurrent jobs (default 1; the rest wait in a FIFO
queue), ``VAE_JOB_TIME_CAP_S`` seconds per job (default 900), ``VAE_RUNS_MAX_MB`` MB for the runs
folder (default 2000; new jobs are refused when it is full); a task may name a variable that limits how much test
data a finished job is scored on (``TaskSpec.job_eval_limit``: ``VAE_JOB_EVAL_LIMIT`` test mixtures for image
jobs, default all 10,000; ``VAE_JOB_AUDIO_EVAL_CLIPS`` MIR-1K test clips for audio jobs, default 20).
"""
from __future__ import annotations

import abc
import copy
import json
import os
import re
import threading
import time
import traceback
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vae_core.core.checkpoints import atomic_write_json, runs_dir, update_sidecar
from vae_core.core.errors import ConfigError, LabError
from vae_core.core.inference import load_checkpoint
from vae_core.core.registry import get_task, task_of_config
from vae_core.core.trainer import Callbacks, TrainingTask, run_training

JOB_FILE = "job.json"
STATUSES = ("queued", "running", "done", "stopped", "failed")
ACTIVE = ("queued", "running")
_MAX_CURVE_POINTS = 600  # live step curve kept per job (decimated), enough for a smooth plot


@dataclass
class JobState:
    """What the page shows of a job. ``steps`` holds the live training curve against fractional epochs
    (decimated); ``history`` the per-epoch train/validation terms from the training loop."""

    id: str
    name: str
    config: dict[str, Any]
    status: str = "queued"
    created: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    progress: float = 0.0
    eta_s: float | None = None
    epoch: float = 0.0
    steps: dict[str, list[float]] = field(default_factory=lambda: {"epoch": [], "total": [], "recon": [], "kl": []})
    history: dict[str, Any] = field(default_factory=dict)
    message: str | None = None
    folder: str = ""
    task: str = "image"  # the registry name of the config's task (job.json files from before tasks: image)

    @property
    def elapsed_s(self) -> float:
        if self.started is None:
            return 0.0
        return (self.finished or time.time()) - self.started

    @property
    def has_checkpoint(self) -> bool:
        return bool(self.folder) and (Path(self.folder) / "checkpoint.json").is_file()


class JobRunner(abc.ABC):
    """What the app needs from a job backend."""

    @abc.abstractmethod
    def submit(self, config: Any, name: str | None = None) -> str:
        """Queue a training run; returns its id. Raises :class:`LabError` when it cannot be accepted."""

    @abc.abstractmethod
    def get(self, job_id: str) -> JobState:
        """The current state of a job (a snapshot; it does not change under the caller)."""

    @abc.abstractmethod
    def stop(self, job_id: str) -> None:
        """Stop a running job (its best model so far is kept) or cancel a queued one."""

    @abc.abstractmethod
    def jobs(self) -> list[JobState]:
        """All known jobs, newest first."""

    @abc.abstractmethod
    def queue_position(self, job_id: str) -> int | None:
        """1 for the next job to start, None when the job is not waiting."""

    def preview(self, job_id: str) -> np.ndarray | None:
        """The latest separations of fixed test mixtures, ``(n, 4, 28, 28)``, if the backend has them."""
        return None


def _env_number(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, not {raw!r}.") from None
    if value <= 0:
        raise ConfigError(f"{name} must be positive, not {raw!r}.")
    return value


def folder_size_mb(folder: Path) -> float:
    """Megabytes of files under ``folder``.

    Running jobs write atomically (temp file + rename) and runs can be deleted while this
    walks, so a file or folder that vanishes between listing and ``stat`` is skipped.
    """
    total = 0
    for root, _dirs, files in os.walk(folder):  # os.walk ignores folders that vanish
        for name in files:
            try:
                total += os.stat(os.path.join(root, name)).st_size
            except OSError:
                continue
    return total / 1e6


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40] or "run"


class _JobCallbacks(Callbacks):
    """Feeds a job's live state from the training thread (never touches any UI)."""

    def __init__(self, runner: "LocalJobRunner", job: JobState, task: TrainingTask):
        self.runner, self.job, self.task = runner, job, task
        self._last_preview = 0.0
        self._last_save = time.time()
        self._stride = 1

    def on_step(self, info: dict[str, Any]) -> None:
        with self.runner._lock:
            job = self.job
            job.progress = float(info["progress"])
            job.epoch = info["step"] / info["steps_per_epoch"]  # fractional epochs done
            job.eta_s = info["elapsed"] * (1 - job.progress) / job.progress if job.progress > 0 else None
            if info["step"] % self._stride == 0:
                for key, value in (("epoch", job.epoch), ("total", info["loss"]), ("recon", info["recon"]),
                                   ("kl", info["kl"])):
                    job.steps[key].append(float(value))
                if len(job.steps["epoch"]) > _MAX_CURVE_POINTS:  # keep every other point, sample half as often
                    job.steps = {k: v[::2] for k, v in job.steps.items()}
                    self._stride *= 2
        now = time.time()
        if now - self._last_preview > 1.0:
            self._last_preview = now
            picture = self.task.preview(info["model"])
            with self.runner._lock:
                self.runner._previews[job.id] = picture
        if now - self._last_save > 5.0:
            self._last_save = now
            self.runner._persist(job)

    def on_epoch(self, record: dict[str, Any]) -> None:
        history = copy.deepcopy(record["history"])  # a snapshot: the training thread goes on appending
        with self.runner._lock:
            self.job.history = history
        self.runner._persist(self.job)


class LocalJobRunner(JobRunner):
    """Runs jobs in background threads of this process, at most ``max_jobs`` at once."""

    def __init__(self, root: Path | None = None, max_jobs: int | None = None, time_cap_s: float | None = None,
                 disk_cap_mb: float | None = None, data_root: Path | None = None,
                 eval_limit: int | None = None):
        self.root = Path(root) if root else runs_dir()
        self.max_jobs = int(max_jobs or _env_number("VAE_MAX_JOBS", 1))
        self.time_cap_s = time_cap_s or _env_number("VAE_JOB_TIME_CAP_S", 900)
        self.disk_cap_mb = disk_cap_mb or _env_number("VAE_RUNS_MAX_MB", 2000)
        self.data_root = data_root
        self.eval_limit = eval_limit  # overrides every task's own limit (tests score on a few test items)
        self._lock = threading.RLock()
        self._jobs: dict[str, JobState] = {}
        self._queue: list[str] = []
        self._running: dict[str, threading.Thread] = {}
        self._stops: dict[str, threading.Event] = {}
        self._previews: dict[str, np.ndarray] = {}
        self._load_existing()

    # ------------------------------------------------------------------ persistence
    def _persist(self, job: JobState) -> None:
        with self._lock:
            data = asdict(job)
        try:
            atomic_write_json(Path(job.folder) / JOB_FILE, data)
        except (OSError, ValueError):
            pass  # the in-memory state stays right; a later write retries

    def _load_existing(self) -> None:
        if not self.root.is_dir():
            return
        for path in self.root.glob(f"*/{JOB_FILE}"):
            try:
                job = JobState(**json.loads(path.read_text()))
            except (OSError, ValueError, TypeError):
                continue
            job.folder = str(path.parent)  # where it is now (the runs folder may have been moved or copied)
            if job.status in ACTIVE:  # the server stopped while this job was queued or running
                job.finished = job.finished or path.stat().st_mtime
                if job.has_checkpoint:
                    job.status, job.message = "stopped", "Interrupted by a server restart; the best model so far was kept."
                else:
                    job.status, job.message = "failed", "Interrupted by a server restart before any epoch finished."
                self._persist(job)
            self._jobs[job.id] = job

    # ------------------------------------------------------------------ JobRunner
    def submit(self, config: Any, name: str | None = None) -> str:
        config.validate()
        spec = task_of_config(config)
        used = folder_size_mb(self.root)
        if used >= self.disk_cap_mb:
            raise LabError(
                f"The runs folder {self.root} holds {used:.0f} MB, at its {self.disk_cap_mb:.0f} MB limit; delete "
                "old runs (or raise VAE_RUNS_MAX_MB) before starting another."
            )
        cap = self.time_cap_s
        config.time_budget_s = min(config.time_budget_s or cap, cap)
        job_id = uuid.uuid4().hex[:12]
        base = _slug(name or (spec.default_run_name(config) if spec.default_run_name else spec.name))
        folder = self.root / f"{base}-{time.strftime('%Y%m%d-%H%M%S')}-{job_id[:4]}"
        folder.mkdir(parents=True, exist_ok=False)
        job = JobState(id=job_id, name=folder.name, config=asdict(config), folder=str(folder), task=spec.name)
        with self._lock:
            self._jobs[job_id] = job
            self._queue.append(job_id)
            self._stops[job_id] = threading.Event()
        self._persist(job)
        self._dispatch()
        return job_id

    def get(self, job_id: str) -> JobState:
        with self._lock:
            if job_id not in self._jobs:
                raise LabError(f"No training job with id {job_id!r}.")
            job = self._jobs[job_id]
            return JobState(**{**asdict(job), "steps": {k: list(v) for k, v in job.steps.items()}})

    def stop(self, job_id: str) -> None:
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                raise LabError(f"No training job with id {job_id!r}.")
            if job_id in self._queue:
                self._queue.remove(job_id)
                job.status, job.finished, job.message = "stopped", time.time(), "Cancelled before it started."
                self._persist(job)
            elif job_id in self._stops:
                self._stops[job_id].set()

    def jobs(self) -> list[JobState]:
        with self._lock:
            ids = sorted(self._jobs, key=lambda i: self._jobs[i].created, reverse=True)
        return [self.get(i) for i in ids]

    def queue_position(self, job_id: str) -> int | None:
        with self._lock:
            return self._queue.index(job_id) + 1 if job_id in self._queue else None

    def preview(self, job_id: str) -> np.ndarray | None:
        with self._lock:
            return self._previews.get(job_id)

    def wait(self, job_id: str, timeout: float | None = None) -> JobState:
        """Block until the job has finished (for the CLI and tests); returns its final state."""
        deadline = None if timeout is None else time.time() + timeout
        while self.get(job_id).status in ACTIVE or job_id in self._running:  # running: finishing (writes job.json)
            if deadline is not None and time.time() > deadline:
                raise TimeoutError(f"job {job_id} still {self.get(job_id).status} after {timeout} s")
            time.sleep(0.05)
        return self.get(job_id)

    # ------------------------------------------------------------------ internals
    def _dispatch(self) -> None:
        with self._lock:
            while self._queue and len(self._running) < self.max_jobs:
                job_id = self._queue.pop(0)
                thread = threading.Thread(target=self._run, args=(job_id,), name=f"train-{job_id}", daemon=True)
                self._running[job_id] = thread
                job = self._jobs[job_id]
                job.status, job.started = "running", time.time()
                thread.start()

    def _eval_limit(self, spec: Any) -> int | None:
        if self.eval_limit:
            return self.eval_limit
        if spec.job_eval_limit is None:
            return None
        name, default = spec.job_eval_limit
        return int(_env_number(name, default)) or None

    def _run(self, job_id: str) -> None:
        job = self._jobs[job_id]
        stop = self._stops[job_id]
        self._persist(job)
        try:
            meta = {"name": job.name, "origin": "app", "job_id": job_id}
            spec = get_task(job.task)
            config = spec.config_class(**job.config)
            task = spec.make_task(config, self.data_root)
            result = run_training(task, _JobCallbacks(self, job, task), stop, out_dir=Path(job.folder), meta=meta)
            # A stop is honoured at once: scoring takes long (`vae_core eval` can score the run later).
            if job.has_checkpoint and not stop.is_set():
                metrics = spec.evaluate(load_checkpoint(job.folder), self.data_root, self._eval_limit(spec))
                update_sidecar(Path(job.folder), test_metrics=metrics)
            kept = ("the best model so far was kept." if job.has_checkpoint
                    else "no model had been saved yet.")
            with self._lock:
                if stop.is_set():
                    job.status, job.message = "stopped", f"Stopped; {kept}"
                elif result.stopped:
                    job.status = "stopped"
                    job.message = f"Reached the time limit of {config.time_budget_s:.0f} s; {kept}"
                else:
                    job.status = "done"
                job.progress = 1.0 if job.status == "done" else job.progress
                job.history = result.history  # the run's own, also when no epoch finished (on_epoch never ran)
        except LabError as exc:
            with self._lock:
                job.status, job.message = "failed", str(exc)
        except Exception as exc:  # noqa: BLE001 - a failed run must report, free its slot and never take the app down
            try:
                (Path(job.folder) / "error.log").write_text(traceback.format_exc())
                details = f"; details are in {job.folder}/error.log"
            except OSError:  # the run folder is unusable (disk full, removed): still report the failure
                details = ""
            with self._lock:
                job.status = "failed"
                job.message = f"Training failed ({type(exc).__name__}: {exc}){details}."
        finally:
            with self._lock:
                job.finished, job.eta_s = time.time(), None
                self._persist(job)
                self._running.pop(job_id, None)  # after the final job.json, so wait() returns the final state
            self._dispatch()


_default: LocalJobRunner | None = None
_default_lock = threading.Lock()


def default_runner() -> LocalJobRunner:
    """The process-wide runner over the user runs folder (one per server, shared by every session)."""
    global _default
    with _default_lock:
        if _default is None or _default.root != runs_dir():
            _default = LocalJobRunner()
        return _default
