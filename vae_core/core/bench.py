"""Benchmarks shared by every task (latency of a call, resident memory, a latent-slider move); speed and quality
targets live in benchmarks that print their numbers, not in timed tests."""
from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

import torch

from vae_core.core.inference import load_checkpoint
from vae_core.core.registry import get_task


def separation_latency_ms(separator: Any, mixture: torch.Tensor, repeats: int = 200) -> dict[str, float]:
    """Wall time of ``separate`` on one mixture (what the app does per click), in milliseconds: the first
    call after loading (cold) and the median and 95th percentile of later calls."""
    t = time.perf_counter()
    separator.separate(mixture)
    first = (time.perf_counter() - t) * 1e3
    for _ in range(10):
        separator.separate(mixture)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        separator.separate(mixture)
        times.append((time.perf_counter() - t) * 1e3)
    times.sort()
    return {"first_call_ms": first, "median_ms": statistics.median(times), "p95_ms": times[int(0.95 * len(times)) - 1]}


def rss_mb() -> float:
    """Resident memory of this process (MB), from /proc; falls back to the peak where /proc is absent."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource  # Unix only, and only where /proc is absent

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench_latent(checkpoints: list[str], repeats: int = 50, echo: bool = True) -> dict[str, Any]:
    """Time what one latent-slider move recomputes on the Latent explorer page, for each checkpoint (its task's
    ``latent_move`` benchmark)."""
    say = print if echo else (lambda *a, **k: None)
    report: dict[str, Any] = {"threads": torch.get_num_threads(), "repeats": repeats, "models": {}}
    say(f"{'checkpoint':14} {'slider move ms':>15}  (median of {repeats}; {report['threads']} threads)")
    for name in checkpoints:
        sep = load_checkpoint(name).warm_up()
        r = get_task(sep.task).benches["latent_move"](sep, repeats)
        report["models"][name] = r
        say(f"{name:14} {r['slider_move_ms']:15.2f}  ({r['note']})")
    return report
