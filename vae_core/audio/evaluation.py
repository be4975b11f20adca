"""Scoring separations of MIR-1K clips: the model, the oracle ideal ratio mask and the mixture as estimate.

Protocol (Hsu & Jang 2010; Huang et al. 2014): voice and accompaniment of each clip mixed at 0 dB SNR;
BSS Eval v3 per clip; GNSDR/GSIR/GSAR are length-weighted means over clips (per source: voice,
accompaniment).
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from .data import Clip, mix_at_snr, read_clip
from .filtering import MASK_POWER, separate_spectrogram
from .metrics import ClipScore, bss_eval, global_scores
from .model import AudioConvSeparationVAE
from .transforms import STFTConfig, apply_masks, soft_masks, stft


def separate_waveform(model: AudioConvSeparationVAE, mixture: np.ndarray | torch.Tensor,
                      cfg: STFTConfig = STFTConfig(), progress: Callable[[float], None] | None = None,
                      mask_power: float = MASK_POWER) -> np.ndarray:
    """Separate a 16 kHz mixture ``(samples,)`` into ``(2, samples)`` = [voice, accompaniment], float32.

    The two estimates sum to the mixture (soft masks that sum to one, mixture phase)."""
    x = torch.as_tensor(np.asarray(mixture, dtype=np.float32))
    spec = stft(x, cfg)
    masks, _ = separate_spectrogram(model, spec, cfg, progress=progress, mask_power=mask_power)
    return apply_masks(spec.unsqueeze(0), masks.unsqueeze(0), len(x), cfg)[0].numpy()


def oracle_irm(voice: np.ndarray, accompaniment: np.ndarray, cfg: STFTConfig = STFTConfig()) -> np.ndarray:
    """The ideal ratio mask |V| / (|V| + |A|) applied to the mixture with its phase: ``(2, samples)``."""
    v, a = torch.from_numpy(voice), torch.from_numpy(accompaniment)
    specs = stft(torch.stack([v, a]), cfg)
    masks = soft_masks(specs.abs().unsqueeze(0), 1.0)
    return apply_masks(specs.sum(0, keepdim=True), masks, len(v), cfg)[0].numpy()


def evaluate_methods(methods: dict[str, AudioConvSeparationVAE | str], clips: list[Clip], snr_db: float = 0.0,
                     progress: Callable[[int, int], None] | None = None) -> dict[str, dict[str, object]]:
    """Score several methods (name -> a loaded separator, a bare model (masks of power ``MASK_POWER``),
    ``"oracle"`` or ``"mixture"``) on the same ``clips`` in one pass; the mixture's own BSS Eval (the NSDR
    baseline) is computed once per clip and shared.

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
            else:  # a separator brings its checkpoint's mask power
                est = separate_waveform(getattr(method, "model", method), mixture,
                                        mask_power=getattr(method, "mask_power", MASK_POWER))
            r = mix_scores if est is as_mixture else bss_eval(refs, est)
            per_method[name].append(ClipScore(len(voice), r["sdr"], r["sir"], r["sar"], mix_scores["sdr"]))
        if progress:
            progress(k + 1, len(clips))
    return {name: {**global_scores(scores), "scores": scores} for name, scores in per_method.items()}


def evaluate_clips(method: AudioConvSeparationVAE | str, clips: list[Clip], snr_db: float = 0.0,
                   progress: Callable[[int, int], None] | None = None) -> dict[str, object]:
    """Score one method (a model, ``"oracle"`` or ``"mixture"``) on ``clips``; see :func:`evaluate_methods`."""
    return evaluate_methods({"method": method}, clips, snr_db, progress)["method"]


def evaluate_audio_checkpoint(folder, data_root=None, limit: int | None = None,
                              progress: Callable[[int, int], None] | None = None) -> dict[str, object]:
    """Score a checkpoint on the MIR-1K ``test`` clips (the first ``limit`` of them) at 0 dB and store the
    figures in its sidecar as ``test_metrics``: ``gnsdr``, ``gsir``, ``gsar``, ``mean_sdr`` per source."""
    from pathlib import Path

    from ..checkpoints import load_model, update_sidecar
    from .data import find_clips, split_clips
    from .separation import AudioSeparator

    model, meta = load_model(Path(folder))
    clips = split_clips(find_clips(data_root), "test")[:limit]
    res = evaluate_clips(AudioSeparator(model, meta, Path(folder)), clips, progress=progress)
    metrics = {k: [round(float(v), 4) for v in res[k]] for k in ("gnsdr", "gsir", "gsar", "mean_sdr")}
    metrics.update(clips=len(clips), snr_db=0.0, sources=["voice", "accompaniment"])
    update_sidecar(Path(folder), test_metrics=metrics)
    return metrics


TUNE_POWERS = (0.5, 0.75, 1.0, 1.5, 2.0, 3.0)


def tune_mask_power(folder, data_root=None, powers: tuple[float, ...] = TUNE_POWERS,
                    progress: Callable[[int, int], None] | None = None) -> dict[str, object]:
    """Choose the checkpoint's inference mask power on the held-out ``dev`` clips (never the test clips) and
    store it in the sidecar as ``inference``: the power with the best voice GNSDR and every power's scores.

    Masks ``|V|^p / (|V|^p + |A|^p)``: a lower power gives softer masks (fewer artifacts, more leakage)."""
    from pathlib import Path

    from ..checkpoints import load_model, update_sidecar
    from ..errors import DataMissingError
    from .data import find_clips
    from .separation import AudioSeparator

    model, meta = load_model(Path(folder))
    clips = [c for c in find_clips(data_root) if c.split == "dev"]
    if not clips:
        raise DataMissingError("This MIR-1K copy has no dev clips to tune on (the project's manifest lists four).")
    methods = {}
    for p in powers:
        sep = AudioSeparator(model, meta)
        sep.mask_power = float(p)
        methods[f"{p:g}"] = sep
    results = evaluate_methods(methods, clips, progress=progress)
    scores = {k: [round(float(v), 4) for v in r["gnsdr"]] for k, r in results.items()}
    best = max(scores, key=lambda k: scores[k][0])
    inference = {"mask_power": float(best), "chosen_on": f"{len(clips)} MIR-1K dev clips at 0 dB",
                 "dev_gnsdr_by_power": scores}
    update_sidecar(Path(folder), inference=inference)
    return inference
