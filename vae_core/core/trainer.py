"""The one training loop every task uses.

The loop knows no task and no UI. A task plugs in through :class:`TrainingTask` (build the model, draw a batch,
loss terms by name, a validation score and extra figures, a preview for the live view); the loop reports through
a :class:`Callbacks` object (``on_step``, ``on_epoch``, ``on_change``), stops early when its ``stop`` event is set
or its time budget is spent, can be paused, stepped an epoch at a time and have its β and learning rate changed
while it runs (:class:`Control`; every change is recorded in the history), optionally validates a moving average of
the weights (EMA), and keeps the best model by the task's validation score. With ``out_dir`` the best model is
written every time it improves, so a run that is stopped or killed still leaves a complete checkpoint behind. A run is not resumed: started again with the same
config and seed it gives the same numbers.
"""
from __future__ import annotations

import abc
import math
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vae_core.core.checkpoints import save_checkpoint, training_meta
from vae_core.core.errors import ConfigError
from vae_core.core.hyper import beta_problem, check_change, lr_problem
from vae_core.core.models import SeparationVAE, config_from_dict
from vae_core.core.registry import task_of_config

# Weight initialisation draws from torch's global generator: runs seed and use it under this lock, then take
# their sampling noise from a private generator that continues the same stream, so concurrent runs stay
# reproducible.
_GLOBAL_RNG_LOCK = threading.Lock()


def pick_device(device: str | None = None) -> torch.device:
    """CUDA when present, CPU otherwise (or the device asked for)."""
    if device:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@dataclass
class TrainingConfig:
    """The fields every task's training config shares (the loop reads them); each task subclasses it with its
    own fields and defaults and is saved in the checkpoint beside the weights."""

    model: str = ""
    model_config: dict[str, Any] = field(default_factory=dict)
    beta: float = 1.0
    epochs: int = 10
    batch_size: int = 128
    lr: float = 1e-3
    seed: int = 0
    kl_anneal_epochs: float = 0.0  # Bowman et al. 2016: beta ramps linearly from 0 over this many epochs
    free_bits: float = 0.0  # Kingma et al. 2016: nats per latent dimension
    time_budget_s: float | None = None
    lr_schedule: str = "cosine"  # "cosine" or "constant"
    ema_decay: float = 0.0  # per-step decay of a weight average that is validated and saved (0: off)

    max_batch_size = 8192  # a class constant (no field): a task may lower it

    def checks(self) -> list[tuple[bool, str]]:
        """(condition, the sentence when it fails) for every shared field; tasks add their own."""
        beta, lr = beta_problem(self.beta), lr_problem(self.lr)
        return [
            (beta is None, beta or ""),
            (self.epochs >= 1, f"epochs must be at least 1, not {self.epochs}."),
            (1 <= self.batch_size <= self.max_batch_size,
             f"batch_size must be between 1 and {self.max_batch_size}, not {self.batch_size}."),
            (lr is None, lr or ""),
            (self.kl_anneal_epochs >= 0, f"kl_anneal_epochs must be >= 0, not {self.kl_anneal_epochs}."),
            (self.free_bits >= 0, f"free_bits must be >= 0, not {self.free_bits}."),
            (self.time_budget_s is None or self.time_budget_s > 0, "time_budget_s must be positive."),
            (self.lr_schedule in ("cosine", "constant"), "lr_schedule must be 'cosine' or 'constant'."),
            (0 <= self.seed < 2**63, f"seed must be between 0 and 2**63 - 1, not {self.seed}."),
            (0 <= self.ema_decay < 1, f"ema_decay must be in [0, 1), not {self.ema_decay}."),
        ]

    def validate(self) -> None:
        """One :class:`ConfigError` sentence for the first setting out of range, then the model's settings."""
        for ok, message in self.checks():
            if not ok:
                raise ConfigError(message)
        config_from_dict(self.model, self.model_config).validate()


class Callbacks:
    """Progress hooks; override what you need. Called from the training thread."""

    def on_step(self, info: dict[str, Any]) -> None:
        """After each optimiser step: ``epoch``, ``step``, ``steps_per_epoch``, ``total_steps``, ``progress``
        (0..1, by steps or by the time budget, whichever is further), ``loss``, ``recon``, ``kl``, ``beta``,
        ``elapsed`` and ``model`` (in train mode; switch to eval and back to draw a preview)."""

    def on_epoch(self, record: dict[str, Any]) -> None:
        """After each epoch: ``epoch``, ``train`` and ``val`` (term -> value), the task's own figures (e.g.
        ``val_psnr`` or ``val_nsdr_voice``), ``seconds``, ``improved``, ``model`` (the validated one) and
        ``history`` (the run's whole history so far, which the loop goes on appending to: copy what you keep)."""

    def on_change(self, record: dict[str, Any]) -> None:
        """When a :class:`Control` change takes effect: ``epoch`` (fractional), ``step`` and the new ``beta`` and/or
        ``lr`` (the record also appended to ``history["changes"]``)."""

    def on_pause(self, paused: bool) -> None:
        """When the run pauses (``True``, called from the training thread before it waits) or goes on."""


