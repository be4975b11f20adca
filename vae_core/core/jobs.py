"""Training jobs for the app: a queue, a concurrency limit, caps, and state that survives restarts.

Training never runs in the process that serves the pages. The app talks to a :class:`JobRunner`;
:class:`LocalJobRunner` starts each job as a worker process of this machine (``python -m vae_core.core.worker``)
and ``vae_core.core.cluster.RayJobRunner`` as a task on a Ray cluster. Both run the same trainer
(:func:`vae_core.core.trainer.run_training`) as the CLI, so the same config and seed give the same numbers
everywhere. The runner knows no task: the registry gives each config's task, which builds the run, draws the
live preview and scores the finished model.

Each job lives in its own run folder in the user runs folder. The worker writes ``job.json`` (status, progress,
live loss curve, history, error) and ``preview.npy`` there, atomically; the server only reads them, and asks a
worker to stop by creating a ``STOP`` file. Killing the server leaves the workers running (a restarted server
finds them by their heartbeat); killing a worker leaves its last complete state and best checkpoint, and the
job is shown as interrupted.

Limits, from the environment: ``VAE_MAX_JOBS`` concurrent jobs (default 1; the rest wait in a FIFO
queue), ``VAE_JOB_TIME_CAP_S`` seconds per job (default 900), ``VAE_RUNS_MAX_MB`` MB for the runs
folder (default 2000; new jobs are refused when it is full), ``VAE_WORKER_THREADS`` CPU threads per local worker
(default: the machine's cores shared among ``VAE_MAX_JOBS``), ``VAE_WORKER_OMP_WAIT_POLICY`` their OpenMP wait
policy (default: OpenMP's own; the app's passive wait is not passed on, see :func:`worker_env`); a task may
name a variable that limits how much test data a finished job is scored on (``TaskSpec.job_eval_limit``: ``VAE_JOB_EVAL_LIMIT`` test mixtures for
image jobs, default all 10,000; ``VAE_JOB_AUDIO_EVAL_CLIPS`` MIR-1K test clips for audio jobs, default 20).
``VAE_JOB_BACKEND`` (``local`` or ``ray``) picks the backend of :func:`make_runner`.
"""
from __future__ import annotations

import abc
import json
import os
import re
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vae_core.core.store import atomic_write_json, runs_dir
from vae_core.core.errors import ConfigError, LabError
from vae_core.core.hyper import check_change
from vae_core.core.registry import task_of_config

JOB_FILE = "job.json"
PREVIEW_FILE = "preview.npy"
STOP_FILE = "STOP"
CONTROL_FILE = "control.json"
CONTROLS = ("pause", "resume", "step", "change")
HEARTBEAT_FILE = "heartbeat"
WORKER_LOG = "worker.log"
STATUSES = ("queued", "running", "done", "stopped", "interrupted", "failed")
ACTIVE = ("queued", "running")
_HEARTBEAT_STALE_S = 10.0  # a running job whose worker has not touched its heartbeat for this long is dead
_COMMAND_START_S = 20.0  # a command that has not touched its heartbeat yet may still be starting
_POLL_S = 0.2
_PREVIEWS_KEPT = 16  # live pictures cached by the server (a class watches a few runs at once)
PROJECT_ROOT = Path(__file__).resolve().parents[2]  # where `vae_core` imports from, for worker processes
OWNER_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,39}$")


@dataclass
class JobState:
    """What the page shows of a job. ``steps`` holds the live training curve against fractional epochs
    (decimated); ``history`` the per-epoch train/validation terms from the training loop; ``phase`` what a
    running job is doing (loading, training, scoring)."""

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
    owner: str = ""  # the student who started it ("" for runs from before there were students)
    phase: str = ""
    backend: str = "local"
    pid: int | None = None  # of the worker process, while it runs
    data_root: str | None = None
    eval_limit: int | None = None  # test items a finished job is scored on (None: the task's whole test set)
    plugin: str | None = None  # a module the worker imports to know the task (TaskSpec.plugin)
    timings: dict[str, float] = field(default_factory=dict)  # seconds per phase: loading, training, scoring
    scoring_progress: float | None = None  # fraction of the test data scored (tasks whose evaluate reports it)

    @property
    def elapsed_s(self) -> float:
        if self.started is None:
            return 0.0
        return (self.finished or time.time()) - self.started

    @property
    def has_checkpoint(self) -> bool:
        return bool(self.folder) and (Path(self.folder) / "checkpoint.json").is_file()

    @property
    def epochs_done(self) -> float:
        """Epochs trained so far, fractional (a run stopped in its second epoch has done 1.x, not 2)."""
        logged = (self.history or {}).get("epoch") or []
        return max(self.epoch, float(logged[-1]) if logged else 0.0)


