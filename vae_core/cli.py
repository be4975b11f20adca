"""Command line: ``python -m vae_core {train,eval,bench,list,data} ...``.

Every user error ends in one sentence on stderr and exit status 2, never a traceback.
"""
from __future__ import annotations

import argparse
import json
import shlex
import sys
import threading
import time
from pathlib import Path
from typing import Any, Sequence

from .errors import LabError


def _progress_printer(name: str, done: int, total: int | None) -> None:
    if total:
        print(f"\r  {name}: {done / 1e6:.1f} / {total / 1e6:.1f} MB", end="", file=sys.stderr, flush=True)
        if done >= total:
            print(file=sys.stderr)


def _int_tuple(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _prepare_run(args: argparse.Namespace, out: Path) -> None:
    """Datasets first (a missing one leaves no empty run folder behind), then the output folder, so that a
    folder that cannot be written fails now rather than after training."""
    from .data import DATASETS, ensure_dataset

    for ds in DATASETS.values():
        ensure_dataset(ds, args.data_dir, download=not args.no_download, progress=_progress_printer)
    out.mkdir(parents=True, exist_ok=True)


def cmd_train(args: argparse.Namespace, argv: Sequence[str]) -> int:
    if args.task == "audio":
        return cmd_train_audio(args, argv)
    from .checkpoints import runs_dir
    from .evaluation import evaluate_checkpoint, format_metrics
    from .training import Callbacks, TrainConfig, train

    args.beta = 1.0 if args.beta is None else args.beta
    args.epochs = 10 if args.epochs is None else args.epochs
    args.batch_size = 128 if args.batch_size is None else args.batch_size
    args.lr = 1e-3 if args.lr is None else args.lr

    model_config: dict[str, Any] = {"latent_dim": args.latent_dim}
    if args.hidden:
        model_config["hidden"] = args.hidden if args.model == "mlp" else args.hidden[0]
    if args.channels:
        model_config["channels"] = args.channels
    cfg = TrainConfig(model=args.model, model_config=model_config, beta=args.beta, epochs=args.epochs,
                      batch_size=args.batch_size, lr=args.lr, seed=args.seed, weight=args.weight,
                      noise=args.noise, kl_anneal_epochs=args.kl_anneal_epochs, free_bits=args.free_bits,
                      consistency=args.consistency,
                      time_budget_s=args.time_budget, train_limit=args.train_limit, val_limit=args.val_limit)
    cfg.validate()
    out = Path(args.out) if args.out else runs_dir() / (args.name or f"image-{args.model}-{time.strftime('%Y%m%d-%H%M%S')}")
    _prepare_run(args, out)
    command = "python -m vae_core " + shlex.join(argv)
    print(f"Training {args.model} (beta {cfg.beta}, latent {args.latent_dim}) for {cfg.epochs} epochs -> {out}")

    class Printer(Callbacks):
        def on_step(self, info: dict[str, Any]) -> None:
            if info["step"] % 50 == 0 and sys.stdout.isatty():  # a live counter only on a terminal, not in logs
                print(f"\r  epoch {info['epoch']} step {info['step']}/{info['total_steps']} "
                      f"loss {info['loss']:.1f}", end="", flush=True)

        def on_epoch(self, r: dict[str, Any]) -> None:
            mark = " *" if r["improved"] else ""
            print(f"\r  epoch {r['epoch']}: train {r['train']['total']:.2f} (recon {r['train']['recon']:.2f}, "
                  f"kl {r['train']['kl']:.2f})  val {r['val']['total']:.2f}  val PSNR {r['val_psnr']:.2f} dB "
                  f"(consistent {r['val_psnr_projected']:.2f} dB)  "
                  f"[{r['seconds']:.0f} s]{mark}", flush=True)

    stop = threading.Event()
    try:
        result = train(cfg, Printer(), stop, out_dir=out, data_root=args.data_dir,
                       meta={"command": command, "name": out.name})
    except KeyboardInterrupt:
        print("\nInterrupted; the best checkpoint so far (if any epoch finished) is in " + str(out), file=sys.stderr)
        return 130
    print(f"Best epoch {result.best_epoch}, {result.seconds:.0f} s; checkpoint {out}")
    if not args.no_eval:
        print(format_metrics(evaluate_checkpoint(out, args.data_dir)))
    return 0


def cmd_train_audio(args: argparse.Namespace, argv: Sequence[str]) -> int:
    from .audio.data import ensure_mir1k
    from .audio.training import AudioTrainConfig, train_audio
    from .checkpoints import runs_dir
    from .training import Callbacks

    model_config: dict[str, Any] = {}
    if args.channels:
        model_config["channels"] = list(args.channels)
    if args.decoder_channels:
        model_config["decoder_channels"] = list(args.decoder_channels)
    if args.latent_channels:
        model_config["latent_channels"] = args.latent_channels
    if args.frames:
        model_config["frames"] = args.frames
    if args.time_strides is not None:
        model_config["time_strides"] = args.time_strides
    defaults = AudioTrainConfig()
    cfg = AudioTrainConfig(model_config=model_config, beta=defaults.beta if args.beta is None else args.beta,
                           mask_weight=defaults.mask_weight if args.mask_weight is None else args.mask_weight,
                           epochs=defaults.epochs if args.epochs is None else args.epochs,
                           batch_size=defaults.batch_size if args.batch_size is None else args.batch_size,
                           lr=defaults.lr if args.lr is None else args.lr,
                           seed=args.seed, kl_anneal_epochs=args.kl_anneal_epochs, free_bits=args.free_bits,
                           time_budget_s=args.time_budget, train_clips=args.train_limit, val_clips=args.val_limit,
                           init_from=args.init_from, speeds=tuple(args.speeds or defaults.speeds),
                           ema_decay=defaults.ema_decay if args.ema_decay is None else args.ema_decay,
                           mask_power=defaults.mask_power if args.mask_power is None else args.mask_power)
    cfg.validate()
    # A missing dataset is fetched (or fails) before the run folder exists.
    ensure_mir1k(args.data_dir, download=not args.no_download, progress=_progress_printer)
    out = Path(args.out) if args.out else runs_dir() / (args.name or f"audio-conv-{time.strftime('%Y%m%d-%H%M%S')}")
    out.mkdir(parents=True, exist_ok=True)
    command = "python -m vae_core " + shlex.join(argv)
    print(f"Training audio-conv (beta {cfg.beta}, mask weight {cfg.mask_weight}) for {cfg.epochs} epochs -> {out}")

    class Printer(Callbacks):
        def on_epoch(self, r: dict[str, Any]) -> None:
            mark = " *" if r["improved"] else ""
            print(f"  epoch {r['epoch']}: train {r['train']['total']:.1f} (recon {r['train']['recon']:.1f}, "
                  f"masked {r['train']['masked']:.1f}, kl {r['train']['kl']:.1f})  val {r['val']['total']:.1f}  "
                  f"dev NSDR voice {r['val_nsdr_voice']:.2f} dB, accompaniment {r['val_nsdr_accompaniment']:.2f} dB "
                  f"[{r['seconds']:.0f} s]{mark}", flush=True)

    try:
        result = train_audio(cfg, Printer(), out_dir=out, data_root=args.data_dir,
                             meta={"command": command, "name": out.name})
    except KeyboardInterrupt:
        print("\nInterrupted; the best checkpoint so far (if any epoch finished) is in " + str(out), file=sys.stderr)
        return 130
    print(f"Best epoch {result.best_epoch}, {result.seconds:.0f} s; checkpoint {out}")
    return 0


def _float_list(text: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def cmd_sweep(args: argparse.Namespace, argv: Sequence[str]) -> int:
    from .checkpoints import runs_dir
    from .sweep import run_sweep
    from .training import TrainConfig

    model_config: dict[str, Any] = {"hidden": list(args.hidden)} if args.model == "mlp" else {}
    if args.model == "conv":
        model_config.update(channels=list(args.channels or (16, 32, 64)), hidden=(args.hidden or (512,))[0])
    base = TrainConfig(model=args.model, model_config={**model_config, "latent_dim": max(args.latents)},
                       epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                       train_limit=args.train_limit, val_limit=args.val_limit)
    base.validate()
    out = Path(args.out) if args.out else runs_dir() / args.name
    _prepare_run(args, out)
    print(f"Sweep {args.name}: beta {args.betas} x latent {args.latents}, {args.model}, {args.epochs} epochs -> {out}")
    run_sweep(base, args.betas, args.latents, out, sweep=args.name, command="python -m vae_core " + shlex.join(argv),
              data_root=args.data_dir, half=not args.full_precision)
    return 0


def cmd_eval(args: argparse.Namespace, argv: Sequence[str]) -> int:
    from .evaluation import evaluate_separator, format_metrics
    from .separation import load_checkpoint

    sep = load_checkpoint(args.checkpoint)
    if sep.task == "audio":
        from .audio.evaluation import evaluate_audio_checkpoint

        m = evaluate_audio_checkpoint(sep.path, args.data_dir, args.limit)
        m["checkpoint"] = sep.name
        print(json.dumps(m) if args.json else
              f"{sep.name}: {m['clips']} MIR-1K test clips at 0 dB (mask power {sep.mask_power:g}, "
              f"{len(sep.speeds)} speed(s), overlap {sep.overlap})\n"
              f"  GNSDR voice {m['gnsdr'][0]:.2f} dB, accompaniment {m['gnsdr'][1]:.2f} dB; "
              f"GSIR {m['gsir'][0]:.2f} / {m['gsir'][1]:.2f}; GSAR {m['gsar'][0]:.2f} / {m['gsar'][1]:.2f}")
        return 0
    metrics = evaluate_separator(sep, weight=args.weight, noise=args.noise, pair_seed=args.pair_seed,
                                 limit=args.limit, data_root=args.data_dir)
    metrics["checkpoint"] = sep.name
    print(json.dumps(metrics) if args.json else f"{sep.name}\n" + format_metrics(metrics))
    return 0


def cmd_bench(args: argparse.Namespace, argv: Sequence[str]) -> int:
    from .bench import bench_audio, bench_image, bench_latent, bench_train_quick

    if args.what == "audio":
        def tick(done: int, total: int) -> None:
            if sys.stderr.isatty() or done == total:  # a live counter on a terminal, one line in logs
                print(f"\r  {done}/{total} clips", end="" if done < total else "\n", file=sys.stderr, flush=True)

        report = bench_audio(checkpoint=args.checkpoints[0] if args.checkpoints else "audio-conv",
                             limit=args.limit, data_root=args.data_dir, progress=tick)
        m = report["methods"]
        for name, r in m.items():
            print(f"{name:11} GNSDR voice {r['gnsdr'][0]:6.2f} dB  accompaniment {r['gnsdr'][1]:6.2f} dB   "
                  f"GSIR {r['gsir'][0]:6.2f}/{r['gsir'][1]:6.2f}  GSAR {r['gsar'][0]:6.2f}/{r['gsar'][1]:6.2f}")
        print(f"separate 10 s: {report['separate_10s_seconds']['median']:.3f} s with {len(report['speeds'])} "
              f"speed(s), {report['separate_10s_one_pass_seconds']['median']:.3f} s in one pass (median of 5); "
              f"RSS with {report['shipped_loaded']} shipped models loaded: {report['rss_mb_all_shipped_loaded']:.0f} MB")
    elif args.what == "image":
        report = bench_image(checkpoints=args.checkpoints or ["image-mlp", "image-conv"], limit=args.limit, data_root=args.data_dir)
    elif args.what == "latent":
        report = bench_latent(checkpoints=args.checkpoints or ["image-mlp", "image-conv"])
    else:
        report = bench_train_quick(data_root=args.data_dir)
    out = Path(args.json_out or f"bench-{args.what}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1) + "\n")
    print(f"Wrote {out}")
    if args.json:
        print(json.dumps(report))  # the last line: one JSON object, for scripts
    return 0


def cmd_tune(args: argparse.Namespace, argv: Sequence[str]) -> int:
    from .audio.evaluation import TUNE_OVERLAPS, TUNE_POWERS, TUNE_SPEED_SETS, tune_inference
    from .audio.filtering import check_mask_power
    from .audio.io import check_speeds
    from .audio.separation import check_overlap
    from .checkpoints import resolve_checkpoint

    folder = resolve_checkpoint(args.checkpoint)
    powers = tuple(check_mask_power(p) for p in args.powers or TUNE_POWERS)
    speed_sets = tuple(check_speeds(s) for s in args.speed_sets) if args.speed_sets else TUNE_SPEED_SETS
    overlaps = tuple(check_overlap(v) for v in args.overlaps or TUNE_OVERLAPS)
    print(f"Scoring {len(powers) * len(speed_sets) * len(overlaps)} settings on the MIR-1K dev clips…",
          file=sys.stderr, flush=True)
    result = tune_inference(folder, args.data_dir, powers, speed_sets, overlaps)
    keys = ("mask_power", "speeds", "overlap")
    for row in result["dev_gnsdr"]:
        voice, acc = row["gnsdr"]
        chosen = all(row[k] == result[k] for k in keys)
        speeds = ",".join(f"{v:g}" for v in row["speeds"])
        print(f"mask power {row['mask_power']:>4g}, overlap {row['overlap']}, speeds {speeds:<38} (cost "
              f"{row['cost']:5.2f}): dev GNSDR voice {voice:6.2f} dB, accompaniment {acc:6.2f} dB"
              f"{'  <- chosen' if chosen else ''}")
    print(f"Stored mask power {result['mask_power']:g}, {len(result['speeds'])} speed(s) and overlap "
          f"{result['overlap']} in {folder / 'checkpoint.json'}")
    return 0


def cmd_list(args: argparse.Namespace, argv: Sequence[str]) -> int:
    from .checkpoints import list_checkpoints

    infos = list_checkpoints()
    if not infos:
        print("No checkpoints found.")
    for c in infos:
        m = c.meta.get("test_metrics", {})
        if "psnr_mean" in m.get("projected", {}):
            score = f"PSNR {m['projected']['psnr_mean']:.2f} dB"
        elif "gnsdr" in m:
            score = f"GNSDR {m['gnsdr'][0]:.2f} dB"
        else:
            score = "not evaluated"
        print(f"{c.name:24} {c.origin:8} {c.task:6} {c.kind:10} {score:16} {c.path}")
    return 0


def cmd_data(args: argparse.Namespace, argv: Sequence[str]) -> int:
    from .audio.data import ensure_mir1k, find_clips
    from .data import DATASETS, data_root, ensure_dataset, missing_files
    from .errors import DataMissingError

    root = Path(args.data_dir) if args.data_dir else data_root()
    for ds in DATASETS.values():
        if args.action == "download":
            print(f"{ds.title}: checking {root / ds.key}")
            ensure_dataset(ds, root, download=True, progress=_progress_printer)
            print(f"{ds.title}: complete")
        else:
            missing = missing_files(ds, root)
            print(f"{ds.title}: " + ("complete" if not missing else "missing " + ", ".join(p.name for p in missing))
                  + f" ({root / ds.key})")
    if args.action == "download":
        print(f"MIR-1K: checking {root / 'mir1k'}")
        print(f"MIR-1K: complete ({len(ensure_mir1k(root, download=True, progress=_progress_printer))} clips)")
    else:
        try:
            print(f"MIR-1K: complete ({len(find_clips(root))} clips) ({root / 'mir1k'})")
        except DataMissingError:
            print(f"MIR-1K: missing ({root / 'mir1k'}); `python -m vae_core data download` fetches it")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m vae_core", description="VAE Separation Lab command line.")
    p.add_argument("--data-dir", type=Path, default=None, help="dataset folder (default: $VAE_DATA_DIR or the user cache)")
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train a separation VAE")
    t.add_argument("task", choices=["image", "audio"])
    t.add_argument("--model", choices=["mlp", "conv"], default="conv", help="image model (audio: always audio-conv)")
    t.add_argument("--beta", type=float, default=None, help="KL weight (default: image 1.0, audio 0.01)")
    t.add_argument("--latent-dim", type=int, default=16)
    t.add_argument("--hidden", type=_int_tuple, default=None, help="hidden sizes, e.g. 512,256 (conv: one number)")
    t.add_argument("--channels", type=_int_tuple, default=None, help="conv (encoder) channels, e.g. 16,32,64")
    t.add_argument("--decoder-channels", type=_int_tuple, default=None, help="audio: decoder channels, e.g. 32,16,8")
    t.add_argument("--latent-channels", type=_positive_int, default=None, help="audio: channels of each latent map")
    t.add_argument("--frames", type=_positive_int, default=None, help="audio: STFT frames per patch (default 64)")
    t.add_argument("--time-strides", type=int, default=None,
                   help="audio: how many encoder layers also halve time (default 2 of 3)")
    t.add_argument("--mask-power", type=float, default=None,
                   help="audio: power p of the soft masks |S|^p / sum |S|^p while training (default 2)")
    t.add_argument("--init-from", default=None, help="audio: start from this checkpoint's weights (name or folder)")
    t.add_argument("--mask-weight", type=float, default=None, help="audio: weight of the masked-magnitude terms (10)")
    t.add_argument("--speeds", type=float, nargs="+", default=None,
                   help="audio: playback speeds of the training clips, e.g. 0.9 1 1.1 (speed perturbation; default 1)")
    t.add_argument("--ema-decay", type=float, default=None,
                   help="audio: validate and save a moving average of the weights with this per-step decay "
                        "(e.g. 0.998; default 0: off)")
    t.add_argument("--epochs", type=int, default=None, help="default: image 10, audio 20")
    t.add_argument("--batch-size", type=int, default=None, help="default: image 128, audio 16")
    t.add_argument("--lr", type=float, default=None, help="default 1e-3")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--weight", type=float, default=0.5, help="mixing weight of the digit")
    t.add_argument("--noise", type=float, default=0.0, help="std of Gaussian noise added to mixtures")
    t.add_argument("--kl-anneal-epochs", type=float, default=0.0)
    t.add_argument("--free-bits", type=float, default=0.0)
    t.add_argument("--consistency", type=float, default=0.0,
                   help="weight of the loss on mixture-consistent outputs (Wisdom et al. 2019)")
    t.add_argument("--time-budget", type=float, default=None, help="stop after this many seconds")
    t.add_argument("--train-limit", type=_positive_int, default=None, help="use the first N pairs (audio: clips)")
    t.add_argument("--val-limit", type=_positive_int, default=None)
    t.add_argument("--name", default=None, help="run name in the runs folder")
    t.add_argument("--out", default=None, help="checkpoint folder (overrides --name)")
    t.add_argument("--no-download", action="store_true", help="fail instead of downloading missing data")
    t.add_argument("--no-eval", action="store_true", help="skip the test-set evaluation")
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("eval", help="evaluate a checkpoint on the test mixtures (audio: the MIR-1K test clips)")
    e.add_argument("checkpoint")
    e.add_argument("--json", action="store_true")
    e.add_argument("--limit", type=_positive_int, default=None, help="the first N test mixtures (audio: clips)")
    e.add_argument("--weight", type=float, default=0.5)
    e.add_argument("--noise", type=float, default=0.0)
    e.add_argument("--pair-seed", type=int, default=0)
    e.set_defaults(func=cmd_eval)

    s = sub.add_parser("sweep", help="train one model per beta and latent size (for the beta lab)")
    s.add_argument("task", choices=["image"])
    s.add_argument("--betas", type=_float_list, default=[0, 0.1, 1, 4, 10, 100])
    s.add_argument("--latents", type=_int_tuple, default=(2, 10, 32))
    s.add_argument("--model", choices=["mlp", "conv"], default="mlp")
    s.add_argument("--hidden", type=_int_tuple, default=(64,), help="hidden sizes (conv: one number)")
    s.add_argument("--channels", type=_int_tuple, default=None)
    s.add_argument("--epochs", type=int, default=5)
    s.add_argument("--batch-size", type=int, default=128)
    s.add_argument("--lr", type=float, default=2e-3)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--train-limit", type=_positive_int, default=None)
    s.add_argument("--val-limit", type=_positive_int, default=None)
    s.add_argument("--name", default="beta-sweep", help="sweep name (also its folder in the runs folder)")
    s.add_argument("--out", default=None, help="folder for the runs (e.g. checkpoints/sweep)")
    s.add_argument("--full-precision", action="store_true", help="store float32 weights (default float16)")
    s.add_argument("--no-download", action="store_true")
    s.set_defaults(func=cmd_sweep)

    b = sub.add_parser("bench", help="benchmarks: quality, latency and training throughput")
    b.add_argument("what", choices=["image", "latent", "train-quick", "audio"])
    b.add_argument("--checkpoints", nargs="+", default=None,
                   help="default: image-mlp image-conv (audio: audio-conv)")
    b.add_argument("--limit", type=_positive_int, default=None, help="evaluate on the first N test mixtures (audio: clips)")
    b.add_argument("--json-out", default=None, help="report file (default bench-WHAT.json)")
    b.add_argument("--json", action="store_true", help="also print the report as one JSON line, last")
    b.set_defaults(func=cmd_bench)

    tu = sub.add_parser("tune", help="choose an audio checkpoint's mask power and test-time speeds on the "
                                     "MIR-1K dev clips")
    tu.add_argument("task", choices=["audio"])
    tu.add_argument("checkpoint")
    tu.add_argument("--powers", type=_float_list, default=None,
                    help="mask powers to try, comma-separated (default 0.5,0.75,1,1.5,2,3)")
    tu.add_argument("--speed-sets", type=_float_list, nargs="+", default=None,
                    help="test-time playback speed sets to try, each comma-separated, e.g. 1 0.9,1,1.1 "
                         "(default: 1, three, five and nine speeds between 0.8 and 1.25)")
    tu.add_argument("--overlaps", type=_int_tuple, default=None,
                    help="patch overlaps to try, comma-separated (default 1,2: side by side, 50 %%)")
    tu.set_defaults(func=cmd_tune)

    ls = sub.add_parser("list", help="list shipped and user checkpoints")
    ls.set_defaults(func=cmd_list)

    d = sub.add_parser("data", help="check or download the datasets")
    d.add_argument("action", choices=["status", "download"])
    d.set_defaults(func=cmd_data)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    try:
        return args.func(args, argv)
    except LabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into `head` and the like: nothing left to say
        return 0
    except OSError as exc:  # e.g. an output folder that cannot be written
        where = f" ({exc.filename})" if exc.filename else ""
        print(f"error: {exc.strerror or exc}{where}; choose another location or fix its permissions.",
              file=sys.stderr)
        return 2
