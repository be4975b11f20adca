"""The image task's commands: ``train image``, ``sweep image``, its ``eval``, ``bench`` and ``data`` parts."""
from __future__ import annotations

import argparse
import shlex
from pathlib import Path
from typing import Any, Callable, Sequence

from vae_core.core.store import runs_dir
from vae_core.core.registry import get_task
from vae_core.core.cli import (add_training_args, float_list, int_tuple, positive_int, progress_printer,
                               train_and_report, training_fields)
from vae_core.image.bench import bench_image, bench_plane_drag, bench_train_quick, bench_watch_quick
from vae_core.image.data import DATASETS, ensure_dataset, missing_files
from vae_core.image.evaluation import evaluate_checkpoint, evaluate_separator, format_metrics
from vae_core.image.inference import ImageSeparator
from vae_core.image.model import IMAGE_MODEL_KINDS, MODEL_KINDS
from vae_core.image.sweep import run_sweep
from vae_core.image.task import TrainConfig


def ensure_data(root: Path | None, download: bool) -> None:
    for ds in DATASETS.values():
        ensure_dataset(ds, root, download=download, progress=progress_printer)


def model_config(args: argparse.Namespace) -> dict[str, Any]:
    """The model settings given on the command line (the rest take the model config's defaults)."""
    values: dict[str, Any] = {}
    if args.latent_dim is not None:
        values["latent_dim"] = args.latent_dim
    if args.hidden:
        values["hidden"] = list(args.hidden) if args.model == "mlp" else args.hidden[0]
    if args.channels:
        if args.model == "mlp":
            raise argparse.ArgumentTypeError("--channels applies to --model conv only")
        values["channels"] = list(args.channels)
    return values


def cmd_train(args: argparse.Namespace, argv: Sequence[str]) -> int:
    try:
        values = model_config(args)
    except argparse.ArgumentTypeError as exc:
        args.parser.error(str(exc))
    cfg = TrainConfig(model=args.model, model_config=values, weight=args.weight, noise=args.noise,
                      consistency=args.consistency, split=args.split, train_limit=args.train_limit, val_limit=args.val_limit,
                      scaling=args.scaling, **training_fields(args))
    out = train_and_report(get_task("image"), cfg, args, argv, ensure_data,
                       lambda r: f"val PSNR {r['val_psnr']:.2f} dB (projected {r['val_psnr_projected']:.2f} dB, "
                                     f"split {r.get('val_psnr_split', float('nan')):.2f} dB)")
    if not args.no_eval:
        print(format_metrics(evaluate_checkpoint(out, args.data_dir)))
    return 0


def cmd_sweep(args: argparse.Namespace, argv: Sequence[str]) -> int:
    values: dict[str, Any] = {"hidden": list(args.hidden)} if args.model == "mlp" else {}
    if args.model == "conv":
        values.update(channels=list(args.channels or (16, 32, 64)), hidden=(args.hidden or (512,))[0])
    base = TrainConfig(model=args.model, model_config={**values, "latent_dim": max(args.latents)},
                       epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                       train_limit=args.train_limit, val_limit=args.val_limit)
    base.validate()
    ensure_data(args.data_dir, not args.no_download)
    out = Path(args.out) if args.out else runs_dir() / args.name
    out.mkdir(parents=True, exist_ok=True)
    print(f"Sweep {args.name}: beta {args.betas} x latent {args.latents}, {args.model}, {args.epochs} epochs -> {out}")
    run_sweep(base, args.betas, args.latents, out, sweep=args.name, command="python -m vae_core " + shlex.join(argv),
              data_root=args.data_dir, half=not args.full_precision, eval_limit=args.eval_limit,
              backend=args.backend, cpus_per_run=args.cpus_per_run)
    return 0


def evaluate(sep: ImageSeparator, data_root: Path | None, limit: int | None, weight: float = 0.5,
             noise: float = 0.0, pair_seed: int = 0, progress: Callable[[float], None] | None = None) -> dict[str, Any]:
    """Scores on the test mixtures (all 10,000 unless ``limit``)."""
    return evaluate_separator(sep, weight=weight, noise=noise, pair_seed=pair_seed, limit=limit, data_root=data_root,
                              progress=progress)


def summary(meta: dict[str, Any]) -> str:
    scores = meta.get("test_metrics", {})
    for key, how in (("refined_split", "refined, split"), ("projected", "projected")):
        if "psnr_mean" in scores.get(key, {}):
            return f"PSNR {scores[key]['psnr_mean']:.2f} dB ({how})"
    return "not evaluated"