def check_owner(owner: str) -> str:
    """A student's name as the runs record it: 1–40 letters, digits, spaces, dots, dashes or underscores."""
    owner = (owner or "").strip()
    if not OWNER_PATTERN.match(owner):
        raise ConfigError(f"A name must be 1 to 40 letters, digits, spaces, dots, dashes or underscores, not "
                          f"{owner!r}.")
    return owner


class JobRunner(abc.ABC):
    """What the app needs from a job backend."""

    @abc.abstractmethod
    def submit(self, config: Any, name: str | None = None, owner: str = "") -> str:
        """Queue a training run; returns its id. Raises :class:`LabError` when it cannot be accepted."""

    @abc.abstractmethod
    def get(self, job_id: str) -> JobState:
        """The current state of a job (a snapshot; it does not change under the caller)."""

    @abc.abstractmethod
    def stop(self, job_id: str) -> None:
        """Stop a running job (its best model so far is kept) or cancel a queued one."""

    def control(self, job_id: str, do: str, beta: float | None = None, lr: float | None = None) -> None:
        """Live control of a running job: ``pause``, ``resume``, ``step`` (run to the end of the epoch, then pause)
        or ``change`` (a new β and/or learning rate). Raises :class:`LabError` where the job cannot take it."""
        raise LabError(f"The {type(self).__name__} cannot pause or change a run while it trains.")

    @abc.abstractmethod
    def jobs(self, owner: str | None = None) -> list[JobState]:
        """All known jobs (of ``owner`` only, when given), newest first."""

    @abc.abstractmethod
    def queue_position(self, job_id: str) -> int | None:
        """1 for the next job to start, None when the job is not waiting."""

    def preview(self, job_id: str) -> np.ndarray | None:
        """The task's latest live picture of the job's model, if the backend has one."""
        return None


def env_number(name: str, default: float) -> float:
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


def _read_state(folder: Path) -> JobState | None:
    try:
        state = JobState(**json.loads((folder / JOB_FILE).read_text()))
    except (OSError, ValueError, TypeError):
        return None
    state.folder = str(folder)  # where it is now (the runs folder may have been moved or copied)
    return state


