"""The music task's commands: ``train music``, ``generate``, its ``eval`` and ``data`` parts."""
from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path
from typing import Any, Callable, Sequence


from vae_core.core.checkpoints import load_model, save_checkpoint
from vae_core.core.cli import add_training_args, load_for, positive_int, train_and_report, training_fields
from vae_core.core.errors import LabError
from vae_core.core.inference import load_checkpoint
from vae_core.core.registry import get_task
from vae_core.core.store import atomic_write_bytes, list_checkpoints, update_sidecar
from vae_core.core.audio_io import wav_bytes
from vae_core.music.bench import bench_music
from vae_core.core.gtzan import USER_DIR, DERIVED_DIR, find_clips, split_clips
from vae_core.music.frechet import EXTRACTORS, FD_ENCODER, format_table, frechet_table, sidecar_rows, with_priors
from vae_core.music.evaluation import evaluate_generator, format_metrics
from vae_core.music.inference import MusicGenerator
from vae_core.music.latents import fit_training_prior
from vae_core.music.task import PRESETS, MusicTrainConfig, preset


def ensure_data(root: Path | None, download: bool) -> None:
    find_clips(root)  # never downloads: GTZAN has no checksummed public copy (see vae_core.core.gtzan)


def cmd_train(args: argparse.Namespace, argv: Sequence[str]) -> int:
    overrides = {k: v for k, v in training_fields(args).items() if v is not None}
    if args.train_limit is not None:
        overrides["train_clips"] = args.train_limit
    if args.recon_scale is not None:
        overrides["recon_scale"] = args.recon_scale
    cfg = preset(args.preset, **overrides)
    out = train_and_report(get_task("music"), cfg, args, argv, ensure_data,
                           lambda r: f"val log-spectral distance {r['val_lsd_db']:.2f} dB")
    if args.half:  # the shipped models: half the size, loading casts the weights back to float32
        model, meta = load_model(out)
        save_checkpoint(out, model, meta, half=True)
    fit_and_store_prior(out, args.data_dir)
    if not args.no_eval:
        metrics = evaluate_generator(load_checkpoint(out), args.data_dir)
        update_sidecar(out, test_metrics=metrics)
        print(format_metrics(metrics))
    return 0


def fit_and_store_prior(folder: Path, data_root: Path | None) -> None:
    """Fit the latent prior to the training clips' encodings and keep it in the checkpoint's sidecar."""
    prior = fit_training_prior(load_checkpoint(folder), data_root)
    update_sidecar(folder, latent_prior=prior.to_json())
    print(f"Fitted a latent prior to {prior.steps} encoded steps of the training clips (generate --prior fitted).")


def cmd_fit_prior(args: argparse.Namespace, argv: Sequence[str]) -> int:
    gen = load_for("music", args.checkpoint, "fit-prior")
    if gen.path is None:
        raise LabError("fit-prior needs a checkpoint folder.")
    fit_and_store_prior(gen.path, args.data_dir)
    return 0


def cmd_fd_table(args: argparse.Namespace, argv: Sequence[str]) -> int:
    names = args.checkpoints or [c.name for c in list_checkpoints("music") if c.name != FD_ENCODER]
    generators = {name: load_for("music", name, "fd-table") for name in names}
    extractors = tuple(args.extractors.split(","))
    if not set(extractors) <= set(EXTRACTORS):
        raise LabError(f"--extractors must name some of {', '.join(EXTRACTORS)}, not {args.extractors!r}.")
    if args.prior == "fitted":
        missing = [name for name, gen in generators.items() if gen.fitted_prior is None]
        if missing:
            raise LabError(f"{', '.join(missing)} has no fitted prior; run `python -m vae_core fit-prior NAME` first.")
    rows, priors = with_priors(generators, args.prior)
    report = frechet_table(rows, args.data_dir, extractors, n_generated=args.generated, max_clips=args.clips,
                           seed=args.seed, priors=priors, say=lambda s: print(s, file=sys.stderr, flush=True))
    print(format_table(report))
    if args.store:  # each model's own rows and its rate's baselines, for the Music page's table
        command = "python -m vae_core " + shlex.join(argv)
        for name, row in sidecar_rows(report, generators, args.prior, command).items():
            gen = generators[name]
            update_sidecar(gen.path, frechet={**(gen.meta.get("frechet") or {}), **row})
    if args.json:
        print(json.dumps(report))
    return 0


def cmd_generate(args: argparse.Namespace, argv: Sequence[str]) -> int:
    gen = load_for("music", args.checkpoint, "generate")
    clips = gen.generate(args.n, args.seconds, seed=args.seed, temperature=args.temperature, prior=args.prior)
    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        for i, clip in enumerate(clips):
            atomic_write_bytes(out / f"{gen.name}-seed{args.seed}-{i}.wav", wav_bytes(clip, gen.rate))
    except OSError as exc:
        raise LabError(f"Cannot write to {out} ({exc.strerror}); choose a folder you can write to.") from None
    print(f"Wrote {len(clips)} clips of {args.seconds:g} s at {gen.rate} Hz to {out} ({args.prior} prior, "
          f"temperature {args.temperature:g}, seed {args.seed}).")
    return 0


