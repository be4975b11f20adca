"""``bench effects``: the embedding scores of the shipped map beside PCA and a random encoder, the loss-scale
comparison (the same VAE trained with three losses), and the time to place an uploaded clip on the map."""
from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vae_core.core.errors import LabError
from vae_core.core.inference import load_checkpoint
from vae_core.core.latents import active_units
from vae_core.core.losses import kl_per_dim
from vae_core.core.registry import require_task
from vae_core.core.store import list_checkpoints
from vae_core.effects.data import RATE, dry_sources, grid_examples
from vae_core.effects.evaluation import TEST_SEED, evaluate_embedder, format_metrics
from vae_core.effects.loss import effective_beta
from vae_core.effects.transforms import target

DEFAULT = "effects-cvae"
# The loss-scale comparison, in the page's order (a group folder of checkpoints/, out of the pickers' way).
TRAP = ("loss-scale/effects-beta0", "loss-scale/effects-elbo", "loss-scale/effects-report")


@torch.no_grad()
def trap_rows(names: list[str], data_root: Path | None, limit: int | None) -> list[dict[str, Any]]:
    """Each checkpoint's loss, β, effective β, and what its latent keeps of held-out examples."""
    rows = []
    for name in names:
        emb = load_checkpoint(name)
        require_task(emb, "effects", "bench effects")
        test = grid_examples(dry_sources(data_root, "test", emb.kinds), emb.effects, TEST_SEED, limit or 40)
        x = emb.example_features(test)
        mu, logvar = emb.model.encode(x)
        recon = emb.reconstruct_features(x)
        x = target(x)
        bins = x[0].numel()
        rows.append({"checkpoint": name, "scaling": emb.scaling, "beta": emb.beta,
                     "effective_beta": effective_beta(emb.beta, emb.scaling, bins, emb.recon_scale),
                     "kl_nats": float(kl_per_dim(mu, logvar).sum((1, 2)).mean()),
                     "active_units": int(active_units(mu).sum()), "latent_dim": emb.latent_dim,
                     "recon_rmse_db": float((recon - x).pow(2).mean().sqrt()) * 80.0,
                     # How much the reconstructions differ from one another (0: every input decodes alike).
                     "recon_spread_db": float(recon.std(0).mean()) * 80.0, "examples": len(test)})
    return rows


def place_seconds(emb: Any, repeats: int = 5) -> dict[str, float]:
    """Wall time of placing a 30-s upload at 44.1 kHz on the map (resampled, its loudest 2 s found, an effect
    applied, embedded): the first call and the median and range of ``repeats`` more."""
    wave = np.random.default_rng(0).standard_normal(30 * 44100).astype(np.float32) * 0.1
    times = []
    for _ in range(repeats + 1):
        t = time.perf_counter()
        emb.place(wave, 44100, "reverb")
        times.append(time.perf_counter() - t)
    return {"first_s": times[0], "median_s": statistics.median(times[1:]), "min_s": min(times[1:]),
            "max_s": max(times[1:]), "repeats": repeats}


def bench_effects(checkpoints: list[str] | None = None, limit: int | None = None, data_root: Path | None = None,
                  echo: bool = True) -> dict[str, Any]:
    say = print if echo else (lambda *a, **k: None)
    shipped = {c.name for c in list_checkpoints("effects")}
    name = (checkpoints or [DEFAULT])[0]
    if not checkpoints and DEFAULT not in shipped:
        raise LabError(f"No {DEFAULT} checkpoint: train one with `python -m vae_core train effects`, or name one "
                       "with --checkpoints.")
    emb = load_checkpoint(name)
    require_task(emb, "effects", "bench effects")
    say(f"{name}: held-out files, {torch.get_num_threads()} threads")
    metrics = evaluate_embedder(emb, data_root, limit)
    say(format_metrics(metrics))
    report: dict[str, Any] = {"checkpoint": name, "threads": torch.get_num_threads(), **metrics}
    report["probe_margin_pct"] = 100 * (metrics["probe_acc"] - metrics["pca_probe_acc"])
    report["knn_margin_pct"] = 100 * (metrics["knn_acc"] - metrics["pca_knn_acc"])
    report["silhouette_margin"] = metrics["silhouette"] - metrics["pca_silhouette"]
    say(f"latent means minus PCA: probe {report['probe_margin_pct']:+.1f} points, kNN-5 "
        f"{report['knn_margin_pct']:+.1f} points, silhouette {report['silhouette_margin']:+.3f}")
    trap = [n for n in TRAP if n in shipped] if not checkpoints else [n for n in checkpoints[1:]]
    if trap:
        rows = trap_rows(trap, data_root, limit)
        report["loss_scale"] = rows
        say("The loss-scale trap (the same VAE, data and steps; held-out examples):")
        say(f"  {'checkpoint':26} {'loss':7} {'β':>4} {'effective β':>12} {'KL nats':>8} {'active':>7} "
            f"{'RMSE dB':>8} {'spread dB':>9}")
        for r in rows:
            say(f"  {r['checkpoint']:26} {r['scaling']:7} {r['beta']:4g} {r['effective_beta']:12,.0f} "
                f"{r['kl_nats']:8.1f} {r['active_units']:>3}/{r['latent_dim']:<3} {r['recon_rmse_db']:8.2f} "
                f"{r['recon_spread_db']:9.2f}")
    speed = place_seconds(emb)
    report["place_upload_s"], report["place_upload_first_s"] = speed["median_s"], speed["first_s"]
    say(f"placing a 30-s upload (44.1 kHz) with an effect on the map: first {speed['first_s']:.2f} s, then median "
        f"{speed['median_s']:.2f} s ({speed['min_s']:.2f}–{speed['max_s']:.2f}) over {speed['repeats']}")
    report["rate"] = RATE
    return report


def latent_move(emb: Any, repeats: int) -> dict[str, float]:
    """A slider move on the Latent explorer for an effects model: one dimension changed, the segment decoded."""
    z = np.zeros(emb.latent_dim, dtype=np.float32)
    dry = np.full(emb.model_shape, 0.5, dtype=np.float32) if emb.paired else None
    times = []
    for i in range(repeats):
        z[i % emb.latent_dim] += 0.05
        t = time.perf_counter()
        emb.decode(z, dry)
        times.append((time.perf_counter() - t) * 1e3)
    ms = statistics.median(times)
    return {"slider_move_ms": ms, "note": f"one log-mel segment decoded in {ms:.0f} ms"}