def _worker_alive(job: JobState) -> bool:
    """Whether the worker of a running job still lives: its heartbeat is fresh and, for a worker process of this
    machine, its process exists."""
    try:
        if time.time() - (Path(job.folder) / HEARTBEAT_FILE).stat().st_mtime > _HEARTBEAT_STALE_S:
            return False
    except OSError:
        return False
    if job.backend == "local" and job.pid:
        try:
            os.kill(job.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            pass  # it exists (another user's process would be a reused pid; the heartbeat soon tells)
    return True


class FolderJobRunner(JobRunner):
    """A runner whose jobs live in run folders and run elsewhere; a backend says how a job starts and ends.

    The server's view of a job is its ``job.json``, re-read when it changes. A monitor thread (it only polls)
    notices ended workers and starts queued jobs when a slot frees.
    """

    backend = "folder"

    def __init__(self, root: Path | None = None, max_jobs: int | None = None, time_cap_s: float | None = None,
                 disk_cap_mb: float | None = None, data_root: Path | None = None,
                 eval_limit: int | None = None):
        self.root = Path(root) if root else runs_dir()
        self.max_jobs = int(max_jobs or env_number("VAE_MAX_JOBS", 1))
        self.time_cap_s = time_cap_s or env_number("VAE_JOB_TIME_CAP_S", 900)
        self.disk_cap_mb = disk_cap_mb or env_number("VAE_RUNS_MAX_MB", 2000)
        self.data_root = data_root
        self.eval_limit = eval_limit  # overrides every task's own limit (tests score on a few test items)
        self._lock = threading.RLock()
        self._jobs: dict[str, JobState] = {}
        self._mtimes: dict[str, float] = {}
        self._queue: list[str] = []
        self._live: dict[str, Any] = {}  # job id -> the backend's handle (None: a worker found after a restart)
        self._previews: dict[str, tuple[float, np.ndarray]] = {}
        self._closed = threading.Event()
        self._monitor: threading.Thread | None = None
        self._load_existing()

    # ------------------------------------------------------------------ what a backend provides
    @abc.abstractmethod
    def _launch(self, job: JobState) -> Any:
        """Start ``job`` (its job.json is written); returns a handle for :meth:`_ended`."""

    @abc.abstractmethod
    def _ended(self, handle: Any) -> str | None:
        """None while the job's worker runs; once it has ended, how ("exit code 0", "killed by signal 9"…)."""

    def _cancel(self, handle: Any) -> None:
        """Drop a started job that has not begun training (optional)."""

    # ------------------------------------------------------------------ persistence
    def _write(self, job: JobState) -> None:
        try:
            atomic_write_json(Path(job.folder) / JOB_FILE, asdict(job))
            self._mtimes[job.id] = (Path(job.folder) / JOB_FILE).stat().st_mtime
        except (OSError, ValueError):
            pass  # the in-memory state stays right; a later write retries

    def _refresh(self, job_id: str) -> JobState:
        """The job as its folder says now (re-read only when job.json changed)."""
        job = self._jobs[job_id]
        path = Path(job.folder) / JOB_FILE
        try:
            mtime = path.stat().st_mtime
        except OSError:
            return job
        if mtime != self._mtimes.get(job_id):
            fresh = _read_state(Path(job.folder))
            if fresh is not None:
                self._jobs[job_id], self._mtimes[job_id] = fresh, mtime
        return self._jobs[job_id]

    def _load_existing(self) -> None:
        if not self.root.is_dir():
            return
        found = [s for s in map(_read_state, (p.parent for p in self.root.glob(f"*/{JOB_FILE}"))) if s is not None]
        for job in sorted(found, key=lambda j: j.created):
            self._jobs[job.id] = job
            self._mtimes[job.id] = (Path(job.folder) / JOB_FILE).stat().st_mtime
            if job.status == "queued":  # waited in the queue of a server that stopped: it waits here now
                self._queue.append(job.id)
            elif job.status == "running":
                if _worker_alive(job):
                    self._live[job.id] = None  # its worker outlived the server: watch it by its heartbeat
                else:
                    self._interrupted(job, "its training process ended while the server was down")
        if self._queue or self._live:
            self._start_monitor()

    def _interrupted(self, job: JobState, why: str) -> None:
        kept = ("the best model so far was kept." if job.has_checkpoint
                else "no epoch had finished, so no model was saved.")
        job.status, job.message = "interrupted", f"Interrupted: {why}; {kept}"
        job.finished, job.eta_s, job.phase = job.finished or time.time(), None, ""
        self._write(job)

    # ------------------------------------------------------------------ JobRunner
    def submit(self, config: Any, name: str | None = None, owner: str = "") -> str:
        config.validate()
        owner = check_owner(owner) if owner else ""
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
        job = JobState(id=job_id, name=folder.name, config=asdict(config), folder=str(folder), task=spec.name,
                       owner=owner, backend=self.backend, eval_limit=self._eval_limit(spec), plugin=spec.plugin,
                       data_root=str(self.data_root) if self.data_root else None)
        with self._lock:
            self._jobs[job_id] = job
            self._queue.append(job_id)
            self._write(job)
        self._dispatch()
        self._start_monitor()
        return job_id

    def get(self, job_id: str) -> JobState:
        with self._lock:
            if job_id not in self._jobs:
                raise LabError(f"No training job with id {job_id!r}.")
            job = self._refresh(job_id)
            return JobState(**{**asdict(job), "steps": {k: list(v) for k, v in job.steps.items()}})

    def stop(self, job_id: str) -> None:
        with self._lock:
            if job_id not in self._jobs:
                raise LabError(f"No training job with id {job_id!r}.")
            job = self._refresh(job_id)
            if job_id in self._queue:
                self._queue.remove(job_id)
                job.status, job.finished, job.message = "stopped", time.time(), "Cancelled before it started."
                self._write(job)
            elif job.status in ACTIVE:
                try:
                    (Path(job.folder) / STOP_FILE).touch()
                except OSError:
                    pass  # the folder is gone: the worker fails on its own
                if job.phase == "starting" and self._live.get(job_id) is not None:  # not begun (a cluster queue)
                    self._cancel(self._live[job_id])

    def control(self, job_id: str, do: str, beta: float | None = None, lr: float | None = None) -> None:
        """Append the command to the run folder's ``control.json``, which its worker applies within a fifth of a
        second (:mod:`vae_core.core.worker`); the values are checked here, so a refusal is one sentence now."""
        if do not in CONTROLS:
            raise LabError(f"Unknown run control {do!r}; use one of {', '.join(CONTROLS)}.")
        if do == "change":
            if beta is None and lr is None:
                raise LabError("Give a new β or a new learning rate (or both) to change a run.")
            check_change(beta, lr)
        with self._lock:
            if job_id not in self._jobs:
                raise LabError(f"No training job with id {job_id!r}.")
            job = self._refresh(job_id)
            if job.status != "running":
                raise LabError(f"Only a running job can be paused or changed; {job.name} is {job.status}.")
            path = Path(job.folder) / CONTROL_FILE
            try:
                commands = json.loads(path.read_text())["commands"] if path.exists() else []
            except (OSError, ValueError, KeyError):
                commands = []
            values = {k: v for k, v in (("beta", beta), ("lr", lr)) if v is not None}
            command = {"do": do, **values}
            atomic_write_json(path, {"commands": [*commands, command]})

    def jobs(self, owner: str | None = None) -> list[JobState]:
        with self._lock:
            ids = sorted(self._jobs, key=lambda i: self._jobs[i].created, reverse=True)
            states = [self.get(i) for i in ids]
        return [s for s in states if owner is None or s.owner == owner]

    def queue_position(self, job_id: str) -> int | None:
        with self._lock:
            return self._queue.index(job_id) + 1 if job_id in self._queue else None

    def preview(self, job_id: str) -> np.ndarray | None:
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                return None
            path = Path(job.folder) / PREVIEW_FILE
            try:
                mtime = path.stat().st_mtime
            except OSError:
                return None
            cached = self._previews.get(job_id)
            if cached is None or cached[0] != mtime:
                try:
                    cached = (mtime, np.load(path, allow_pickle=False))
                except (OSError, ValueError):
                    return cached[1] if cached else None
                self._previews.pop(job_id, None)
                self._previews[job_id] = cached
                while len(self._previews) > _PREVIEWS_KEPT:  # dicts keep insertion order: drop the stalest
                    self._previews.pop(next(iter(self._previews)))
            return cached[1]

    def wait(self, job_id: str, timeout: float | None = None) -> JobState:
        """Block until the job has finished (for the CLI and tests); returns its final state."""
        deadline = None if timeout is None else time.time() + timeout
        while True:
            self._poll()
            with self._lock:
                state = self.get(job_id)
                if state.status not in ACTIVE and job_id not in self._live:
                    return state
            if deadline is not None and time.time() > deadline:
                raise TimeoutError(f"job {job_id} still {state.status} after {timeout} s")
            time.sleep(0.05)

    def close(self, stop_jobs: bool = True, timeout: float = 60.0) -> None:
        """Stop watching (and, with ``stop_jobs``, stop every job and wait for its worker to end)."""
        if stop_jobs:
            for job in self.jobs():
                if job.status in ACTIVE:
                    self.stop(job.id)
            deadline = time.time() + timeout
            while self._live and time.time() < deadline:
                self._poll()
                time.sleep(0.05)
        self._closed.set()

    # ------------------------------------------------------------------ internals
    def _start_monitor(self) -> None:
        with self._lock:
            if self._monitor is None or not self._monitor.is_alive():
                self._monitor = threading.Thread(target=self._watch, name=f"jobs-{self.backend}", daemon=True)
                self._monitor.start()

    def _watch(self) -> None:
        while not self._closed.wait(_POLL_S):
            try:
                self._poll()
            except Exception:  # noqa: BLE001 - the monitor must outlive a bad run folder
                continue
            with self._lock:
                if not self._queue and not self._live:
                    self._monitor = None
                    return

    def _poll(self) -> None:
        """Notice ended workers, then start queued jobs while slots are free."""
        with self._lock:
            for job_id, handle in list(self._live.items()):
                job = self._refresh(job_id)
                if handle is None:  # found after a restart: alive while its heartbeat is
                    if job.status in ACTIVE and _worker_alive(job):
                        continue
                    how = "its training process stopped answering"
                else:
                    how = self._ended(handle)
                    if how is None:
                        continue
                self._live.pop(job_id)
                job = self._refresh(job_id)
                if job.status in ACTIVE:  # the worker ended without writing a final state
                    self._ended_without_report(job, how)
        self._dispatch()

    def _ended_without_report(self, job: JobState, how: str) -> None:
        folder = Path(job.folder)
        if job.phase == "starting" and (folder / STOP_FILE).exists():  # cancelled before its worker began
            job.status, job.finished, job.message = "stopped", time.time(), "Cancelled before it started."
        elif not folder.is_dir():
            job.status, job.finished, job.eta_s, job.phase = "failed", time.time(), None, ""
            job.message = f"Training failed (its run folder {folder} is gone or cannot be written)."
        elif "signal" in how:
            self._interrupted(job, f"its training process was {how}")
            return
        else:
            job.status, job.finished, job.eta_s, job.phase = "failed", time.time(), None, ""
            job.message = f"Training failed (the training process ended with {how}); see {folder / WORKER_LOG}."
        self._write(job)

    def _dispatch(self) -> None:
        with self._lock:
            while self._queue and len(self._live) < self.max_jobs:
                job_id = self._queue.pop(0)
                job = self._refresh(job_id)
                if job.status != "queued":
                    continue
                # Shown as running at once; the worker takes over job.json when it begins.
                job.status, job.phase, job.started = "running", "starting", time.time()
                try:
                    (Path(job.folder) / STOP_FILE).unlink(missing_ok=True)
                    self._write(job)
                    self._live[job_id] = self._launch(job)
                except OSError as exc:
                    job.status, job.finished = "failed", time.time()
                    job.message = f"Training failed (the training process could not start: {exc})."
                    self._write(job)

    def _eval_limit(self, spec: Any) -> int | None:
        if self.eval_limit:
            return self.eval_limit
        if spec.job_eval_limit is None:
            return None
        name, default = spec.job_eval_limit
        return int(env_number(name, default)) or None


def worker_threads(max_jobs: int) -> int:
    """CPU threads each local worker uses: ``VAE_WORKER_THREADS``, else the cores shared among the slots."""
    return int(env_number("VAE_WORKER_THREADS", max(1, (os.cpu_count() or 1) // max(1, max_jobs))))


def worker_env() -> dict[str, str]:
    """The environment of a local worker process: this one's, with the project on ``PYTHONPATH`` and without
    ``OMP_WAIT_POLICY``. The app sets that to ``PASSIVE`` for itself (``lab_ui``: its short computations share the
    cores with the browser), and training with a passive wait ran 1.8x slower on two cores; workers train with
    OpenMP's default wait, or with ``VAE_WORKER_OMP_WAIT_POLICY`` where that is set."""
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if env.get("VAE_WORKER_OMP_WAIT_POLICY"):
        env["OMP_WAIT_POLICY"] = env["VAE_WORKER_OMP_WAIT_POLICY"]
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(PROJECT_ROOT), env.get("PYTHONPATH")) if p)
    return env


class LocalJobRunner(FolderJobRunner):
    """Runs each job in a worker process of this machine, at most ``max_jobs`` at once."""

    backend = "local"

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.threads = worker_threads(self.max_jobs)

    def _launch(self, job: JobState) -> subprocess.Popen:
        env = worker_env()
        log = open(Path(job.folder) / WORKER_LOG, "ab")  # noqa: SIM115 - the child keeps it; closed below
        try:
            # Its own session: a Ctrl-C meant for the server does not kill the runs (a restarted server adopts them).
            return subprocess.Popen([sys.executable, "-m", "vae_core.core.worker", job.folder,
                                     "--threads", str(self.threads)],
                                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
                                    start_new_session=True)
        finally:
            log.close()

    def _ended(self, handle: subprocess.Popen) -> str | None:
        code = handle.poll()
        if code is None:
            return None
        return f"killed by signal {-code}" if code < 0 else f"exit code {code}"


# ---------------------------------------------------------------------------- commands beside a run

@dataclass
class CommandState:
    """A ``python -m vae_core`` command started from the app for a run folder (scoring a finished run, say):
    ``status`` is running, done, failed or interrupted; ``log`` its output so far."""

    name: str
    argv: list[str]
    status: str = "running"
    started: float = field(default_factory=time.time)
    finished: float | None = None
    pid: int | None = None
    message: str | None = None
    log: str = ""

    @property
    def last_line(self) -> str:
        lines = [line.strip() for line in self.log.splitlines() if line.strip()]
        return lines[-1] if lines else ""


def _command_paths(folder: Path, name: str) -> tuple[Path, Path, Path]:
    if not re.fullmatch(r"[a-z][a-z0-9-]{0,39}", name):
        raise ValueError(f"a command name is lower-case letters, digits and dashes, not {name!r}")
    return folder / f"{name}.command.json", folder / f"{name}.log", folder / f"{name}.heartbeat"


def command_state(folder: Path | str, name: str) -> CommandState | None:
    """The state of command ``name`` of run ``folder`` (None if it never ran there). A running command whose
    heartbeat stopped is reported as interrupted."""
    state_file, log_file, heartbeat = _command_paths(Path(folder), name)
    try:
        state = CommandState(**json.loads(state_file.read_text()))
    except (OSError, ValueError, TypeError):
        return None
    try:
        state.log = log_file.read_text(errors="replace")[-4000:]
    except OSError:
        state.log = ""
    if state.status == "running":
        try:
            beat, allowed = heartbeat.stat().st_mtime, _HEARTBEAT_STALE_S
        except OSError:  # not begun yet: allow it the start-up time (importing torch and every task)
            beat, allowed = state.started, _HEARTBEAT_STALE_S + _COMMAND_START_S
        if time.time() - beat > allowed:
            state.status, state.message = "interrupted", "It stopped before it finished (its process ended)."
    return state


def start_command(folder: Path | str, name: str, argv: list[str]) -> CommandState:
    """Start ``python -m vae_core ARGV`` as a process of its own (never in the server's), for run ``folder``:
    its output goes to ``NAME.log`` there and its state to ``NAME.command.json`` (see :func:`command_state`).
    Refused while the same command of that folder still runs."""
    folder = Path(folder)
    state_file, log_file, heartbeat = _command_paths(folder, name)
    current = command_state(folder, name)
    if current is not None and current.status == "running":
        raise LabError(f"{name} is already running for {folder.name}; wait for it to finish.")
    heartbeat.unlink(missing_ok=True)
    state = CommandState(name=name, argv=[str(a) for a in argv])
    atomic_write_json(state_file, {k: v for k, v in asdict(state).items() if k != "log"})
    with open(log_file, "wb") as log:
        subprocess.Popen([sys.executable, "-m", "vae_core.core.worker", "--command", str(state_file)],
                         stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=worker_env(),
                         start_new_session=True)
    return state


def make_runner(root: Path | None = None, backend: str | None = None) -> JobRunner:
    """The runner over ``root`` (the user runs folder by default) for ``backend`` (``VAE_JOB_BACKEND``,
    default ``local``)."""
    backend = backend or os.environ.get("VAE_JOB_BACKEND") or "local"
    if backend == "local":
        return LocalJobRunner(root)
    if backend == "ray":
        try:
            from vae_core.core.cluster import RayJobRunner  # optional: Ray is the `cluster` extra
        except ImportError:
            raise ConfigError("VAE_JOB_BACKEND=ray needs Ray: install it with `pip install .[cluster]`.") from None
        return RayJobRunner(root)
    raise ConfigError(f"VAE_JOB_BACKEND must be 'local' or 'ray', not {backend!r}.")
