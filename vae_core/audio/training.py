"""Training the audio separation VAE on MIR-1K (the ``train`` split; its ``dev`` clips are held out to pick the
best epoch).

Each step draws random patches: a voice segment and an accompaniment segment, from the same song or (with
probability ``remix_prob``) from two songs, each clip first levelled to 0 dB voice-to-music as in the test
protocol, then the voice scaled by a random gain in ``± gain_db``. Because the STFT is linear the mixture
spectrogram is the sum of the scaled source spectrograms, which are computed once per clip. With ``speeds``
the pool also holds every clip resampled to play that much faster or slower (speed perturbation, Ko et al.
2015, "Audio augmentation for speech recognition"): pitch and formants move together, which imitates other
singers than the two in the training split.

With ``ema_decay`` the model that is validated and saved is an exponential moving average of the trained
weights (and BatchNorm statistics), which smooths the epoch-to-epoch swings of a small, noisy training set.

The loop reports through the image trainer's :class:`~vae_core.training.Callbacks` and honours its stop event;
the best model (by the dev clips' voice NSDR) is saved every time it improves.
"""
from __future__ import annotations

import math
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import ConfigError
from ..training import (_GLOBAL_RNG_LOCK, Callbacks, TrainResult, annealed_beta, optimizer_step, out_of_time,
                        pick_device, record_epoch, report_step)
from .data import Clip, find_clips, mix_at_snr, read_clip, split_clips
from .filtering import check_mask_power, normalised_patches
from .io import change_speed, check_speeds
from .losses import AUDIO_LOSS_TERMS, audio_separation_loss
from .model import AudioConvConfig, AudioConvSeparationVAE
from .transforms import STFTConfig, stft


# The speed perturbation and weight average of the shipped checkpoint (offered as such on the Train page).
PERTURBED_SPEEDS = (0.85, 0.92, 1.0, 1.08, 1.17)
EMA_DECAY = 0.998


