"""Benchmarks that print their numbers (speed and quality targets live here, not in timed tests)."""
from __future__ import annotations

import platform
import statistics
import time
from pathlib import Path
from typing import Any

import torch

from .evaluation import evaluate_separator
from .losses import separation_loss
from .mixing import load_pairs, mix
from .models import build_model
from .separation import load_checkpoint


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
    """Quality (PSNR/SSIM, raw and projected, vs the mixture), latency and throughput of each checkpoint."""
    say = print if echo else (lambda *a, **k: None)
    report: dict[str, Any] = {"machine": {"cpu_threads": torch.get_num_threads(), "torch": torch.__version__,
                                          "python": platform.python_version(),
                                          "cuda": torch.cuda.is_available()},
                              "models": {}}
    test = load_pairs("test", 0, root=data_root, limit=limit)
    one = mix(*test.sources(slice(0, 1)))
    header = (f"{'checkpoint':14} {'PSNR proj':>9} {'PSNR raw':>9} {'SSIM proj':>9} {'digit':>7} {'cloth':>7} "
              f"{'ms/mix':>7} {'1st ms':>7} {'train/s':>8}")
    say(f"image separation on {len(test)} test mixtures (w = 0.5, pair seed 0), {torch.get_num_threads()} threads")
    say(header)
    baseline = None
    for name in checkpoints:
        sep = load_checkpoint(name)
        lat = separation_latency_ms(sep, one)  # first: the cold first call is part of what a user meets
        metrics = evaluate_separator(sep, pairs=test)
        baseline = metrics["mixture_baseline"]
        thr = training_throughput(sep.model.kind, sep.meta["model_config"], data_root=data_root)
        report["models"][name] = {"metrics": metrics, "latency": lat, "train_samples_per_s": thr,
                                  "kind": sep.model.kind, "model_config": sep.meta["model_config"]}
        p, r = metrics["projected"], metrics["raw"]
        say(f"{name:14} {p['psnr_mean']:9.2f} {r['psnr_mean']:9.2f} {p['ssim_mean']:9.3f} {p['psnr_digit']:7.2f} "
            f"{p['psnr_clothing']:7.2f} {lat['median_ms']:7.2f} {lat['first_call_ms']:7.1f} {thr:8.0f}")
    if baseline:
        report["mixture_baseline"] = baseline
        say(f"{'mixture':14} {baseline['psnr_mean']:9.2f} {baseline['psnr_mean']:9.2f} {baseline['ssim_mean']:9.3f} "
            f"{baseline['psnr_digit']:7.2f} {baseline['psnr_clothing']:7.2f}")
    return report


def bench_train_quick(data_root: Path | None = None, echo: bool = True) -> dict[str, Any]:
    """Train the "quick" preset from scratch and score it on the 10,000 test mixtures."""
    import tempfile

    from .evaluation import evaluate_checkpoint
    from .training import preset, train

    say = print if echo else (lambda *a, **k: None)
    cfg = preset("quick")
    say(f"quick preset: {cfg.model} {cfg.model_config}, beta {cfg.beta}, {cfg.epochs} epochs, batch {cfg.batch_size}, "
        f"{torch.get_num_threads()} threads")
    with tempfile.TemporaryDirectory() as tmp:
        result = train(cfg, out_dir=Path(tmp) / "quick", data_root=data_root)
        metrics = evaluate_checkpoint(Path(tmp) / "quick", data_root)
    report = {"seconds": round(result.seconds, 2), "psnr_db": round(metrics["projected"]["psnr_mean"], 3),
              "psnr_raw_db": round(metrics["raw"]["psnr_mean"], 3),
              "mixture_psnr_db": round(metrics["mixture_baseline"]["psnr_mean"], 3),
              "epochs": len(result.history["epoch"]), "stopped_by_time_budget": result.stopped,
              "threads": torch.get_num_threads()}
    say(f"training wall time {report['seconds']:.1f} s; test PSNR {report['psnr_db']:.2f} dB mixture-consistent, "
        f"{report['psnr_raw_db']:.2f} dB raw (mixture {report['mixture_psnr_db']:.2f} dB)")
    return report


def bench_latent(checkpoints: list[str], repeats: int = 50, echo: bool = True) -> dict[str, Any]:
    """Time what one latent-slider move recomputes on the Latent explorer page: decoding the current point
    and the traversal grid (6 dimensions x 9 values). The page redraws only that part (a fragment)."""
    import numpy as np

    from .latents import decode, traversal

    say = print if echo else (lambda *a, **k: None)
    report: dict[str, Any] = {"threads": torch.get_num_threads(), "models": {}}
    say(f"{'checkpoint':14} {'decode ms':>10} {'traversal ms':>13} {'slider move ms':>15}  (median of {repeats})")
    for name in checkpoints:
        sep = load_checkpoint(name).warm_up()
        if sep.task == "audio":
            report["models"][name] = _bench_audio_latent(sep, repeats)
            r = report["models"][name]
            say(f"{name:14} {r['decode_ms']:10.2f} {'(audio)':>13} {r['slider_move_ms']:15.2f}  (playback with the "
                f"input's phase; with Griffin-Lim {r['slider_move_griffin_lim_ms']:.1f} ms)")
            continue
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
        report["models"][name] = {"decode_ms": dec, "traversal_ms": trav, "slider_move_ms": dec + trav}
        say(f"{name:14} {dec:10.2f} {trav:13.2f} {dec + trav:15.2f}")
    return report


def _bench_audio_latent(sep: Any, repeats: int) -> dict[str, float]:
    """An audio slider move: decode both 1 s patches and make both audible, with a borrowed phase (the page's
    default) and with Griffin-Lim (its option)."""
    import numpy as np

    from .audio.latents import decode_patch

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
            "slider_move_griffin_lim_ms": dec + gl}


def _rss_mb() -> float:
    """Resident memory of this process (MB), from /proc; falls back to the peak where /proc is absent."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench_audio(checkpoint: str = "audio-conv", limit: int | None = None, data_root: Path | None = None,
                progress: Any = None) -> dict[str, Any]:
    """MIR-1K ``test`` clips at 0 dB: the checkpoint, the oracle ideal ratio mask and the mixture as estimate
    (GNSDR/GSIR/GSAR per source), the time to separate 10 s of audio (with the checkpoint's test-time speeds
    and in one pass), and resident memory with every shipped checkpoint loaded (what the app holds)."""
    import numpy as np

    from .audio.data import find_clips, split_clips
    from .audio.evaluation import evaluate_methods
    from .audio.separation import ONE_PASS_OVERLAP, ONE_PASS_SPEEDS
    from .checkpoints import list_checkpoints

    sep = load_checkpoint(checkpoint)
    if getattr(sep, "task", "") != "audio":
        raise ValueError(f"{checkpoint} is not an audio checkpoint.")
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
    sep.separate(ten_s)  # first call pays kernel set-up
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
    report["rss_mb_all_shipped_loaded"] = round(_rss_mb(), 1)
    report["shipped_loaded"] = len(loaded)
    report["threads"] = torch.get_num_threads()
    report["machine"] = platform.machine()
    return report
