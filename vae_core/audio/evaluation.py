"""Scoring separations of MIR-1K clips: the model, the oracle ideal ratio mask and the mixture as estimate.

Protocol (Hsu & Jang 2010; Huang et al. 2014): voice and accompaniment of each clip mixed at 0 dB SNR;
BSS Eval v3 per clip; GNSDR/GSIR/GSAR are length-weighted means over clips (per source: voice,
accompaniment).
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import torch

from vae_core.audio.data import mix_at_snr
from vae_core.core.mir1k import Clip, find_clips, read_clip, split_clips
from vae_core.audio.filtering import check_mask_power, inference_cost, separate_waveform
from vae_core.audio.inference import AudioSeparator, check_overlap
from vae_core.core.audio_io import check_speeds
from vae_core.core.checkpoints import load_model
from vae_core.core.store import update_sidecar
from vae_core.core.errors import DataMissingError
from vae_core.core.metrics import ClipScore, bss_eval, global_scores
from vae_core.audio.model import AudioConvSeparationVAE
from vae_core.core.spectral import STFTConfig, apply_masks, soft_masks, stft


def oracle_irm(voice: np.ndarray, accompaniment: np.ndarray, cfg: STFTConfig = STFTConfig()) -> np.ndarray:
    """The ideal ratio mask |V| / (|V| + |A|) applied to the mixture with its phase: ``(2, samples)``."""
    v, a = torch.from_numpy(voice), torch.from_numpy(accompaniment)
    specs = stft(torch.stack([v, a]), cfg)
    masks = soft_masks(specs.abs().unsqueeze(0), 1.0)
    return apply_masks(specs.sum(0, keepdim=True), masks, len(v), cfg)[0].numpy()


def evaluate_methods(methods: dict[str, AudioConvSeparationVAE | str], clips: list[Clip], snr_db: float = 0.0,
                     progress: Callable[[int, int], None] | None = None) -> dict[str, dict[str, object]]:
    """Score several methods (name -> a loaded separator with its mask power, speeds and overlap; a bare model
    with masks of power ``MASK_POWER`` in one pass; ``"oracle"`` or ``"mixture"``) on the same ``clips`` in one
    sweep; the mixture's own BSS Eval (the NSDR baseline) is computed once per clip and shared.

    Returns, per method, ``gnsdr``, ``gsir``, ``gsar``, ``mean_sdr`` (each ``[voice, accompaniment]``) and the
    per-clip ``scores``."""
    per_method: dict[str, list[ClipScore]] = {name: [] for name in methods}
    for k, clip in enumerate(clips):
        voice, acc = read_clip(clip)
        mixture, acc = mix_at_snr(voice, acc, snr_db)
        refs = np.stack([voice, acc])
        as_mixture = np.stack([mixture, mixture])
        mix_scores = bss_eval(refs, as_mixture)
        for name, method in methods.items():
            if isinstance(method, str) and method == "oracle":
                est = oracle_irm(voice, acc)
            elif isinstance(method, str) and method == "mixture":
                est = as_mixture
            elif hasattr(method, "separate_16k"):  # a separator: its checkpoint's mask power and speeds
                voice_est = method.separate_16k(mixture)
                est = np.stack([voice_est, mixture - voice_est])  # what the app plays
            else:
                est = separate_waveform(method, mixture)
            r = mix_scores if est is as_mixture else bss_eval(refs, est)
            per_method[name].append(ClipScore(len(voice), r["sdr"], r["sir"], r["sar"], mix_scores["sdr"]))
        if progress:
            progress(k + 1, len(clips))
    return {name: {**global_scores(scores), "scores": scores} for name, scores in per_method.items()}


def evaluate_clips(method: AudioConvSeparationVAE | str, clips: list[Clip], snr_db: float = 0.0,
                   progress: Callable[[int, int], None] | None = None) -> dict[str, object]:
    """Score one method (a model, ``"oracle"`` or ``"mixture"``) on ``clips``; see :func:`evaluate_methods`."""
    return evaluate_methods({"method": method}, clips, snr_db, progress)["method"]


def evaluate_audio_checkpoint(folder: Path, data_root: Path | None = None, limit: int | None = None,
                              progress: Callable[[int, int], None] | None = None,
                              store: bool = True) -> dict[str, object]:
    """Score a checkpoint on the MIR-1K ``test`` clips (the first ``limit`` of them) at 0 dB: ``gnsdr``,
    ``gsir``, ``gsar``, ``mean_sdr`` per source, with the mask power, test-time speeds and patch overlap they
    were measured with; with ``store``, also in its sidecar as ``test_metrics``."""

    model, meta = load_model(Path(folder))
    clips = split_clips(find_clips(data_root), "test")[:limit]
    sep = AudioSeparator(model, meta, Path(folder))
    res = evaluate_clips(sep, clips, progress=progress)
    metrics = {k: [round(float(v), 4) for v in res[k]] for k in ("gnsdr", "gsir", "gsar", "mean_sdr")}
    metrics.update(clips=len(clips), snr_db=0.0, sources=["voice", "accompaniment"], mask_power=sep.mask_power,
                   speeds=list(sep.speeds), overlap=sep.overlap)
    if store:
        update_sidecar(Path(folder), test_metrics=metrics)
    return metrics


TUNE_POWERS = (0.5, 0.75, 1.0, 1.5, 2.0, 3.0)
# Test-time speed sets tried by ``tune``: one pass, then ever more passes over the speed-perturbation range.
TUNE_SPEED_SETS = ((1.0,), (0.92, 1.0, 1.08), (0.8, 0.9, 1.0, 1.1, 1.25),
                   (0.8, 0.85, 0.9, 0.95, 1.0, 1.05, 1.1, 1.17, 1.25))
TUNE_OVERLAPS = (1, 2)  # patches per frame: 1 = side by side, 2 = 50 % overlap
# The app separates while the user waits: a setting within this much voice GNSDR of the best one that costs
# less model work is preferred.
TUNE_TOLERANCE_DB = 0.05


def choose_setting(rows: list[dict[str, object]], tolerance_db: float = TUNE_TOLERANCE_DB) -> dict[str, object]:
    """The row (``mask_power``, ``speeds``, ``overlap``, ``gnsdr`` = [voice, accompaniment]) to keep: among
    those within ``tolerance_db`` of the best voice GNSDR, the cheapest (:func:`inference_cost`), then the best."""
    best = max(float(r["gnsdr"][0]) for r in rows)
    close = [r for r in rows if float(r["gnsdr"][0]) >= best - tolerance_db]
    return min(close, key=lambda r: (inference_cost(r["speeds"], r["overlap"]), -float(r["gnsdr"][0])))


def tune_inference(folder, data_root=None, powers: tuple[float, ...] = TUNE_POWERS,
                   speed_sets: tuple[tuple[float, ...], ...] = TUNE_SPEED_SETS,
                   overlaps: tuple[int, ...] = TUNE_OVERLAPS,
                   progress: Callable[[int, int], None] | None = None) -> dict[str, object]:
    """Choose the checkpoint's inference mask power, test-time speeds and patch overlap on the held-out
    ``dev`` clips (never the test clips) and store them in the sidecar as ``inference``, with every setting's
    dev scores and cost.

    Masks ``|V|^p / (|V|^p + |A|^p)``: a lower power gives softer masks (fewer artifacts, more leakage).
    Speeds: see :mod:`vae_core.audio.separation`; the choice follows :func:`choose_setting`."""


    model, meta = load_model(Path(folder))
    clips = [c for c in find_clips(data_root) if c.split == "dev"]
    if not clips:
        raise DataMissingError("This MIR-1K copy has no dev clips to tune on (the project's manifest lists four).")
    settings = [(check_mask_power(p), check_speeds(sp), check_overlap(ov)) for p in powers for sp in speed_sets
                for ov in overlaps]
    methods = {}
    for k, (p, sp, ov) in enumerate(settings):
        sep = AudioSeparator(model, meta)
        sep.mask_power, sep.speeds, sep.overlap = p, sp, ov
        methods[str(k)] = sep
    results = evaluate_methods(methods, clips, progress=progress)
    rows = [{"mask_power": p, "speeds": list(sp), "overlap": ov, "cost": round(inference_cost(sp, ov), 3),
             "gnsdr": [round(float(v), 4) for v in results[str(k)]["gnsdr"]]}
            for k, (p, sp, ov) in enumerate(settings)]
    chosen = choose_setting(rows)
    inference = {"mask_power": chosen["mask_power"], "speeds": chosen["speeds"], "overlap": chosen["overlap"],
                 "chosen_on": f"{len(clips)} MIR-1K dev clips at 0 dB", "tolerance_db": TUNE_TOLERANCE_DB,
                 "dev_gnsdr": rows}
    update_sidecar(Path(folder), inference=inference)
    return inference