@dataclass
class AudioTrainConfig:
    """Everything that determines an audio training run; saved in the checkpoint beside the weights."""

    model: str = "audio-conv"
    model_config: dict[str, Any] = field(default_factory=dict)
    beta: float = 0.01
    mask_weight: float = 10.0
    mask_power: float = 2.0  # soft masks |S|^p / sum |S|^p in the masked terms and the dev-clip validation
    epochs: int = 20
    batch_size: int = 16
    lr: float = 1e-3
    seed: int = 0
    gain_db: float = 6.0
    remix_prob: float = 0.5
    kl_anneal_epochs: float = 0.0
    free_bits: float = 0.0
    time_budget_s: float | None = None
    train_clips: int | None = None  # use only the first N training clips (quick runs, tests)
    val_clips: int | None = None  # score only the first N dev clips each epoch
    lr_schedule: str = "cosine"
    init_from: str | None = None  # start from this checkpoint's weights (a name or folder), e.g. to train on
    speeds: tuple[float, ...] = (1.0,)  # playback speeds of the training clips (1.0 = as recorded)
    ema_decay: float = 0.0  # per-step decay of the weight average that is validated and saved (0: off)

    def validate(self) -> None:
        check_mask_power(self.mask_power)
        check_speeds(self.speeds)
        checks = [
            (self.model == "audio-conv", f"model must be 'audio-conv', not {self.model!r}."),
            (math.isfinite(self.beta) and self.beta >= 0, f"beta must be a number >= 0, not {self.beta}."),
            (math.isfinite(self.mask_weight) and self.mask_weight >= 0, "mask_weight must be >= 0."),
            (self.epochs >= 1, f"epochs must be at least 1, not {self.epochs}."),
            (1 <= self.batch_size <= 1024, f"batch_size must be between 1 and 1024, not {self.batch_size}."),
            (0 < self.lr < 1, f"lr must be between 0 and 1, not {self.lr}."),
            (0 <= self.gain_db <= 30, f"gain_db must be between 0 and 30, not {self.gain_db}."),
            (0 <= self.remix_prob <= 1, f"remix_prob must be between 0 and 1, not {self.remix_prob}."),
            (self.kl_anneal_epochs >= 0, "kl_anneal_epochs must be >= 0."),
            (self.free_bits >= 0, "free_bits must be >= 0."),
            (self.time_budget_s is None or self.time_budget_s > 0, "time_budget_s must be positive."),
            (self.lr_schedule in ("cosine", "constant"), "lr_schedule must be 'cosine' or 'constant'."),
            (0 <= self.seed < 2**63, f"seed must be between 0 and 2**63 - 1, not {self.seed}."),
            (self.train_clips is None or self.train_clips >= 1, "train_clips must be at least 1."),
            (self.val_clips is None or self.val_clips >= 1, "val_clips must be at least 1."),
            (0 <= self.ema_decay < 1, f"ema_decay must be in [0, 1), not {self.ema_decay}."),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(message)
        AudioConvConfig(**_tuples(self.model_config)).validate()


def _tuples(values: dict[str, Any]) -> dict[str, Any]:
    return {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}


class SpectrogramPool:
    """Complex spectrograms of every training clip's voice and accompaniment, levelled to 0 dB, at each of
    ``speeds`` (a clip at speed 1.1 plays 10 % faster and higher; voice and accompaniment move together).

    ``sample`` returns mixture ``(batch, F, T)`` and sources ``(batch, source, F, T)``, complex.
    ``total_frames`` counts the clips as recorded, so an epoch means the same with or without extra speeds.
    """

    def __init__(self, clips: list[Clip], frames: int, cfg: STFTConfig = STFTConfig(),
                 speeds: tuple[float, ...] = (1.0,)):
        self.frames = frames
        self.specs: list[torch.Tensor] = []  # (source, F, T_clip) complex64
        recorded = 0  # frames of the clips at speed 1
        for clip in clips:
            voice, acc = read_clip(clip)
            for speed in speeds:
                v, a = (voice, acc) if speed == 1.0 else change_speed(np.stack([voice, acc]), speed)
                _, a = mix_at_snr(v, a, 0.0)
                spec = stft(torch.from_numpy(np.stack([v, a]).astype(np.float32)), cfg)
                if spec.shape[-1] >= frames:
                    self.specs.append(spec)
                    recorded += spec.shape[-1] if speed == 1.0 else 0
        if not self.specs:
            raise ConfigError(f"No training clip is at least {frames} STFT frames long.")
        self.total_frames = recorded or sum(s.shape[-1] for s in self.specs)

    def sample(self, n: int, g: torch.Generator, gain_db: float,
               remix_prob: float) -> tuple[torch.Tensor, torch.Tensor]:
        k = len(self.specs)
        out = []
        for _ in range(n):
            i = int(torch.randint(k, (1,), generator=g))
            j = int(torch.randint(k, (1,), generator=g)) if float(torch.rand(1, generator=g)) < remix_prob else i
            segs = []
            for src, c in ((0, i), (1, j)):
                spec = self.specs[c]
                t0 = int(torch.randint(spec.shape[-1] - self.frames + 1, (1,), generator=g))
                segs.append(spec[src, :, t0:t0 + self.frames])
            gain = 10 ** ((float(torch.rand(1, generator=g)) * 2 - 1) * gain_db / 20)
            out.append(torch.stack([segs[0] * gain, segs[1]]))
        sources = torch.stack(out)
        return sources.sum(1), sources


def batch_tensors(mixture: torch.Tensor, sources: torch.Tensor,
                  cfg: STFTConfig = STFTConfig()) -> tuple[torch.Tensor, ...]:
    """Model input and loss targets from complex patches: ``x (B,F,T)``, ``targets (B,S,F,T)`` (normalised dB),
    ``mixture_mag (B,F,T)`` and ``source_mags (B,S,F,T)`` relative to each patch's loudest mixture bin."""
    x, targets = normalised_patches(mixture, sources, cfg)
    ref = mixture.abs().flatten(1).amax(1).clamp(min=1e-8).view(-1, 1, 1)
    return x, targets, mixture.abs() / ref, sources.abs() / ref.unsqueeze(1)


def empty_history() -> dict[str, Any]:
    return {"epoch": [], "seconds": [], "beta": [], "val_nsdr_voice": [], "val_nsdr_accompaniment": [],
            "train": {t: [] for t in AUDIO_LOSS_TERMS}, "val": {t: [] for t in AUDIO_LOSS_TERMS}}


class _Validation:
    """Fixed patches of the held-out dev clips (losses) and the clips themselves (NSDR)."""

    def __init__(self, clips: list[Clip], frames: int, seed: int):
        self.clips = clips
        pool = SpectrogramPool(clips, frames)
        g = torch.Generator().manual_seed(seed + 12345)
        self.mixture, self.sources = pool.sample(64, g, gain_db=0.0, remix_prob=0.0)

    @torch.no_grad()
    def losses(self, model: AudioConvSeparationVAE, cfg: AudioTrainConfig, device: torch.device) -> dict[str, float]:
        model.eval()
        sums = {t: 0.0 for t in AUDIO_LOSS_TERMS}
        for s in range(0, len(self.mixture), 32):
            x, targets, mmag, smag = (t.to(device) for t in batch_tensors(self.mixture[s:s + 32],
                                                                          self.sources[s:s + 32]))
            terms = audio_separation_loss(model(x), targets, x, mmag, smag, cfg.beta, cfg.mask_weight,
                                          mask_power=cfg.mask_power)
            for t in AUDIO_LOSS_TERMS:
                sums[t] += terms[t].item() * len(x)
        return {t: v / len(self.mixture) for t, v in sums.items()}

    def nsdr(self, model: AudioConvSeparationVAE, mask_power: float) -> np.ndarray:
        from .evaluation import evaluate_clips
        from .separation import AudioSeparator

        return evaluate_clips(AudioSeparator(model, {"inference": {"mask_power": mask_power}}), self.clips)["gnsdr"]


def train_audio(cfg: AudioTrainConfig, callbacks: Callbacks | None = None, stop: threading.Event | None = None,
                out_dir: Path | None = None, data_root: Path | None = None, device: str | None = None,
                meta: dict[str, Any] | None = None) -> TrainResult:
    """Train the audio separation VAE; keep (and, with ``out_dir``, save) the best model on the dev clips."""
    from ..checkpoints import save_checkpoint
    from .data import manifest_checksums

    cfg.validate()
    callbacks = callbacks or Callbacks()
    stop = stop or threading.Event()
    dev = pick_device(device)
    g = torch.Generator().manual_seed(cfg.seed)
    model_cfg = AudioConvConfig(**_tuples(cfg.model_config))

    clips = find_clips(data_root)
    train_split = split_clips(clips, "train")
    train_clips = [c for c in train_split if c.split == "train"][: cfg.train_clips]
    val_clips = [c for c in train_split if c.split == "dev"][: cfg.val_clips]
    if not val_clips:
        val_clips, train_clips = train_clips[-1:], train_clips[:-1] or train_clips
    pool = SpectrogramPool(train_clips, model_cfg.frames, speeds=tuple(cfg.speeds))
    val = _Validation(val_clips, model_cfg.frames, cfg.seed)

    with _GLOBAL_RNG_LOCK:
        torch.manual_seed(cfg.seed)
        model = AudioConvSeparationVAE(model_cfg).to(dev)
        noise_g = torch.Generator(device=dev)
        if dev.type == "cpu":
            noise_g.set_state(torch.get_rng_state())
        else:
            noise_g.manual_seed(cfg.seed)
    if cfg.init_from:
        _load_initial_weights(model, cfg.init_from)
    model = model.to(memory_format=torch.channels_last)  # about 1.6x faster convolutions on CPU
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    ema = (torch.optim.swa_utils.AveragedModel(model, multi_avg_fn=_ema_update(cfg.ema_decay), use_buffers=True)
           if cfg.ema_decay > 0 else None)
    # The model that is validated and kept: the running average when there is one.
    kept = ema.module if ema is not None else model
    steps_per_epoch = max(1, pool.total_frames // model_cfg.frames // cfg.batch_size)
    total_steps = cfg.epochs * steps_per_epoch
    sched = (torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total_steps)
             if cfg.lr_schedule == "cosine" else None)

    def sidecar(history: dict[str, Any], best_epoch: int) -> dict[str, Any]:
        return audio_training_meta(cfg, history, best_epoch, manifest_checksums(data_root), meta)

    history = empty_history()
    best_score, best_epoch, best_state = -math.inf, 0, None
    t0 = time.perf_counter()
    stopped = False
    step = 0
    for epoch in range(1, cfg.epochs + 1):
        model.train()
        sums = {t: 0.0 for t in AUDIO_LOSS_TERMS}
        seen = 0
        for i in range(steps_per_epoch):
            if out_of_time(stop, cfg, t0):
                stopped = True
                break
            mixture, sources = pool.sample(cfg.batch_size, g, cfg.gain_db, cfg.remix_prob)
            x, targets, mmag, smag = (t.to(dev) for t in batch_tensors(mixture, sources))
            beta = annealed_beta(cfg, epoch, i, steps_per_epoch)
            out = model(x, generator=noise_g)
            terms = audio_separation_loss(out, targets, x, mmag, smag, beta, cfg.mask_weight, cfg.free_bits,
                                          cfg.mask_power)
            optimizer_step(opt, sched, terms["total"])
            if ema is not None:
                ema.update_parameters(model)
            step += 1
            for t in AUDIO_LOSS_TERMS:
                sums[t] += terms[t].item() * len(x)
            seen += len(x)
            report_step(callbacks, cfg, terms, model, epoch=epoch, step=step, steps_per_epoch=steps_per_epoch,
                        total_steps=total_steps, beta=beta, t0=t0)
        if seen == 0:
            break
        val_terms = val.losses(kept, cfg, dev)
        nsdr = val.nsdr(kept, cfg.mask_power)
        model.eval()
        record_epoch(history, epoch if not stopped else round(epoch - 1 + i / steps_per_epoch, 3), t0, beta, sums,
                     seen, val_terms, {"val_nsdr_voice": float(nsdr[0]), "val_nsdr_accompaniment": float(nsdr[1])})
        improved = float(nsdr[0]) > best_score
        if improved:
            best_score, best_epoch = float(nsdr[0]), len(history["epoch"])
            best_state = {k: v.detach().clone() for k, v in kept.state_dict().items()}
            if out_dir is not None:
                save_checkpoint(out_dir, kept, sidecar(history, best_epoch))
        callbacks.on_epoch({"epoch": history["epoch"][-1], "train": {t: history["train"][t][-1] for t in AUDIO_LOSS_TERMS},
                            "val": val_terms, "val_nsdr_voice": float(nsdr[0]),
                            "val_nsdr_accompaniment": float(nsdr[1]), "seconds": history["seconds"][-1],
                            "improved": improved, "model": kept, "history": history})
        if stopped:
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    if out_dir is not None and best_state is not None:
        save_checkpoint(out_dir, model, sidecar(history, best_epoch))
    return TrainResult(model, history, best_epoch, stopped, time.perf_counter() - t0)


def _ema_update(decay: float):
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


def _load_initial_weights(model: AudioConvSeparationVAE, name_or_path: str) -> None:
    from ..checkpoints import load_model, resolve_checkpoint

    start, _ = load_model(resolve_checkpoint(name_or_path))
    if start.kind != model.kind or start.config != model.config:
        raise ConfigError(f"{name_or_path} was built with other model settings ({start.config}) than this run "
                          f"({model.config}); start from a checkpoint with the same settings, or from scratch.")
    model.load_state_dict(start.state_dict())


def audio_training_meta(cfg: AudioTrainConfig, history: dict[str, Any], best_epoch: int,
                        data: dict[str, str], extra: dict[str, Any] | None) -> dict[str, Any]:
    from ..checkpoints import training_meta

    meta = training_meta(cfg, history, best_epoch, None, extra)
    meta.update({"task": "audio", "data": {"mir1k": data}, "train_config": asdict(cfg)})
    meta.update(extra or {})
    return meta
