"""The audio (voice / accompaniment) task's commands: ``train audio``, ``tune audio``, its ``eval``, ``bench``
and ``data`` parts."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Callable, Sequence

from vae_core.audio.bench import bench_audio
from vae_core.core.mir1k import ensure_mir1k, find_clips
from vae_core.audio.evaluation import (TUNE_OVERLAPS, TUNE_POWERS, TUNE_SPEED_SETS, evaluate_audio_checkpoint,
                                       tune_inference)
from vae_core.audio.filtering import check_mask_power
from vae_core.audio.inference import AudioSeparator, check_overlap
from vae_core.audio.task import AudioTrainConfig
from vae_core.core.audio_io import check_speeds
from vae_core.core.cli import (add_training_args, float_list, int_tuple, load_for, positive_int, progress_printer,
                               train_and_report, training_fields)
from vae_core.core.errors import DataMissingError
from vae_core.core.registry import get_task


def ensure_data(root: Path | None, download: bool) -> None:
    ensure_mir1k(root, download=download, progress=progress_printer)


def cmd_train(args: argparse.Namespace, argv: Sequence[str]) -> int:
    values: dict[str, Any] = {}
    for key in ("channels", "decoder_channels", "context_dilations"):
        if getattr(args, key):
            values[key] = list(getattr(args, key))
    for key in ("latent_channels", "frames", "time_strides"):
        if getattr(args, key) is not None:
            values[key] = getattr(args, key)
    if args.freq_channel:
        values["freq_channel"] = True
    cfg = AudioTrainConfig(model_config=values, mask_weight=args.mask_weight, mask_power=args.mask_power,
                           train_clips=args.train_limit, val_clips=args.val_limit, init_from=args.init_from,
                           speeds=tuple(args.speeds), gain_db=args.gain_db, remix_prob=args.remix_prob,
                           **training_fields(args))
    train_and_report(get_task("audio"), cfg, args, argv, ensure_data,
                 lambda r: f"dev NSDR voice {r['val_nsdr_voice']:.2f} dB, accompaniment "
                           f"{r['val_nsdr_accompaniment']:.2f} dB")
    return 0


def cmd_tune(args: argparse.Namespace, argv: Sequence[str]) -> int:
    sep = load_for("audio", args.checkpoint, "tune audio")
    powers = tuple(check_mask_power(p) for p in args.powers or TUNE_POWERS)
    speed_sets = tuple(check_speeds(s) for s in args.speed_sets) if args.speed_sets else TUNE_SPEED_SETS
    overlaps = tuple(check_overlap(v) for v in args.overlaps or TUNE_OVERLAPS)
    print(f"Scoring {len(powers) * len(speed_sets) * len(overlaps)} settings on the MIR-1K dev clips…",
          file=sys.stderr, flush=True)
    result = tune_inference(sep.path, args.data_dir, powers, speed_sets, overlaps)
    keys = ("mask_power", "speeds", "overlap")
    for row in result["dev_gnsdr"]:
        voice, acc = row["gnsdr"]
        chosen = all(row[k] == result[k] for k in keys)
        speeds = ",".join(f"{v:g}" for v in row["speeds"])
        print(f"mask power {row['mask_power']:>4g}, overlap {row['overlap']}, speeds {speeds:<38} (cost "
              f"{row['cost']:5.2f}): dev GNSDR voice {voice:6.2f} dB, accompaniment {acc:6.2f} dB"
              f"{'  <- chosen' if chosen else ''}")
    print(f"Stored mask power {result['mask_power']:g}, {len(result['speeds'])} speed(s) and overlap "
          f"{result['overlap']} in {sep.path / 'checkpoint.json'}")
    return 0


def evaluate(sep: AudioSeparator, data_root: Path | None, limit: int | None,
             progress: Callable[[float], None] | None = None) -> dict[str, Any]:
    """Scores on the MIR-1K test clips at 0 dB (all 178 unless ``limit``)."""
    return evaluate_audio_checkpoint(sep.path, data_root, limit, store=False,
                                     progress=(lambda k, n: progress(k / n)) if progress else None)


def format_metrics(sep: AudioSeparator, m: dict[str, Any]) -> str:
    return (f"{sep.name}: {m['clips']} MIR-1K test clips at 0 dB (mask power {sep.mask_power:g}, "
            f"{len(sep.speeds)} speed(s), overlap {sep.overlap})\n"
            f"  GNSDR voice {m['gnsdr'][0]:.2f} dB, accompaniment {m['gnsdr'][1]:.2f} dB; "
            f"GSIR {m['gsir'][0]:.2f} / {m['gsir'][1]:.2f}; GSAR {m['gsar'][0]:.2f} / {m['gsar'][1]:.2f}")


def summary(meta: dict[str, Any]) -> str:
    m = meta.get("test_metrics", {})
    return f"GNSDR {m['gnsdr'][0]:.2f} dB" if "gnsdr" in m else "not evaluated"


def data(root: Path, download: bool, progress: Callable[..., None]) -> list[str]:
    if download:
        print(f"MIR-1K: checking {root / 'mir1k'}")
        return [f"MIR-1K: complete ({len(ensure_mir1k(root, download=True, progress=progress))} clips)"]
    try:
        return [f"MIR-1K: complete ({len(find_clips(root))} clips) ({root / 'mir1k'})"]
    except DataMissingError:
        return [f"MIR-1K: missing ({root / 'mir1k'}); `python -m vae_core data download` fetches it"]


def default_run_name(cfg: AudioTrainConfig) -> str:
    return f"audio-beta{cfg.beta:g}"


def _bench(args: argparse.Namespace) -> dict[str, Any]:
    def tick(done: int, total: int) -> None:
        if sys.stderr.isatty() or done == total:  # a live counter on a terminal, one line in logs
            print(f"\r  {done}/{total} clips", end="" if done < total else "\n", file=sys.stderr, flush=True)

    report = bench_audio(checkpoint=args.checkpoints[0] if args.checkpoints else "audio-conv", limit=args.limit,
                         data_root=args.data_dir, progress=tick)
    for name, r in report["methods"].items():
        print(f"{name:11} GNSDR voice {r['gnsdr'][0]:6.2f} dB  accompaniment {r['gnsdr'][1]:6.2f} dB   "
              f"GSIR {r['gsir'][0]:6.2f}/{r['gsir'][1]:6.2f}  GSAR {r['gsar'][0]:6.2f}/{r['gsar'][1]:6.2f}")
    t, one = report["separate_10s_seconds"], report["separate_10s_one_pass_seconds"]
    print(f"separate 10 s: {t['median']:.3f} s with {len(report['speeds'])} speed(s) (slowest {t['max']:.3f} s; "
          f"first call {report['separate_10s_first_call_seconds']:.3f} s), {one['median']:.3f} s in one pass (median "
          f"of 5; {report['threads']} threads); RSS with {report['shipped_loaded']} shipped models loaded: "
          f"{report['rss_mb_all_shipped_loaded']:.0f} MB")
    return report


BENCHES = {"audio": _bench}


def add_cli(train_sub: argparse._SubParsersAction, sub: argparse._SubParsersAction) -> None:
    d = AudioTrainConfig()
    t = train_sub.add_parser("audio", help="train the voice / accompaniment separation VAE on MIR-1K")
    t.add_argument("--channels", type=int_tuple, default=None, help="encoder channels, e.g. 16,32,64")
    t.add_argument("--decoder-channels", type=int_tuple, default=None, help="decoder channels, e.g. 32,16,8")
    t.add_argument("--latent-channels", type=positive_int, default=None, help="channels of each latent map")
    t.add_argument("--frames", type=positive_int, default=None, help="STFT frames per patch (default 64)")
    t.add_argument("--time-strides", type=int, default=None,
                   help="how many encoder layers also halve time (default 2 of 3)")
    t.add_argument("--context-dilations", type=int_tuple, default=None,
                   help="residual dilated 3x3 layers after the encoder's strided ones, e.g. 2,4,8 (wider context)")
    t.add_argument("--freq-channel", action="store_true",
                   help="give the encoder each bin's frequency as a second input channel")
    add_training_args(t, d)
    t.add_argument("--mask-weight", type=float, default=d.mask_weight,
                   help=f"weight of the masked-magnitude terms (default {d.mask_weight:g})")
    t.add_argument("--mask-power", type=float, default=d.mask_power,
                   help=f"power p of the soft masks |S|^p / sum |S|^p while training (default {d.mask_power:g})")
    t.add_argument("--speeds", type=float, nargs="+", default=list(d.speeds),
                   help="playback speeds of the training clips, e.g. 0.9 1 1.1 (speed perturbation; default 1)")
    t.add_argument("--gain-db", type=float, default=d.gain_db, help="random voice gain range, ± dB")
    t.add_argument("--remix-prob", type=float, default=d.remix_prob,
                   help="how often voice and accompaniment come from two different songs")
    t.add_argument("--init-from", default=None, help="start from this checkpoint's weights (name or folder)")
    t.add_argument("--train-limit", type=positive_int, default=None, help="use the first N training clips")
    t.add_argument("--val-limit", type=positive_int, default=None, help="score the first N dev clips")
    t.set_defaults(func=cmd_train)

    tu = sub.add_parser("tune", help="choose an audio checkpoint's mask power and test-time speeds on the "
                                     "MIR-1K dev clips")
    tu.add_argument("task", choices=["audio"])
    tu.add_argument("checkpoint")
    tu.add_argument("--powers", type=float_list, default=None,
                    help="mask powers to try, comma-separated (default 0.5,0.75,1,1.5,2,3)")
    tu.add_argument("--speed-sets", type=float_list, nargs="+", default=None,
                    help="test-time playback speed sets to try, each comma-separated, e.g. 1 0.9,1,1.1 "
                         "(default: 1, three, five and nine speeds between 0.8 and 1.25)")
    tu.add_argument("--overlaps", type=int_tuple, default=None,
                    help="patch overlaps to try, comma-separated (default 1,2: side by side, 50 %%)")
    tu.set_defaults(func=cmd_tune)