class Control:
    """Live control of a run from another thread (the page's buttons, through the worker): pause, resume, run one
    more epoch and pause again, and change β or the learning rate.

    The training loop asks :meth:`before_step` before each optimiser step and :meth:`end_epoch` after each
    validation. Pausing changes no numbers: the same steps run in the same order with the same random draws, and
    the time spent paused counts neither towards the time budget nor in the recorded seconds.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._paused = False
        self._step = False  # "one more epoch" asked while paused
        self._until_epoch: int | None = None
        self._pending: dict[str, float] = {}

    @property
    def paused(self) -> bool:
        with self._cond:
            return self._paused

    def pause(self) -> None:
        with self._cond:
            self._paused, self._step, self._until_epoch = True, False, None
            self._cond.notify_all()

    def resume(self) -> None:
        with self._cond:
            self._paused, self._step, self._until_epoch = False, False, None
            self._cond.notify_all()

    def step_epoch(self) -> None:
        """Run to the end of the current epoch (a whole epoch when paused between two), then pause again."""
        with self._cond:
            self._paused, self._step = False, True
            self._cond.notify_all()

    def change(self, beta: float | None = None, lr: float | None = None) -> None:
        """Set β (it replaces any KL annealing from then on) and/or the learning rate (the schedule goes on from the
        new value) before the next step."""
        check_change(beta, lr)
        with self._cond:
            self._pending.update({k: float(v) for k, v in (("beta", beta), ("lr", lr)) if v is not None})
            self._cond.notify_all()

    def before_step(self, epoch: int, stop: threading.Event, on_pause: Any = None) -> tuple[dict[str, float], float]:
        """Wait while paused (until resumed, stepped or ``stop`` is set); returns the changes to apply now and the
        seconds spent waiting."""
        waited = 0.0
        with self._cond:
            if self._paused and on_pause is not None:
                on_pause(True)
            while self._paused and not stop.is_set():
                t = time.perf_counter()
                self._cond.wait(0.2)
                waited += time.perf_counter() - t
            if waited and on_pause is not None:
                on_pause(False)
            if self._step:
                self._step, self._until_epoch = False, epoch
            changes, self._pending = self._pending, {}
        return changes, waited

    def end_epoch(self, epoch: int) -> None:
        with self._cond:
            if self._until_epoch is not None and epoch >= self._until_epoch:
                self._paused, self._until_epoch = True, None


@dataclass
class TrainResult:
    model: SeparationVAE
    history: dict[str, Any]
    best_epoch: int
    stopped: bool
    seconds: float


class TrainingTask(abc.ABC):
    """One run's task side. Made by the task's ``TaskSpec.make_task(config, data_root, download)``, which loads
    the data; the loop then calls the methods below. ``config`` needs the fields the loop reads: ``seed``,
    ``epochs``, ``lr``, ``lr_schedule``, ``beta``, ``kl_anneal_epochs``, ``time_budget_s`` and ``ema_decay``."""

    name: str
    """The task's registry name, stamped into the sidecar."""
    loss_terms: tuple[str, ...]
    """Every loss term by name (``total``, ``recon`` and ``kl`` among them)."""
    figures: tuple[str, ...]
    """The task's per-epoch validation figures, recorded in the history beside the loss terms."""
    config: Any

    @abc.abstractmethod
    def build_model(self) -> SeparationVAE:
        """A fresh model (called with torch's global generator seeded with the run's seed)."""

    @abc.abstractmethod
    def steps_per_epoch(self) -> int: ...

    def start_epoch(self, g: torch.Generator) -> None:
        """Before each epoch (e.g. draw new pairs and a batch order from ``g``)."""

    @abc.abstractmethod
    def batch(self, i: int, g: torch.Generator, device: torch.device) -> tuple[Any, int]:
        """Step ``i``'s batch on ``device`` (random draws from ``g``) and its number of examples."""

    @abc.abstractmethod
    def loss(self, model: SeparationVAE, batch: Any, beta: float,
             noise: torch.Generator) -> dict[str, torch.Tensor]:
        """Loss terms by name; ``total`` is optimised. ``noise`` feeds the reparameterisation."""

    @abc.abstractmethod
    def validate(self, model: SeparationVAE, device: torch.device) -> tuple[dict[str, float], dict[str, float]]:
        """Validation loss terms and the task's figures (keys: ``figures``) of ``model`` (put in eval mode)."""

    @abc.abstractmethod
    def score(self, val_terms: dict[str, float], figures: dict[str, float]) -> float:
        """The number that picks the best epoch: higher is better."""

    @abc.abstractmethod
    def data_checksums(self) -> dict[str, Any]:
        """What data the run used (dataset -> file -> checksum), for the sidecar."""

    def preview(self, model: SeparationVAE) -> np.ndarray | None:
        """A picture in [0, 1] of what the model does now, for the live view (``None``: none)."""
        return None

    def empty_history(self) -> dict[str, Any]:
        return {"epoch": [], "seconds": [], "beta": [], **{f: [] for f in self.figures},
                "train": {t: [] for t in self.loss_terms}, "val": {t: [] for t in self.loss_terms}}