def evaluate(gen: MusicGenerator, data_root: Path | None, limit: int | None) -> dict[str, Any]:
    """Scores on the test clips (all of them unless ``limit``)."""
    return evaluate_generator(gen, data_root, limit)


def summary(meta: dict[str, Any]) -> str:
    m = meta.get("test_metrics", {})
    return f"LSD {m['lsd_db']:.2f} dB" if "lsd_db" in m else "not evaluated"


def data(root: Path, download: bool, progress: Callable[..., None]) -> list[str]:
    try:
        clips = find_clips(root)
    except LabError as exc:
        return [f"Classical music (GTZAN): {exc}"]
    train, test = split_clips(clips)
    where = clips[0].path.parent
    return [f"Classical music (GTZAN): {len(clips)} clips in {where} ({len(train)} train, {len(test)} test); put "
            f"your own copy of GTZAN's classical genre in {root / USER_DIR} to use it instead of "
            f"{root / DERIVED_DIR}"]


def _bench(args: argparse.Namespace) -> dict[str, Any]:
    names = args.checkpoints or [c.name for c in list_checkpoints() if c.task == "music"]
    if not names:
        raise LabError("No music checkpoint to benchmark: train one with `python -m vae_core train music`, or name "
                       "one with --checkpoints.")
    # limit: the real clips per split in the Fréchet table (and the test clips scored for reconstruction)
    return bench_music(names, args.limit, args.data_dir, n_generated=args.generated)


BENCHES = {"music": _bench}


def default_run_name(cfg: MusicTrainConfig) -> str:
    z = cfg.model_config.get("latent_dim", cfg.model_config.get("latent_channels", ""))
    return f"{cfg.model}-beta{cfg.beta:g}-z{z}"


def add_cli(train_sub: argparse._SubParsersAction, sub: argparse._SubParsersAction) -> None:
    t = train_sub.add_parser("music", help="train a music VAE on classical clips (GTZAN)")
    t.add_argument("--preset", choices=list(PRESETS), default="default",
                   help="'course-*': the course report's waveform VAE at 3 kHz; 'default': the spectrogram VAE. "
                        "Flags given below override the preset's values.")
    add_training_args(t, MusicTrainConfig())
    # Only the flags a user gives override the preset (the shared flags' printed defaults are the task's).
    t.set_defaults(beta=None, epochs=None, batch_size=None, lr=None, seed=None, kl_anneal_epochs=None,
                   free_bits=None, ema_decay=None, time_budget=None)
    t.add_argument("--train-limit", type=positive_int, default=None, help="use only the first N training clips")
    t.add_argument("--recon-scale", type=float, default=None,
                   help="music-spec: Laplace scale of the log-magnitude likelihood, in units of 100 dB (default "
                        f"{MusicTrainConfig().recon_scale:g}); larger weighs the KL more")
    t.add_argument("--no-eval", action="store_true", help="skip the test-clip evaluation")
    t.add_argument("--half", action="store_true", help="store the weights as float16 (half the size)")
    t.set_defaults(func=cmd_train, parser=t)
    g = sub.add_parser("generate", help="generate music from a music checkpoint's prior (WAV files)")
    g.add_argument("checkpoint", help="a music checkpoint name or folder")
    g.add_argument("--n", type=positive_int, default=4, help="number of clips (default 4)")
    g.add_argument("--seconds", type=float, default=5.0, help="length of each clip (default 5)")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--temperature", type=float, default=1.0, help="z ~ N(0, T² I) (default 1)")
    g.add_argument("--out", default="generated", help="folder for the WAV files (default ./generated)")
    g.add_argument("--prior", choices=["standard", "fitted"], default="standard",
                   help="standard: z ~ N(0, I), the VAE's own prior; fitted: the prior fitted to the training "
                        "encodings (see fit-prior)")
    g.set_defaults(func=cmd_generate)
    d = sub.add_parser("fd-table", help="Fréchet distances of music checkpoints' prior samples to the test clips, "
                                        "beside the floor, ceiling and noise rows")
    d.add_argument("--checkpoints", nargs="+", default=None, help="default: every music checkpoint")
    d.add_argument("--extractors", default="course", help="course, cdpam or course,cdpam (CDPAM: about 0.75 s per "
                                                          "second of audio on 2 cores)")
    d.add_argument("--generated", type=positive_int, default=54, help="clips of 5 s drawn per model (default 54)")
    d.add_argument("--clips", type=positive_int, default=None, help="real clips per split (default: all)")
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--prior", choices=["standard", "fitted", "both"], default="standard",
                   help="the prior every model samples (fitted: each model's own, see fit-prior; both: a row for "
                        "each, where a model has a fitted prior)")
    d.add_argument("--store", action="store_true", help="keep each model's row in its sidecar (the page's table)")
    d.add_argument("--json", action="store_true")
    d.set_defaults(func=cmd_fd_table)
    f = sub.add_parser("fit-prior", help="fit a music checkpoint's latent prior to its training clips' encodings")
    f.add_argument("checkpoint", help="a music checkpoint name or folder")
    f.set_defaults(func=cmd_fit_prior)
