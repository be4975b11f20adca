"""One training job, run where the job runner put it: a worker process of this machine or a Ray task.

The run folder is the only channel between the worker and the server that watches it:

- ``job.json`` (:class:`~vae_core.core.jobs.JobState`): the worker writes status, progress, the live loss curve
  and the per-epoch history, atomically, at most a few times a second;
- ``preview.npy``: the task's live picture of the model (``TrainingTask.preview``), about once a second;
- ``heartbeat``: touched every second while the worker lives, so that a server that restarts can tell a live
  worker from a dead one;
- ``STOP``: created by the server to stop the run; the worker sees it within a fifth of a second;
- ``control.json``: the server's live commands, in order (pause, resume, one more epoch, a new β or learning
  rate; :meth:`vae_core.core.jobs.FolderJobRunner.control`); the worker applies each new one within a fifth of a
  second and marks a paused run's phase ``paused``.

Nothing here knows the web app: ``python -m vae_core.core.worker RUN_FOLDER`` runs a job left by any runner.
"""
from __future__ import annotations

import argparse
import copy
import importlib
import inspect
import io
import json
import os
import signal
import threading
import time
import traceback
from dataclasses import asdict
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from vae_core.core.cli import main as cli_main
from vae_core.core.store import atomic_write_bytes, atomic_write_json, update_sidecar
from vae_core.core.errors import LabError
from vae_core.core.inference import load_checkpoint
from vae_core.core.jobs import CONTROL_FILE, HEARTBEAT_FILE, JOB_FILE, PREVIEW_FILE, STOP_FILE, JobState, env_number
from vae_core.core.registry import get_task
from vae_core.core.trainer import Callbacks, Control, TrainingTask, run_training

MAX_PAUSE_S = 600.0
"""How long a run may stay paused before it stops (``VAE_MAX_PAUSE_S`` overrides it)."""
_MAX_CURVE_POINTS = 600  # live step curve kept per job (decimated), enough for a smooth plot
_WRITE_EVERY_S = 0.5  # job.json while steps run
_PREVIEW_EVERY_S = 1.0


def read_job(folder: Path) -> JobState:
    state = JobState(**json.loads((Path(folder) / JOB_FILE).read_text()))
    state.folder = str(folder)
    return state


class _Watcher(threading.Thread):
    """Sets ``stop`` when the server asks (the STOP file), passes the server's live commands (``control.json``) to
    the run's :class:`Control`, and touches the heartbeat file while the worker lives."""

    def __init__(self, folder: Path, stop: threading.Event, control: Control | None = None):
        super().__init__(name="job-watcher", daemon=True)
        self.folder, self.stop, self.done = folder, stop, threading.Event()
        self.control = control or Control()
        self.applied = 0  # commands of control.json already applied
        # A paused run holds a training slot (and a class may have one): it ends after this long paused.
        self.max_pause_s = env_number("VAE_MAX_PAUSE_S", MAX_PAUSE_S)
        self.paused_out = False

    def apply_commands(self) -> None:
        try:
            commands = json.loads((self.folder / CONTROL_FILE).read_text())["commands"]
        except (OSError, ValueError, KeyError, TypeError):
            return  # none yet (or a half-written file cannot happen: the server writes it atomically)
        for command in commands[self.applied:]:
            self.applied += 1
            do = command.get("do")
            try:
                if do == "pause":
                    self.control.pause()
                elif do == "resume":
                    self.control.resume()
                elif do == "step":
                    self.control.step_epoch()
                elif do == "change":
                    self.control.change(beta=command.get("beta"), lr=command.get("lr"))
            except LabError:
                pass  # the server checked the values; a hand-edited file cannot stop the run

    def run(self) -> None:
        beat = 0.0
        paused_since = None
        while not self.done.wait(0.2):
            if (self.folder / STOP_FILE).exists():
                self.stop.set()
            self.apply_commands()
            paused_since = (paused_since or time.monotonic()) if self.control.paused else None
            if paused_since is not None and time.monotonic() - paused_since > self.max_pause_s:
                self.paused_out = True
                self.stop.set()
            now = time.time()
            if now - beat >= 1.0:
                beat = now
                try:
                    (self.folder / HEARTBEAT_FILE).touch()
                except OSError:
                    pass  # the folder is gone: the training loop reports that


class _JobWriter(Callbacks):
    """Keeps the job's state and writes it to its run folder (throttled while steps run)."""

    def __init__(self, job: JobState, folder: Path, task: TrainingTask | None = None):
        self.job, self.folder, self.task = job, folder, task
        self._last_write = self._last_preview = 0.0
        self._stride = 1

    def write(self) -> None:
        self._last_write = time.time()
        try:
            atomic_write_json(self.folder / JOB_FILE, asdict(self.job))
        except (OSError, ValueError):
            pass  # the next write retries; a lost folder makes the training loop fail and report it

    def on_step(self, info: dict[str, Any]) -> None:
        job = self.job
        job.phase = "training"
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
        if self.task is not None and now - self._last_preview > _PREVIEW_EVERY_S:
            self._last_preview = now
            picture = self.task.preview(info["model"])
            if picture is not None:
                buffer = io.BytesIO()
                np.save(buffer, np.asarray(picture, dtype=np.float32), allow_pickle=False)
                try:
                    atomic_write_bytes(self.folder / PREVIEW_FILE, buffer.getvalue())
                except OSError:
                    pass
        if now - self._last_write > _WRITE_EVERY_S:
            self.write()

    def on_epoch(self, record: dict[str, Any]) -> None:
        self.job.history = copy.deepcopy(record["history"])  # a snapshot: the loop goes on appending
        self.write()

    def on_change(self, record: dict[str, Any]) -> None:
        self.job.history = {**self.job.history, "changes": [*self.job.history.get("changes", []), record]}
        self.write()

    def on_pause(self, paused: bool) -> None:
        self.job.phase, self.job.eta_s = ("paused", None) if paused else ("training", self.job.eta_s)
        self.write()