def data(root: Path, download: bool, progress: Callable[..., None]) -> list[str]:
    lines = []
    for ds in DATASETS.values():
        if download:
            print(f"{ds.title}: checking {root / ds.key}")
            ensure_dataset(ds, root, download=True, progress=progress)
            lines.append(f"{ds.title}: complete")
        else:
            missing = missing_files(ds, root)
            lines.append(f"{ds.title}: " + ("complete" if not missing else "missing " + ", ".join(p.name for p in missing))
                         + f" ({root / ds.key})")
    return lines


def default_run_name(cfg: TrainConfig) -> str:
    return f"{cfg.model}-beta{cfg.beta:g}-z{cfg.model_config.get('latent_dim', '')}"


def add_cli(train_sub: argparse._SubParsersAction, sub: argparse._SubParsersAction) -> None:
    d = TrainConfig()
    t = train_sub.add_parser("image", help="train an image separation VAE (MNIST digit + Fashion-MNIST clothing)")
    t.add_argument("--model", choices=IMAGE_MODEL_KINDS, default=d.model)
    t.add_argument("--latent-dim", type=positive_int, default=None,
                   help="latent size per source (default: the model's, " +
                        ", ".join(f"{k} {c().latent_dim}" for k, (c, _) in MODEL_KINDS.items()) + ")")
    t.add_argument("--hidden", type=int_tuple, default=None, help="hidden sizes, e.g. 512,256 (conv: one number)")
    t.add_argument("--channels", type=int_tuple, default=None, help="conv channels, e.g. 16,32,64")
    add_training_args(t, d)
    t.add_argument("--weight", type=float, default=d.weight, help="mixing weight of the digit")
    t.add_argument("--noise", type=float, default=d.noise, help="std of Gaussian noise added to mixtures")
    t.add_argument("--consistency", type=float, default=d.consistency,
                   help="weight of the loss on mixture-consistent outputs (Wisdom et al. 2019)")
    t.add_argument("--split", type=float, default=d.split,
                   help="weight of the loss on ratio-split outputs (the mixture shared out by the decoders' ratio)")
    t.add_argument("--scaling", choices=["elbo", "report"], default=d.scaling,
                   help="elbo: per-example sums (the ELBO); report: a student report's mean-reduced MSE with the "
                        "summed KL (the loss-scale trap)")
    t.add_argument("--train-limit", type=positive_int, default=None, help="use the first N training pairs")
    t.add_argument("--val-limit", type=positive_int, default=None)
    t.add_argument("--no-eval", action="store_true", help="skip the test-set evaluation")
    t.set_defaults(func=cmd_train, parser=t)

    s = sub.add_parser("sweep", help="train one model per beta and latent size (for the beta lab)")
    s.add_argument("task", choices=["image"])
    s.add_argument("--betas", type=float_list, default=[0, 0.1, 1, 4, 10, 100])
    s.add_argument("--latents", type=int_tuple, default=(2, 10, 32))
    s.add_argument("--model", choices=IMAGE_MODEL_KINDS, default="mlp")
    s.add_argument("--hidden", type=int_tuple, default=(64,), help="hidden sizes (conv: one number)")
    s.add_argument("--channels", type=int_tuple, default=None)
    s.add_argument("--epochs", type=int, default=5)
    s.add_argument("--batch-size", type=int, default=128)
    s.add_argument("--lr", type=float, default=2e-3)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--train-limit", type=positive_int, default=None)
    s.add_argument("--val-limit", type=positive_int, default=None)
    s.add_argument("--name", default="beta-sweep", help="sweep name (also its folder in the runs folder)")
    s.add_argument("--out", default=None, help="folder for the runs (e.g. checkpoints/sweep)")
    s.add_argument("--full-precision", action="store_true", help="store float32 weights (default float16)")
    s.add_argument("--eval-limit", type=positive_int, default=None,
                   help="score each run on the first N test mixtures (default: all 10,000)")
    s.add_argument("--no-download", action="store_true")
    s.add_argument("--backend", choices=["local", "ray"], default="local",
                   help="local: one run after another here; ray: the runs in parallel on the Ray cluster at "
                        "RAY_ADDRESS (a local Ray instance when unset; pip install .[cluster])")
    s.add_argument("--cpus-per-run", type=positive_int, default=1, help="CPUs each Ray task asks for")
    s.set_defaults(func=cmd_sweep)


BENCHES = {
    "image": lambda args: bench_image(checkpoints=args.checkpoints or ["image-mlp", "image-conv"], limit=args.limit,
                                      data_root=args.data_dir),
    "train-quick": lambda args: bench_train_quick(data_root=args.data_dir),
    "watch-quick": lambda args: bench_watch_quick(data_root=args.data_dir, repeats=args.repeats or 1,
                                                      client=args.client),
    "plane-drag": lambda args: bench_plane_drag(checkpoint=(args.checkpoints or [None])[0],
                                                repeats=args.repeats or 3),
}