def out_of_time(stop: threading.Event, cfg: Any, t0: float) -> bool:
    """The stop event is set or the run's time budget is spent."""
    return stop.is_set() or bool(cfg.time_budget_s and time.perf_counter() - t0 > cfg.time_budget_s)


def annealed_beta(cfg: Any, epoch: int, i: int, steps_per_epoch: int) -> float:
    """β at step ``i`` of ``epoch``: linear KL annealing from 0 over ``kl_anneal_epochs`` (Bowman et al. 2016)."""
    epochs_done = epoch - 1 + i / steps_per_epoch
    return cfg.beta * min(1.0, epochs_done / cfg.kl_anneal_epochs) if cfg.kl_anneal_epochs else cfg.beta


def ema_update(decay: float):
    """In-place EMA step for ``AveragedModel``. The decay ramps up as ``(1 + n) / (10 + n)`` (as in TensorFlow's
    ExponentialMovingAverage) so the average does not drag the initial weights through the first epochs."""

    @torch.no_grad()
    def update(averaged: list[torch.Tensor], current: list[torch.Tensor], n: torch.Tensor) -> None:
        d = min(decay, (1.0 + float(n)) / (10.0 + float(n)))
        for a, c in zip(averaged, current):
            if a.is_floating_point():
                a.lerp_(c, 1.0 - d)
            else:  # BatchNorm's batch counters
                a.copy_(c)

    return update


def _report_step(callbacks: Callbacks, cfg: Any, terms: dict[str, torch.Tensor], model: torch.nn.Module, *,
                 epoch: int, step: int, steps_per_epoch: int, total_steps: int, beta: float, t0: float) -> None:
    """Call ``on_step`` with the documented fields; progress goes by steps or by the time budget."""
    elapsed = time.perf_counter() - t0
    progress = step / total_steps
    if cfg.time_budget_s:
        progress = max(progress, min(1.0, elapsed / cfg.time_budget_s))
    callbacks.on_step({"epoch": epoch, "step": step, "steps_per_epoch": steps_per_epoch,
                       "total_steps": total_steps, "progress": progress,
                       "loss": terms["total"].item(), "recon": terms["recon"].item(),
                       "kl": terms["kl"].item(), "beta": beta, "elapsed": elapsed, "model": model})


def _set_lr(opt: torch.optim.Optimizer, sched: Any, lr: float) -> None:
    """Make ``lr`` the current learning rate. PyTorch's cosine schedule steps by ratios of the current rate, so it
    goes on decaying from the new one with the same shape (its base rate is scaled to match)."""
    for k, group in enumerate(opt.param_groups):
        factor = lr / group["lr"] if group["lr"] > 0 else 1.0
        group["lr"] = lr
        if sched is not None:
            sched.base_lrs[k] *= factor


