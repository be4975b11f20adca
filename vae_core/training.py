"""Training loop for image separation VAEs.

The loop knows nothing about the UI: it reports through a :class:`Callbacks` object (``on_step``,
``on_epoch``) and stops early when its ``stop`` event is set, keeping the best model so far.
The best-validation model is written to ``out_dir`` (if given) every time it improves, so a run that is
stopped or killed still leaves a complete checkpoint behind.
"""
from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .errors import ConfigError
from .losses import LOSS_TERMS, separation_loss
from .metrics import psnr
from .mixing import PairSet, load_pairs, mix
from .models import IMAGE_MODEL_KINDS, SeparationVAE, build_model, mixture_consistency


_GLOBAL_RNG_LOCK = threading.Lock()


def pick_device(device: str | None = None) -> torch.device:
    """CUDA when present, CPU otherwise (or the device asked for)."""
    if device:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@dataclass
class TrainConfig:
    """Everything that determines a training run; saved in the checkpoint beside the weights."""

    model: str = "conv"
    model_config: dict[str, Any] = field(default_factory=dict)
    beta: float = 1.0
    epochs: int = 10
    batch_size: int = 128
    lr: float = 1e-3
    seed: int = 0
    weight: float = 0.5
    noise: float = 0.0
    kl_anneal_epochs: float = 0.0  # Bowman et al. 2016: beta ramps linearly from 0 over this many epochs
    free_bits: float = 0.0  # Kingma et al. 2016: nats per latent dimension
    consistency: float = 0.0  # weight of the loss on mixture-consistent outputs (Wisdom et al. 2019)
    time_budget_s: float | None = None
    train_limit: int | None = None  # use only the first N training pairs (quick runs, tests)
    val_limit: int | None = None
    lr_schedule: str = "cosine"  # "cosine" or "constant"

    def validate(self) -> None:
        checks = [
            (self.model in IMAGE_MODEL_KINDS,
             f"model must be one of {', '.join(IMAGE_MODEL_KINDS)}, not {self.model!r}."),
            (math.isfinite(self.beta) and self.beta >= 0, f"beta must be a number >= 0, not {self.beta}."),
            (self.epochs >= 1, f"epochs must be at least 1, not {self.epochs}."),
            (1 <= self.batch_size <= 8192, f"batch_size must be between 1 and 8192, not {self.batch_size}."),
            (0 < self.lr < 1, f"lr must be between 0 and 1, not {self.lr}."),
            (0 < self.weight < 1, f"weight must be strictly between 0 and 1, not {self.weight}."),
            (0 <= self.noise <= 1, f"noise must be between 0 and 1, not {self.noise}."),
            (self.kl_anneal_epochs >= 0, f"kl_anneal_epochs must be >= 0, not {self.kl_anneal_epochs}."),
            (self.free_bits >= 0, f"free_bits must be >= 0, not {self.free_bits}."),
            (self.consistency >= 0, f"consistency must be >= 0, not {self.consistency}."),
            (self.time_budget_s is None or self.time_budget_s > 0, "time_budget_s must be positive."),
            (self.lr_schedule in ("cosine", "constant"), "lr_schedule must be 'cosine' or 'constant'."),
            (0 <= self.seed < 2**63, f"seed must be between 0 and 2**63 - 1, not {self.seed}."),
            (self.train_limit is None or self.train_limit >= self.batch_size,
             f"train_limit must be at least the batch size ({self.batch_size}), not {self.train_limit}."),
            (self.val_limit is None or self.val_limit >= 1, f"val_limit must be at least 1, not {self.val_limit}."),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(message)
        build_model(self.model, self.model_config)  # validates the model settings too


PRESETS: dict[str, dict[str, Any]] = {
    # About a minute on 2 CPU cores: the course MLP, a few passes over the data.
    "quick": dict(model="mlp", model_config={"latent_dim": 16, "hidden": [512, 256]}, beta=1.0, epochs=4,
                  batch_size=256, lr=2e-3, time_budget_s=75.0),
    # About ten minutes: the shipped convolutional design, a third of its schedule.
    "full": dict(model="conv", model_config={"latent_dim": 64, "channels": [16, 32, 64], "hidden": 512},
                 beta=0.05, epochs=10, batch_size=256, lr=2e-3),
}
"""Named starting points for training runs (the app's presets and ``bench train-quick``)."""


def preset(name: str, **overrides: Any) -> TrainConfig:
    """A :class:`TrainConfig` from a named preset, with some fields replaced."""
    if name not in PRESETS:
        raise ConfigError(f"Unknown preset {name!r}; choose one of {', '.join(PRESETS)}.")
    values = {**PRESETS[name], **overrides}
    values["model_config"] = dict(values["model_config"])
    return TrainConfig(**values)


class Callbacks:
    """Progress hooks; override what you need. Called from the training thread."""

    def on_step(self, info: dict[str, Any]) -> None:
        """After each optimiser step: ``epoch``, ``step``, ``steps_per_epoch``, ``total_steps``, ``progress``
        (0..1, by steps or by the time budget, whichever is further), ``loss``, ``recon``, ``kl``, ``beta``,
        ``elapsed`` and ``model`` (in train mode; switch to eval and back to draw a preview)."""

    def on_epoch(self, record: dict[str, Any]) -> None:
        """After each epoch: ``epoch``, ``train`` and ``val`` (term -> value), ``val_psnr`` (raw decoders),
        ``val_psnr_projected`` (mixture-consistent), ``seconds``, ``improved``, ``model`` and ``history`` (the
        run's whole history so far, which the loop goes on appending to: copy what you keep)."""


@dataclass
class TrainResult:
    model: SeparationVAE
    history: dict[str, Any]
    best_epoch: int
    stopped: bool
    seconds: float


def out_of_time(stop: threading.Event, cfg: Any, t0: float) -> bool:
    """The stop event is set or the run's time budget is spent."""
    return stop.is_set() or bool(cfg.time_budget_s and time.perf_counter() - t0 > cfg.time_budget_s)


def annealed_beta(cfg: Any, epoch: int, i: int, steps_per_epoch: int) -> float:
    """β at step ``i`` of ``epoch``: linear KL annealing from 0 over ``kl_anneal_epochs`` (Bowman et al. 2016)."""
    epochs_done = epoch - 1 + i / steps_per_epoch
    return cfg.beta * min(1.0, epochs_done / cfg.kl_anneal_epochs) if cfg.kl_anneal_epochs else cfg.beta


def optimizer_step(opt: torch.optim.Optimizer, sched: Any, loss: torch.Tensor) -> None:
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    if sched:
        sched.step()


def report_step(callbacks: Callbacks, cfg: Any, terms: dict[str, torch.Tensor], model: torch.nn.Module, *,
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


def record_epoch(history: dict[str, Any], epoch: float, t0: float, beta: float, sums: dict[str, float], seen: int,
                 val_terms: dict[str, float], extras: dict[str, float]) -> None:
    """Append one epoch to a run's history: when, β, the task's own figures (``extras``), and every loss term's
    train mean (from the running ``sums`` over ``seen`` examples) and validation value."""
    history["epoch"].append(epoch)
    history["seconds"].append(round(time.perf_counter() - t0, 3))
    history["beta"].append(beta)
    for key, value in extras.items():
        history[key].append(value)
    for t in val_terms:
        history["train"][t].append(sums[t] / seen)
        history["val"][t].append(val_terms[t])


def empty_history() -> dict[str, Any]:
    return {"epoch": [], "seconds": [], "beta": [], "val_psnr": [], "val_psnr_projected": [],
            "train": {t: [] for t in LOSS_TERMS}, "val": {t: [] for t in LOSS_TERMS}}


@torch.no_grad()
def evaluate_losses(model: SeparationVAE, pairs: PairSet, cfg: TrainConfig, device: torch.device,
                    batch_size: int = 1000) -> tuple[dict[str, float], float, float]:
    """Mean loss terms (at the full beta) and mean PSNR over both sources, raw and mixture-consistent."""
    model.eval()
    g = torch.Generator().manual_seed(cfg.seed + 12345)  # same validation noise every epoch
    sums = {t: 0.0 for t in LOSS_TERMS}
    psnr_sum = psnr_proj_sum = 0.0
    for start in range(0, len(pairs), batch_size):
        d, c = pairs.sources(slice(start, start + batch_size))
        x = mix(d, c, cfg.weight, cfg.noise, g)
        clean = mix(d, c, cfg.weight)
        d, c, x, clean = d.to(device), c.to(device), x.to(device), clean.to(device)
        out = model(x, cfg.weight)
        terms = separation_loss(out, d, c, clean, cfg.beta, inputs=x, weight=cfg.weight,
                                consistency=cfg.consistency)
        for t in LOSS_TERMS:
            sums[t] += terms[t].item() * len(d)
        truth = torch.stack([d, c], 1)
        psnr_sum += psnr(out.sources, truth).mean(1).sum().item()
        psnr_proj_sum += psnr(mixture_consistency(out.sources, x, cfg.weight), truth).mean(1).sum().item()
    n = len(pairs)
    return {t: v / n for t, v in sums.items()}, psnr_sum / n, psnr_proj_sum / n


def train(cfg: TrainConfig, callbacks: Callbacks | None = None, stop: threading.Event | None = None,
          out_dir: Path | None = None, data_root: Path | None = None, device: str | None = None,
          meta: dict[str, Any] | None = None, download: bool = False) -> TrainResult:
    """Train an image separation VAE; keep (and, with ``out_dir``, save) the best-validation model.

    ``meta`` is merged into the checkpoint sidecar (e.g. the command line that started the run).
    """
    from .checkpoints import save_checkpoint, training_meta

    cfg.validate()
    callbacks = callbacks or Callbacks()
    stop = stop or threading.Event()
    dev = pick_device(device)
    g = torch.Generator().manual_seed(cfg.seed)  # pairing, batch order and input noise

    train_pairs = load_pairs("train", pair_seed=cfg.seed, root=data_root, download=download,
                             limit=cfg.train_limit)
    val_pairs = load_pairs("val", pair_seed=0, root=data_root, download=download, limit=cfg.val_limit)
    with _GLOBAL_RNG_LOCK:
        # Weight init draws from torch's global generator: seed and use it under a lock, then take the sampling
        # noise from a private generator that continues the same stream, so concurrent runs stay reproducible.
        torch.manual_seed(cfg.seed)
        model = build_model(cfg.model, cfg.model_config).to(dev)
        if dev.type == "cpu":
            noise_g = torch.Generator()
            noise_g.set_state(torch.get_rng_state())
        else:
            noise_g = torch.Generator(device=dev).manual_seed(cfg.seed)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    steps_per_epoch = max(1, len(train_pairs) // cfg.batch_size)  # drop the ragged last batch
    total_steps = cfg.epochs * steps_per_epoch
    sched = (torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total_steps)
             if cfg.lr_schedule == "cosine" else None)

    history = empty_history()
    best_val, best_epoch, best_state = math.inf, 0, None
    t0 = time.perf_counter()
    stopped = False
    step = 0
    for epoch in range(1, cfg.epochs + 1):
        model.train()
        epoch_pairs = train_pairs.repaired(g)
        order = torch.randperm(len(epoch_pairs), generator=g)
        sums = {t: 0.0 for t in LOSS_TERMS}
        seen = 0
        for i in range(steps_per_epoch):
            if out_of_time(stop, cfg, t0):
                stopped = True
                break
            rows = order[i * cfg.batch_size:(i + 1) * cfg.batch_size]
            d, c = epoch_pairs.sources(rows)
            x = mix(d, c, cfg.weight, cfg.noise, g)
            clean = mix(d, c, cfg.weight)
            d, c, x, clean = d.to(dev), c.to(dev), x.to(dev), clean.to(dev)
            beta = annealed_beta(cfg, epoch, i, steps_per_epoch)
            out = model(x, cfg.weight, generator=noise_g)
            terms = separation_loss(out, d, c, clean, beta, cfg.free_bits, inputs=x, weight=cfg.weight,
                                    consistency=cfg.consistency)
            optimizer_step(opt, sched, terms["total"])
            step += 1
            for t in LOSS_TERMS:
                sums[t] += terms[t].item() * len(d)
            seen += len(d)
            report_step(callbacks, cfg, terms, model, epoch=epoch, step=step, steps_per_epoch=steps_per_epoch,
                        total_steps=total_steps, beta=beta, t0=t0)
        if seen == 0:
            break
        val_terms, val_psnr, val_psnr_proj = evaluate_losses(model, val_pairs, cfg, dev)
        record_epoch(history, epoch if not stopped else round(epoch - 1 + seen / len(train_pairs), 3), t0, beta,
                     sums, seen, val_terms, {"val_psnr": val_psnr, "val_psnr_projected": val_psnr_proj})
        improved = val_terms["total"] < best_val
        if improved:
            best_val, best_epoch = val_terms["total"], len(history["epoch"])
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            if out_dir is not None:
                save_checkpoint(out_dir, model, training_meta(cfg, history, best_epoch, data_root, meta))
        callbacks.on_epoch({"epoch": history["epoch"][-1], "train": {t: history["train"][t][-1] for t in LOSS_TERMS},
                            "val": val_terms, "val_psnr": val_psnr, "val_psnr_projected": val_psnr_proj,
                            "seconds": history["seconds"][-1], "improved": improved, "model": model,
                            "history": history})
        if stopped:
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    if out_dir is not None and best_state is not None:
        # Re-write the sidecar so it carries the full history (epochs after the best one too).
        save_checkpoint(out_dir, model, training_meta(cfg, history, best_epoch, data_root, meta))
    return TrainResult(model, history, best_epoch, stopped, time.perf_counter() - t0)

