"""Music benchmarks that print their numbers: generation speed (first and warm calls) and reconstruction of the
test clips for each checkpoint."""
from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vae_core.core.inference import load_checkpoint
from vae_core.core.registry import require_task
from vae_core.music.evaluation import evaluate_generator
from vae_core.music.frechet import EXTRACTORS, FITTED, format_table, frechet_table, with_priors


def generation_seconds(gen: Any, seconds: float = 5.0, repeats: int = 5) -> dict[str, float]:
    """Wall time of generating one clip of ``seconds``: the first call, then the median and range of
    ``repeats`` more (different seeds)."""
    t = time.perf_counter()
    gen.generate(1, seconds, seed=0)
    first = time.perf_counter() - t
    times = []
    for i in range(repeats):
        t = time.perf_counter()
        gen.generate(1, seconds, seed=i + 1)
        times.append(time.perf_counter() - t)
    return {"first_s": first, "median_s": statistics.median(times), "min_s": min(times), "max_s": max(times),
            "repeats": repeats}


DEFAULT = "music-spec"  # the default model and the course preset the targets compare
COURSE = "music-course-base"


def bench_music(checkpoints: list[str], limit: int | None = None, data_root: Path | None = None,
                extractors: tuple[str, ...] = EXTRACTORS, n_generated: int = 54, echo: bool = True) -> dict[str, Any]:
    """Generation speed and test-clip reconstruction of each music checkpoint, then the Fréchet table (every model's
    prior samples, with a fitted prior also those, beside the floor, ceiling and noise rows)."""
    say = print if echo else (lambda *a, **k: None)
    report: dict[str, Any] = {"threads": torch.get_num_threads(), "models": {}}
    say(f"music checkpoints on the test clips, {torch.get_num_threads()} threads; 5 s generated (first call, then "
        "median of 5)")
    say(f"{'checkpoint':20} {'rate':>6} {'LSD dB':>7} {'KL':>8} {'active':>7} {'5 s first':>9} {'5 s warm':>9}")
    loaded = {name: load_checkpoint(name) for name in checkpoints}
    for name, gen in loaded.items():
        require_task(gen, "music", "bench music")
        speed = generation_seconds(gen)
        metrics = evaluate_generator(gen, data_root, limit)
        report["models"][name] = {"generate_5s": speed, "metrics": metrics, "rate": gen.rate}
        say(f"{name:20} {gen.rate:6d} {metrics['lsd_db']:7.2f} {metrics['test_kl']:8.1f} "
            f"{metrics['active_units']:>4}/{metrics['latent_dim']:<3} {speed['first_s']:9.2f} {speed['median_s']:9.2f}")
    if DEFAULT in report["models"]:
        speed = report["models"][DEFAULT]["generate_5s"]
        report["generate_5s_s"], report["generate_5s_first_s"] = speed["median_s"], speed["first_s"]
    if extractors:
        generators, priors = with_priors(loaded, "both")
        say(f"Fréchet distances: {n_generated} generated clips of 5 s per model, against the test clips …")
        table = frechet_table(generators, data_root, extractors, n_generated=n_generated, max_clips=limit,
                              priors=priors, say=lambda s: print(s, file=sys.stderr, flush=True))
        report["frechet"] = table
        say(format_table(table))
        report.update(headline(table))
    return report


def headline(table: dict[str, Any]) -> dict[str, Any]:
    """The numbers the music targets name (CDPAM, test clips): the default model (its fitted prior when it has one),
    the course preset, the floor and ceiling at the default's rate."""
    out: dict[str, Any] = {}
    for key, t in table["tables"].items():
        if t["extractor"] != "cdpam":
            continue
        rows = {r["name"]: r["fd_test"] for r in t["rows"]}
        for name, fd in rows.items():
            if name.startswith("floor") and t["rate"] == 22050:
                out["fad_floor"] = fd
            if name.startswith("ceiling"):
                out["fad_ceiling"] = fd
        if DEFAULT + FITTED in rows or DEFAULT in rows:
            out["fad_default"] = rows.get(DEFAULT + FITTED, rows.get(DEFAULT))
            out["fad_default_standard_prior"] = rows.get(DEFAULT)
        if COURSE in rows:
            out["fad_course"] = rows[COURSE]
    return out


def latent_move(gen: Any, repeats: int) -> dict[str, float]:
    """A slider move on the Latent explorer for music: one dimension changed at every step of a 5-s encoding, the
    clip decoded again (Griffin-Lim included for spectrogram models)."""
    z = np.random.default_rng(0).standard_normal((gen.steps_for(5.0), gen.step_dim)).astype(np.float32)
    times = []
    for i in range(repeats):
        z[:, i % gen.step_dim] += 0.05
        t = time.perf_counter()
        gen.decode(z, seconds=5.0)
        times.append((time.perf_counter() - t) * 1e3)
    ms = statistics.median(times)
    return {"slider_move_ms": ms, "note": f"5 s decoded in {ms:.0f} ms"}
