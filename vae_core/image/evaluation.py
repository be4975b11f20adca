"""Evaluation of image separators on the fixed test mixtures, with the mixture-as-estimate baseline."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import torch

from vae_core.core.checkpoints import load_model

from vae_core.core.store import update_sidecar
from vae_core.core.errors import LabError
from vae_core.core.metrics import psnr, ssim
from vae_core.image.mixing import PairSet, load_pairs, mix
from vae_core.image.model import CONSISTENCY, REFINE_STEPS, SOURCES
from vae_core.image.inference import ImageSeparator


ESTIMATES = ("raw", "projected", "split", "refined_raw", "refined_projected", "refined_split")
"""The estimates :func:`evaluate_separator` scores; ``refined_split`` is the app's default setting."""


def per_image(estimates: torch.Tensor, truth: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """PSNR (dB) and SSIM of each image: two ``(N, 2)`` tensors for ``(N, 2, 28, 28)`` estimates and truth."""
    return psnr(estimates, truth), ssim(estimates, truth)


def summarize_scores(p: torch.Tensor, s: torch.Tensor) -> dict[str, float]:
    """Means per source and over both sources of per-image PSNR and SSIM ``(N, 2)``."""
    out: dict[str, float] = {}
    for i, name in enumerate(SOURCES):
        out[f"psnr_{name}"] = p[:, i].mean().item()
        out[f"ssim_{name}"] = s[:, i].mean().item()
    out["psnr_mean"] = p.mean().item()
    out["ssim_mean"] = s.mean().item()
    return out


def evaluate_separator(separator: ImageSeparator, pairs: PairSet | None = None, weight: float = 0.5,
                       noise: float = 0.0, pair_seed: int = 0, limit: int | None = None,
                       data_root: Path | None = None, batch_size: int = 1000,
                       refine_steps: int = REFINE_STEPS,
                       progress: Callable[[float], None] | None = None) -> dict[str, Any]:
    """Score a separator on test mixtures: the decoders' raw outputs, then projected and ratio-split, each
    without and with ``refine_steps`` of latent refinement (``refined_*``; ``refined`` is the app's default, split
    after refinement), and the mixture itself as a baseline."""
    if not 0 <= noise <= 1:
        raise LabError(f"The noise level must lie between 0 and 1, not {noise}.")
    if limit is not None and limit < 1:
        raise LabError(f"The number of test mixtures must be at least 1, not {limit}.")
    if pairs is None:
        pairs = load_pairs("test", pair_seed, root=data_root, limit=limit)
    g = torch.Generator().manual_seed(pair_seed)
    # Scored batch by batch (SSIM is the slow part), so that the progress reported is the work done.
    scores: dict[str, list[tuple[torch.Tensor, torch.Tensor]]] = {key: [] for key in (*ESTIMATES, "mixture_baseline")}
    for start in range(0, len(pairs), batch_size):
        d, c = pairs.sources(slice(start, start + batch_size))
        x = mix(d, c, weight, noise, g)
        truth = torch.stack([d, c], 1)
        for steps, prefix in ((0, ""), (refine_steps, "refined_")):
            drawn = separator.draw(x, weight, steps)
            scores[prefix + "raw"].append(per_image(drawn, truth))
            for name, method in CONSISTENCY.items():
                key = prefix + ("projected" if name == "project" else name)
                scores[key].append(per_image(method(drawn, x, weight), truth))
        scores["mixture_baseline"].append(per_image(torch.stack([x, x], 1), truth))
        if progress:
            progress(min(len(pairs), start + batch_size) / len(pairs))
    return {"n": len(pairs), "weight": weight, "noise": noise, "pair_seed": pair_seed, "refine_steps": refine_steps,
            **{key: summarize_scores(torch.cat([p for p, _ in parts]), torch.cat([s for _, s in parts]))
               for key, parts in scores.items()}}


def evaluate_checkpoint(folder: Path, data_root: Path | None = None, limit: int | None = None) -> dict[str, Any]:
    """Score a checkpoint folder on the test mixtures (all 10,000 unless ``limit``) and store the result in
    its sidecar."""
    model, meta = load_model(folder)
    metrics = evaluate_separator(ImageSeparator(model, meta, Path(folder)), data_root=data_root, limit=limit)
    update_sidecar(folder, test_metrics=metrics)
    return metrics


def format_metrics(m: dict[str, Any]) -> str:
    """A small text table of an :func:`evaluate_separator` result."""
    labels = {"refined_split": "default: refined, split", "refined_projected": "refined, projected",
              "refined_raw": "refined, raw", "split": "encoder, split", "projected": "encoder, projected",
              "raw": "encoder, raw", "mixture_baseline": "mixture baseline"}
    rows = [(label, m[key]) for key, label in labels.items() if key in m]
    lines = [f"{m['n']} test mixtures, weight {m['weight']}, noise {m['noise']}, pair seed {m['pair_seed']}",
             f"{'':26} {'PSNR digit':>10} {'PSNR cloth':>10} {'PSNR mean':>10} {'SSIM mean':>10}"]
    for label, r in rows:
        lines.append(f"{label:26} {r['psnr_digit']:10.2f} {r['psnr_clothing']:10.2f} "
                     f"{r['psnr_mean']:10.2f} {r['ssim_mean']:10.3f}")
    return "\n".join(lines)
