"""Audio benchmarks that print their numbers: GNSDR of a checkpoint, the oracle IRM and the mixture, the time to
separate 10 s, memory with every shipped model loaded, and one latent-slider move."""
from __future__ import annotations

import platform
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vae_core.core.mir1k import find_clips, split_clips
from vae_core.audio.evaluation import evaluate_methods
from vae_core.audio.inference import ONE_PASS_OVERLAP, ONE_PASS_SPEEDS
from vae_core.core.store import list_checkpoints

from vae_core.audio.latents import decode_patch
from vae_core.core.bench import rss_mb
from vae_core.core.inference import load_checkpoint
from vae_core.core.registry import require_task


def latent_move(sep: Any, repeats: int) -> dict[str, float]:
    """An audio slider move: decode both 1 s patches and make both audible, with a borrowed phase (the page's
    default) and with Griffin-Lim (its option)."""
    z = np.random.default_rng(0).standard_normal((2, sep.latent_dim)).astype(np.float32)
    t_dec, t_gl, t_phase = [], [], []
    phase = np.zeros((sep.model.config.freq_bins, sep.model.config.frames), np.float32)
    for i in range(max(5, repeats // 5)):
        z[0, i % sep.latent_dim] += 0.05
        t = time.perf_counter()
        patches = decode_patch(sep, z)
        t_dec.append((time.perf_counter() - t) * 1e3)
        t = time.perf_counter()
        for p in patches:
            sep.patch_audio(p, 1.0, phase)
        t_phase.append((time.perf_counter() - t) * 1e3)
        t = time.perf_counter()
        for p in patches:
            sep.patch_audio(p, 1.0)
        t_gl.append((time.perf_counter() - t) * 1e3)
    dec, ph, gl = statistics.median(t_dec), statistics.median(t_phase), statistics.median(t_gl)
    return {"decode_ms": dec, "input_phase_ms": ph, "griffin_lim_ms": gl, "slider_move_ms": dec + ph,
            "slider_move_griffin_lim_ms": dec + gl,
            "note": f"playback with the input's phase; with Griffin-Lim {dec + gl:.1f} ms"}


def bench_audio(checkpoint: str = "audio-conv", limit: int | None = None, data_root: Path | None = None,
                progress: Any = None) -> dict[str, Any]:
    """MIR-1K ``test`` clips at 0 dB: the checkpoint, the oracle ideal ratio mask and the mixture as estimate
    (GNSDR/GSIR/GSAR per source), the time to separate 10 s of audio (with the checkpoint's test-time speeds
    and in one pass), and resident memory with every shipped checkpoint loaded (what the app holds)."""

    sep = load_checkpoint(checkpoint)
    require_task(sep, "audio", "bench audio")
    clips = split_clips(find_clips(data_root), "test")[:limit]
    report: dict[str, Any] = {"checkpoint": sep.name, "clips": len(clips), "snr_db": 0.0,
                              "mask_power": sep.mask_power, "speeds": list(sep.speeds), "overlap": sep.overlap,
                              "methods": {}}
    t = time.perf_counter()
    results = evaluate_methods({"model": sep, "oracle_irm": "oracle", "mixture": "mixture"}, clips,
                               progress=progress)
    for name, res in results.items():
        report["methods"][name] = {k: [round(float(v), 3) for v in res[k]] for k in ("gnsdr", "gsir", "gsar", "mean_sdr")}
    report["scoring_seconds"] = round(time.perf_counter() - t, 1)
    ten_s = np.random.default_rng(0).normal(0, 0.1, 160000).astype(np.float32)
    t = time.perf_counter()
    sep.separate(ten_s)  # the first call pays one-off set-up (kernels, allocator): reported on its own
    report["separate_10s_first_call_seconds"] = round(time.perf_counter() - t, 3)
    for key, speeds, overlap in (("separate_10s_seconds", sep.speeds, sep.overlap),
                                 ("separate_10s_one_pass_seconds", ONE_PASS_SPEEDS, ONE_PASS_OVERLAP)):
        times = []
        for _ in range(5):
            t = time.perf_counter()
            sep.separate(ten_s, speeds=speeds, overlap=overlap)
            times.append(time.perf_counter() - t)
        report[key] = {"median": round(statistics.median(times), 3), "max": round(max(times), 3)}
    loaded = [load_checkpoint(c.path) for c in list_checkpoints() if c.origin == "shipped"]
    sep.warm_up()
    report["rss_mb_all_shipped_loaded"] = round(rss_mb(), 1)
    report["shipped_loaded"] = len(loaded)
    report["threads"] = torch.get_num_threads()
    report["machine"] = platform.machine()
    return report
