"""Image benchmarks that print their numbers: quality, latency and training throughput of checkpoints,
the "quick" preset trained from scratch, and one latent-slider move."""
from __future__ import annotations

import platform
import tempfile
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vae_core.core.trainer import train
from vae_core.image.evaluation import evaluate_checkpoint, evaluate_separator
from vae_core.image.task import preset
from vae_core.image.loss import separation_loss
from vae_core.image.mixing import load_pairs, mix
from vae_core.image.model import REFINE_STEPS
from vae_core.core.models import build_model
from vae_core.core.bench import separation_latency_ms
from vae_core.core.inference import load_checkpoint
from vae_core.core.loadtest import drag_latent_pad, watch_training
from vae_core.core.registry import get_task, require_task
from vae_core.image.latents import decode, traversal


def training_throughput(kind: str, model_config: dict[str, Any], batch_size: int = 128, steps: int = 30,
                        data_root: Path | None = None) -> float:
    """Training samples per second of one model on real mixtures (forward, loss, backward, Adam step)."""
    torch.manual_seed(0)
    pairs = load_pairs("val", root=data_root)
    model = build_model(kind, model_config).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    d, c = pairs.sources(slice(0, batch_size))
    x = mix(d, c)

    def step() -> None:
        out = model(x)
        loss = separation_loss(out, d, c, x)["total"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(3):
        step()
    t = time.perf_counter()
    for _ in range(steps):
        step()
    return steps * batch_size / (time.perf_counter() - t)


def bench_image(checkpoints: list[str], limit: int | None = None, data_root: Path | None = None,
                echo: bool = True) -> dict[str, Any]:
    """Quality (PSNR/SSIM of every estimate :func:`evaluate_separator` scores, vs the mixture), latency at the app's
    default setting and training throughput of each checkpoint."""
    say = print if echo else (lambda *a, **k: None)
    report: dict[str, Any] = {"machine": {"cpu_threads": torch.get_num_threads(), "torch": torch.__version__,
                                          "python": platform.python_version(),
                                          "cuda": torch.cuda.is_available()},
                              "models": {}}
    separators = [load_checkpoint(name) for name in checkpoints]
    for sep in separators:
        require_task(sep, "image", "bench image")
    test = load_pairs("test", 0, root=data_root, limit=limit)
    one = mix(*test.sources(slice(0, 1)))
    header = (f"{'checkpoint':14} {'default':>8} {'split':>7} {'proj':>7} {'raw':>7} {'ref raw':>7} {'SSIM':>6} "
              f"{'digit':>7} {'cloth':>7} {'ms/mix':>7} {'p95 ms':>7} {'1st ms':>7} {'train/s':>8}")
    say(f"image separation on {len(test)} test mixtures (w = 0.5, pair seed 0), {torch.get_num_threads()} threads; "
        f"PSNR in dB. default = the app's setting: {REFINE_STEPS} latent refinement steps, then the ratio split; "
        "split/proj/raw: the encoder's guess split, projected, as drawn; ref raw: refined, as drawn. "
        "ms/mix: one mixture at the default setting, median and p95 of 200 calls after 10 warm-ups; 1st: the first call")
    say(header)
    baseline = None
    for name, sep in zip(checkpoints, separators):
        lat = separation_latency_ms(sep, one)  # first: the cold first call is part of what a user meets
        metrics = evaluate_separator(sep, pairs=test)
        baseline = metrics["mixture_baseline"]
        thr = training_throughput(sep.model.kind, sep.meta["model_config"], data_root=data_root)
        report["models"][name] = {"metrics": metrics, "latency": lat, "train_samples_per_s": thr,
                                  "kind": sep.model.kind, "model_config": sep.meta["model_config"]}
        m = {k: metrics[k] for k in ("refined_split", "split", "projected", "raw", "refined_raw")}
        psnrs = " ".join(f"{m[k]['psnr_mean']:{8 if k == 'refined_split' else 7}.2f}" for k in m)
        d = m["refined_split"]
        say(f"{name:14} {psnrs} {d['ssim_mean']:6.3f} {d['psnr_digit']:7.2f} {d['psnr_clothing']:7.2f} "
            f"{lat['median_ms']:7.2f} {lat['p95_ms']:7.2f} {lat['first_call_ms']:7.1f} {thr:8.0f}")
    if baseline:
        report["mixture_baseline"] = baseline
        say(f"{'mixture':14} {baseline['psnr_mean']:8.2f} {'':31} {baseline['ssim_mean']:6.3f} "
            f"{baseline['psnr_digit']:7.2f} {baseline['psnr_clothing']:7.2f}")
    return report


def bench_train_quick(data_root: Path | None = None, echo: bool = True) -> dict[str, Any]:
    """Train the "quick" preset from scratch and score it on the 10,000 test mixtures."""

    say = print if echo else (lambda *a, **k: None)
    cfg = preset("quick")
    say(f"quick preset: {cfg.model} {cfg.model_config}, beta {cfg.beta}, {cfg.epochs} epochs, batch {cfg.batch_size}, "
        f"{torch.get_num_threads()} threads")
    with tempfile.TemporaryDirectory() as tmp:
        result = train(cfg, out_dir=Path(tmp) / "quick", data_root=data_root)
        t = time.perf_counter()
        metrics = evaluate_checkpoint(Path(tmp) / "quick", data_root)
        scoring = time.perf_counter() - t
    report = {"seconds": round(result.seconds, 2), "scoring_seconds": round(scoring, 2),
              "psnr_db": round(metrics["projected"]["psnr_mean"], 3),
              "psnr_raw_db": round(metrics["raw"]["psnr_mean"], 3),
              "mixture_psnr_db": round(metrics["mixture_baseline"]["psnr_mean"], 3),
              "epochs": len(result.history["epoch"]), "stopped_by_time_budget": result.stopped,
              "threads": torch.get_num_threads()}
    say(f"training wall time {report['seconds']:.1f} s (then scoring {scoring:.1f} s); test PSNR {report['psnr_db']:.2f} dB mixture-consistent, "
        f"{report['psnr_raw_db']:.2f} dB raw (mixture {report['mixture_psnr_db']:.2f} dB)")
    return report


def bench_watch_quick(data_root: Path | None = None, repeats: int = 1, client: str = "browser",
                      echo: bool = True) -> dict[str, Any]:
    """The quick preset unwatched (``bench train-quick``, in this process), then started and watched to its end from
    the Train page (its own worker process, a fresh server), ``repeats`` times in turn. The watcher is Chromium on
    this machine's cores, or a protocol-level student who keeps the page live without drawing it (the server's
    side of watching, as when the browser runs on another machine). Prints what watching costs the run: the ratio
    of training times within each pair (the machine's drift between pairs cancels out), their median and range."""
    say = print if echo else (lambda *a, **k: None)
    pairs = []
    for i in range(repeats):
        say(f"pair {i + 1} of {repeats}: unwatched")
        alone = bench_train_quick(data_root, echo)
        say(f"… then watched from the Train page ({client}, a fresh server)")
        watched = watch_training("quick", env={"VAE_DATA_DIR": str(data_root)} if data_root else None, client=client)
        t = watched["timings"]
        psnr = (watched["test_metrics"] or {}).get("projected", {}).get("psnr_mean")
        pair = {"unwatched": alone, "watched": watched, "watched_psnr_db": None if psnr is None else round(psnr, 3),
                "training_ratio": round(t["training_s"] / alone["seconds"], 3) if "training_s" in t else None,
                "end_to_end_ratio": round(watched["click_to_end_s"] / (alone["seconds"] + alone["scoring_seconds"]),
                                          3)}
        pairs.append(pair)
        say(f"watched: {watched['status']} after {watched['epochs_done']:.2f} epochs; worker: loading "
            f"{t.get('loading_s', float('nan')):.1f} s, training {t.get('training_s', float('nan')):.1f} s, scoring "
            f"{t.get('scoring_s', float('nan')):.1f} s; click to end {watched['click_to_end_s']:.1f} s; server CPU "
            f"{watched['server_cpu_s']:.1f} s meanwhile; test PSNR {pair['watched_psnr_db']} dB")
        say(f"training time watched / unwatched {pair['training_ratio']}; click-to-end / (training + scoring) "
            f"unwatched {pair['end_to_end_ratio']}")
    ratios = [p["training_ratio"] for p in pairs if p["training_ratio"] is not None]
    report = {"pairs": pairs, "threads": torch.get_num_threads(), "repeats": repeats, "client": client,
              "training_ratio_median": round(statistics.median(ratios), 3) if ratios else None,
              "training_ratio_range": [min(ratios), max(ratios)] if ratios else None,
              "psnr_gap_db": [round(p["watched_psnr_db"] - p["unwatched"]["psnr_db"], 3) for p in pairs
                              if p["watched_psnr_db"] is not None]}
    say(f"watched / unwatched training time over {repeats} pair(s): median {report['training_ratio_median']}, range "
        f"{report['training_ratio_range']}; test PSNR watched minus unwatched {report['psnr_gap_db']} dB")
    return report


def bench_plane_drag(checkpoint: str | None = None, repeats: int = 3, moves: int = 100,
                     echo: bool = True) -> dict[str, Any]:
    """Drag on the Latent explorer's latent plane in Chromium (browser and a fresh server on this machine's cores):
    pointer move to the decoded picture drawn, and letting go to the sliders at the exact point. The default
    checkpoint is the task's 2-D model, which the explorer opens on."""
    name = checkpoint or get_task("image").prior_checkpoint
    report = drag_latent_pad(f"latent-explorer?checkpoint={name}&who=bench-plane", moves=moves, repeats=repeats,
                             echo=echo)
    report["checkpoint"] = name
    return report


def latent_move(sep: Any, repeats: int) -> dict[str, float]:
    """An image slider move on the Latent explorer: decoding the current point and the traversal grid
    (6 dimensions x 9 values). The page redraws only that part (a fragment)."""
    z = np.random.default_rng(0).standard_normal((2, sep.latent_dim)).astype(np.float32)
    dims, values = list(range(min(6, sep.latent_dim))), list(np.linspace(-3, 3, 9))
    t_dec, t_trav = [], []
    for i in range(repeats):
        z[0, i % sep.latent_dim] += 0.05  # a slider moved
        t = time.perf_counter()
        decode(sep, z)
        t_dec.append((time.perf_counter() - t) * 1e3)
        t = time.perf_counter()
        traversal(sep, z, 0, dims, values)
        t_trav.append((time.perf_counter() - t) * 1e3)
    dec, trav = statistics.median(t_dec), statistics.median(t_trav)
    return {"decode_ms": dec, "traversal_ms": trav, "slider_move_ms": dec + trav,
            "note": f"decode {dec:.2f} ms + traversal grid {trav:.2f} ms"}