def run_training(task: TrainingTask, callbacks: Callbacks | None = None, stop: threading.Event | None = None,
                 out_dir: Path | None = None, device: str | None = None,
                 meta: dict[str, Any] | None = None, control: Control | None = None) -> TrainResult:
    """Train ``task``'s model; keep (and, with ``out_dir``, save) the model with the best validation score.

    ``meta`` is merged into the checkpoint sidecar (e.g. the command line that started the run). A partly done
    epoch (stop or time budget) is recorded as a fraction of its steps.
    """
    cfg = task.config
    callbacks = callbacks or Callbacks()
    stop = stop or threading.Event()
    control = control or Control()
    dev = pick_device(device)
    g = torch.Generator().manual_seed(cfg.seed)  # batches, pairings and input noise
    with _GLOBAL_RNG_LOCK:
        torch.manual_seed(cfg.seed)
        model = task.build_model().to(dev)
        if dev.type == "cpu":
            noise = torch.Generator()
            noise.set_state(torch.get_rng_state())
        else:
            noise = torch.Generator(device=dev).manual_seed(cfg.seed)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    ema = (torch.optim.swa_utils.AveragedModel(model, multi_avg_fn=ema_update(cfg.ema_decay), use_buffers=True)
           if cfg.ema_decay > 0 else None)
    kept = ema.module if ema is not None else model  # the model that is validated, returned and saved
    steps_per_epoch = max(1, task.steps_per_epoch())
    total_steps = cfg.epochs * steps_per_epoch
    sched = (torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total_steps)
             if cfg.lr_schedule == "cosine" else None)

    data = task.data_checksums()

    def sidecar(best_epoch: int) -> dict[str, Any]:
        return training_meta(task.name, cfg, history, best_epoch, data, meta)

    history = task.empty_history()
    best_score, best_epoch, best_state = -math.inf, 0, None
    t0 = time.perf_counter()
    stopped = False
    step = 0
    beta_set: float | None = None  # β chosen while the run went (Control.change), in place of the config's
    for epoch in range(1, cfg.epochs + 1):
        model.train()
        task.start_epoch(g)
        sums = {t: 0.0 for t in task.loss_terms}
        seen = done = 0
        for i in range(steps_per_epoch):
            changes, waited = control.before_step(epoch, stop, callbacks.on_pause)
            t0 += waited  # paused time is not training time
            if out_of_time(stop, cfg, t0):
                stopped = True
                break
            if changes:
                beta_set = changes.get("beta", beta_set)
                if "lr" in changes:
                    _set_lr(opt, sched, changes["lr"])
                record = {"epoch": round(epoch - 1 + i / steps_per_epoch, 3), "step": step, **changes}
                history.setdefault("changes", []).append(record)
                callbacks.on_change(record)
            batch, n = task.batch(i, g, dev)
            beta = annealed_beta(cfg, epoch, i, steps_per_epoch) if beta_set is None else beta_set
            terms = task.loss(model, batch, beta, noise)
            opt.zero_grad(set_to_none=True)
            terms["total"].backward()
            opt.step()
            if sched:
                sched.step()
            if ema is not None:
                ema.update_parameters(model)
            step += 1
            done += 1
            for t in task.loss_terms:
                sums[t] += terms[t].item() * n
            seen += n
            _report_step(callbacks, cfg, terms, model, epoch=epoch, step=step, steps_per_epoch=steps_per_epoch,
                         total_steps=total_steps, beta=beta, t0=t0)
        if seen == 0:
            break
        val_terms, figures = task.validate(kept, dev)
        model.eval()
        history["epoch"].append(epoch if done == steps_per_epoch else round(epoch - 1 + done / steps_per_epoch, 3))
        history["seconds"].append(round(time.perf_counter() - t0, 3))
        history["beta"].append(beta)
        for key in task.figures:
            history[key].append(figures[key])
        for t in task.loss_terms:
            history["train"][t].append(sums[t] / seen)
            history["val"][t].append(val_terms[t])
        score = task.score(val_terms, figures)
        improved = score > best_score
        if improved:
            best_score, best_epoch = score, len(history["epoch"])
            best_state = {k: v.detach().clone() for k, v in kept.state_dict().items()}
            if out_dir is not None:
                save_checkpoint(out_dir, kept, sidecar(best_epoch))
        callbacks.on_epoch({"epoch": history["epoch"][-1],
                            "train": {t: history["train"][t][-1] for t in task.loss_terms}, "val": val_terms,
                            **figures, "seconds": history["seconds"][-1], "improved": improved, "model": kept,
                            "history": history})
        control.end_epoch(epoch)
        if stopped:
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    if out_dir is not None and best_state is not None:
        # Re-write the sidecar so it carries the full history (epochs after the best one too).
        save_checkpoint(out_dir, model, sidecar(best_epoch))
    return TrainResult(model, history, best_epoch, stopped, time.perf_counter() - t0)


def train(config: Any, callbacks: Callbacks | None = None, stop: threading.Event | None = None,
          out_dir: Path | None = None, data_root: Path | None = None, device: str | None = None,
          meta: dict[str, Any] | None = None, download: bool = False, control: Control | None = None) -> TrainResult:
    """Train the task whose training config ``config`` is (validated first; its data loaded, downloaded if
    ``download``)."""
    config.validate()
    task = task_of_config(config).make_task(config, data_root, download)
    return run_training(task, callbacks, stop, out_dir, device, meta, control)