def run_job(folder: Path | str, stop: threading.Event | None = None) -> JobState:
    """Run the job whose ``job.json`` is in ``folder`` to its end; returns its final state (also written there).

    The job's config, task, data folder and scoring limit all come from ``job.json``; a finished run is scored on
    its task's test data unless it was stopped.
    """
    folder = Path(folder)
    stop = stop or threading.Event()
    job = read_job(folder)
    writer = _JobWriter(job, folder)
    control = Control()
    watcher = _Watcher(folder, stop, control)
    watcher.start()
    job.status, job.pid, job.phase = "running", os.getpid(), "loading"
    job.started = job.started or time.time()  # set by the runner when it launched this worker
    writer.write()
    t0 = time.perf_counter()
    try:
        if job.plugin:
            importlib.import_module(job.plugin)  # registers a task that lives outside vae_core.tasks
        spec = get_task(job.task)
        config = spec.config_class(**job.config)
        data_root = Path(job.data_root) if job.data_root else None
        task = spec.make_task(config, data_root)
        writer.task = task
        job.timings["loading_s"] = round(time.perf_counter() - t0, 2)
        meta = {"name": job.name, "origin": "app", "job_id": job.id, "owner": job.owner}
        result = run_training(task, writer, stop, out_dir=folder, meta=meta, control=control)
        job.timings["training_s"] = round(result.seconds, 2)
        # A stop is honoured at once: scoring takes long (`vae_core eval` can score the run later).
        if job.has_checkpoint and not stop.is_set():
            job.phase, job.eta_s = "scoring", None
            writer.write()
            t = time.perf_counter()

            def scored(fraction: float) -> None:
                job.scoring_progress = round(float(fraction), 4)
                writer.write()

            # A task's evaluate may report how far it has got (the page shows it); those that do not are timed only.
            reports = "progress" in inspect.signature(spec.evaluate).parameters
            metrics = spec.evaluate(load_checkpoint(folder), data_root, job.eval_limit,
                                    **({"progress": scored} if reports else {}))
            update_sidecar(folder, test_metrics=metrics)
            job.timings["scoring_s"] = round(time.perf_counter() - t, 2)
        kept = "the best model so far was kept." if job.has_checkpoint else "no model had been saved yet."
        if watcher.paused_out:
            job.status = "stopped"
            limit = watcher.max_pause_s
            paused = f"{limit:.0f} s" if limit < 120 else f"{limit / 60:.0f} min"
            job.message = f"Stopped after {paused} paused (a paused run holds a training slot); {kept}"
        elif stop.is_set():
            job.status, job.message = "stopped", f"Stopped; {kept}"
        elif result.stopped:
            job.status = "stopped"
            job.message = f"Reached the time limit of {config.time_budget_s:.0f} s; {kept}"
        else:
            job.status = "done"
        job.progress = 1.0 if job.status == "done" else job.progress
        job.history = result.history  # the run's own, also when no epoch finished (on_epoch never ran)
    except LabError as exc:
        job.status, job.message = "failed", str(exc)
    except Exception as exc:  # noqa: BLE001 - a failed run must report and end cleanly
        try:
            (folder / "error.log").write_text(traceback.format_exc())
            details = f"; details are in {folder}/error.log"
        except OSError:  # the run folder is unusable (disk full, removed): still report the failure
            details = ""
        job.status = "failed"
        job.message = f"Training failed ({type(exc).__name__}: {exc}){details}."
    finally:
        job.finished, job.eta_s, job.phase = time.time(), None, ""
        writer.write()
        watcher.done.set()
    return job


def run_command(state_file: Path) -> int:
    """Run the ``python -m vae_core`` command that :func:`vae_core.core.jobs.start_command` left in
    ``state_file``, touching its heartbeat every second, and record how it ended."""
    state = json.loads(state_file.read_text())
    heartbeat = state_file.with_name(state_file.name.replace(".command.json", ".heartbeat"))
    done = threading.Event()

    def beat() -> None:
        while not done.is_set():
            heartbeat.touch()
            done.wait(1.0)

    threading.Thread(target=beat, daemon=True).start()
    state["pid"] = os.getpid()
    atomic_write_json(state_file, state)
    try:
        code = cli_main(state["argv"])
    except Exception as exc:  # noqa: BLE001 - the page must learn how it ended
        traceback.print_exc()
        code, state["message"] = 1, f"It failed ({type(exc).__name__}: {exc})."
    finally:
        done.set()
    state["status"], state["finished"] = ("done" if code == 0 else "failed"), time.time()
    if code and not state.get("message"):
        state["message"] = "It failed; its log says why."
    atomic_write_json(state_file, state)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vae_core.core.worker", description=__doc__.split("\n")[0])
    parser.add_argument("folder", type=Path, nargs="?", help="a run folder holding job.json")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for torch (default: torch's own)")
    parser.add_argument("--command", type=Path, default=None,
                        help="instead of a training job: the state file of a command started beside a run")
    args = parser.parse_args(argv)
    if args.command is not None:
        return run_command(args.command)
    if args.folder is None:
        parser.error("give a run folder or --command")
    if args.threads:
        torch.set_num_threads(args.threads)
    stop = threading.Event()
    # SIGTERM (a runner shutting down, `kill`) ends the run the way Stop does: the best model so far is kept.
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    job = run_job(args.folder, stop)
    return 0 if job.status in ("done", "stopped") else 3


if __name__ == "__main__":
    raise SystemExit(main())
