"""Command line: ``python -m vae_core`` (or ``vae-lab``) ``{train,eval,bench,list,data,...} ...``.

The core commands (``eval``, ``bench``, ``list``, ``data``) work for every task through the registry; each task
adds ``train <task>`` with its own flags (defaults read from its config dataclass) and any commands of its own
(``sweep image``, ``tune audio``). Every user error ends in one sentence on stderr and exit status 2, never a
traceback.
"""
from __future__ import annotations

import argparse
import json
import shlex
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Sequence

from vae_core.core.loadtest import CLIENTS, bench_pages, bench_serve
from vae_core.core.bench import bench_latent
from vae_core.core.checkpoints import BUNDLE_SUFFIX, export_bundle, import_bundle
from vae_core.core.store import atomic_write_bytes, list_checkpoints, resolve_checkpoint, runs_dir, update_sidecar
from vae_core.core.data import data_root
from vae_core.core.errors import LabError
from vae_core.core.inference import load_checkpoint
from vae_core.core.registry import TaskSpec, get_task, require_task, tasks
from vae_core.core.trainer import Callbacks, train


# ---------------------------------------------------------------------------------------------- argument types

def int_tuple(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def float_list(text: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def progress_printer(name: str, done: int, total: int | None) -> None:
    """Download progress on stderr."""
    if total:
        print(f"\r  {name}: {done / 1e6:.1f} / {total / 1e6:.1f} MB", end="", file=sys.stderr, flush=True)
        if done >= total:
            print(file=sys.stderr)


def add_training_args(parser: argparse.ArgumentParser, defaults: Any) -> None:
    """The flags every task's ``train`` shares, with defaults from the task's config dataclass."""
    parser.add_argument("--beta", type=float, default=defaults.beta, help=f"KL weight (default {defaults.beta:g})")
    parser.add_argument("--epochs", type=int, default=defaults.epochs, help=f"default {defaults.epochs}")
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size, help=f"default {defaults.batch_size}")
    parser.add_argument("--lr", type=float, default=defaults.lr, help=f"default {defaults.lr:g}")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--kl-anneal-epochs", type=float, default=defaults.kl_anneal_epochs,
                        help="β ramps linearly from 0 over this many epochs (Bowman et al. 2016)")
    parser.add_argument("--free-bits", type=float, default=defaults.free_bits,
                        help="nats per latent dimension below which the KL is not pushed down (Kingma et al. 2016)")
    parser.add_argument("--ema-decay", type=float, default=defaults.ema_decay,
                        help="validate and save a moving average of the weights with this per-step decay "
                             "(e.g. 0.998; 0: off)")
    parser.add_argument("--time-budget", type=float, default=None, help="stop after this many seconds")
    parser.add_argument("--name", default=None, help="run name in the runs folder")
    parser.add_argument("--out", default=None, help="checkpoint folder (overrides --name)")
    parser.add_argument("--no-download", action="store_true", help="fail instead of downloading missing data")


def training_fields(args: argparse.Namespace) -> dict[str, Any]:
    """The shared training fields of a config, from :func:`add_training_args`'s flags."""
    return dict(beta=args.beta, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                kl_anneal_epochs=args.kl_anneal_epochs, free_bits=args.free_bits, ema_decay=args.ema_decay,
                time_budget_s=args.time_budget)


class EpochPrinter(Callbacks):
    """One line per epoch: the loss terms and the task's validation figures."""

    def __init__(self, figures: Callable[[dict[str, Any]], str]):
        self.figures = figures

    def on_step(self, info: dict[str, Any]) -> None:
        if info["step"] % 50 == 0 and sys.stdout.isatty():  # a live counter only on a terminal, not in logs
            print(f"\r  epoch {info['epoch']} step {info['step']}/{info['total_steps']} "
                  f"loss {info['loss']:.1f}", end="", flush=True)

    def on_epoch(self, r: dict[str, Any]) -> None:
        mark = " *" if r["improved"] else ""
        print(f"\r  epoch {r['epoch']}: train {r['train']['total']:.2f} (recon {r['train']['recon']:.2f}, "
              f"kl {r['train']['kl']:.2f})  val {r['val']['total']:.2f}  {self.figures(r)}  "
              f"[{r['seconds']:.0f} s]{mark}", flush=True)


def train_and_report(spec: TaskSpec, config: Any, args: argparse.Namespace, argv: Sequence[str],
                 ensure_data: Callable[[Path | None, bool], None], figures: Callable[[dict[str, Any]], str]) -> Path:
    """Validate, check the data (a missing dataset leaves no empty run folder behind), create the output folder
    (one that cannot be written fails now, not after training), train and report; returns the run folder."""
    config.validate()
    ensure_data(args.data_dir, not args.no_download)
    default = spec.default_run_name(config) if spec.default_run_name else spec.name
    out = Path(args.out) if args.out else runs_dir() / (args.name or f"{default}-{time.strftime('%Y%m%d-%H%M%S')}")
    out.mkdir(parents=True, exist_ok=True)
    print(f"Training {spec.name} (beta {config.beta:g}) for {config.epochs} epochs -> {out}")
    try:
        result = train(config, EpochPrinter(figures), threading.Event(), out_dir=out, data_root=args.data_dir,
                       meta={"command": "python -m vae_core " + shlex.join(argv), "name": out.name})
    except KeyboardInterrupt:
        print("\nInterrupted; the best checkpoint so far (if any epoch finished) is in " + str(out), file=sys.stderr)
        raise SystemExit(130) from None
    print(f"Best epoch {result.best_epoch}, {result.seconds:.0f} s; checkpoint {out}")
    return out


def load_for(task: str, name: str, what: str) -> Any:
    """Load a checkpoint for a command of ``task``; one sentence if it belongs to another task."""
    sep = load_checkpoint(name)
    require_task(sep, task, what)
    return sep


# ---------------------------------------------------------------------------------------------- core commands

def cmd_eval(args: argparse.Namespace, argv: Sequence[str]) -> int:
    sep = load_checkpoint(args.checkpoint)
    spec = get_task(sep.task)
    options = {k: getattr(args, k) for k in ("weight", "noise", "pair_seed") if getattr(args, k) is not None}
    unknown = set(options) - set(spec.eval_options)
    if unknown:
        flags = ", ".join("--" + k.replace("_", "-") for k in sorted(unknown))
        raise LabError(f"{flags} do(es) not apply to {sep.name}, a {sep.task} checkpoint; leave them out.")
    metrics = spec.evaluate(sep, args.data_dir, args.limit, **options)
    if args.store:
        update_sidecar(sep.path, test_metrics=metrics)
    metrics["checkpoint"] = sep.name
    print(json.dumps(metrics) if args.json else spec.format_metrics(sep, metrics))
    return 0


def cmd_bench(args: argparse.Namespace, argv: Sequence[str]) -> int:
    if args.what == "latent":
        names = args.checkpoints or [c.name for c in list_checkpoints() if c.origin == "shipped" and "/" not in c.name]
        report = bench_latent(checkpoints=names)
    elif args.what == "serve":
        report = bench_serve(args.sessions, args.minutes, args.client, args.baseline)
    elif args.what == "pages":
        report = bench_pages(args.pages, args.repeats or 5)
    else:
        spec = next(s for s in tasks().values() if args.what in s.benches)
        report = spec.benches[args.what](args)
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report, indent=1) + "\n")
        print(f"Wrote {out}")
    if args.json:
        print(json.dumps(report))  # the last line: one JSON object, for scripts
    return 0


def cmd_list(args: argparse.Namespace, argv: Sequence[str]) -> int:
    infos = list_checkpoints()
    if not infos:
        print("No checkpoints found.")
    for c in infos:
        try:
            spec = get_task(c.task)
            score = spec.summary(c.meta) if spec.summary else ""
        except LabError:
            score = "unknown task"
        print(f"{c.name:24} {c.origin:8} {c.task:6} {c.kind:10} {score:16} {c.path}")
    return 0


def cmd_data(args: argparse.Namespace, argv: Sequence[str]) -> int:
    root = Path(args.data_dir) if args.data_dir else data_root()
    for spec in tasks().values():
        if spec.data is None:
            continue
        for line in spec.data(root, args.action == "download", progress_printer):
            print(line)
    return 0


def cmd_export(args: argparse.Namespace, argv: Sequence[str]) -> int:
    folder = resolve_checkpoint(args.checkpoint)
    out = Path(args.out) if args.out else Path(folder.name.replace("/", "-") + BUNDLE_SUFFIX)
    atomic_write_bytes(out, export_bundle(folder))
    print(f"Wrote {out} ({out.stat().st_size / 1e6:.1f} MB): import it with `python -m vae_core import {out}` or "
          "the Train page's Import.")
    return 0


def cmd_import(args: argparse.Namespace, argv: Sequence[str]) -> int:
    try:
        data = Path(args.file).read_bytes()
    except OSError as exc:
        raise LabError(f"Cannot read {args.file} ({exc.strerror}); give the path of a {BUNDLE_SUFFIX} file.") from None
    folder = import_bundle(data, name=args.name)
    print(f"Imported as {folder.name} ({folder}); every checkpoint picker lists it.")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m vae_core", description="VAE Separation Lab command line.")
    p.add_argument("--data-dir", type=Path, default=None, help="dataset folder (default: $VAE_DATA_DIR or the user cache)")
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train a model of one task (see `train TASK --help` for its flags)")
    train_sub = t.add_subparsers(dest="task", required=True)

    e = sub.add_parser("eval", help="score a checkpoint on its task's held-out test data")
    e.add_argument("checkpoint")
    e.add_argument("--json", action="store_true")
    e.add_argument("--limit", type=positive_int, default=None, help="the first N test items (mixtures, clips)")
    e.add_argument("--store", action="store_true", help="store the scores in the checkpoint's sidecar")
    e.add_argument("--weight", type=float, default=None, help="image: mixing weight of the digit (default 0.5)")
    e.add_argument("--noise", type=float, default=None, help="image: std of Gaussian noise added to mixtures")
    e.add_argument("--pair-seed", type=int, default=None, help="image: which clothing item goes with each digit")
    e.set_defaults(func=cmd_eval)

    # latent_move is each task's part of `bench latent`, not a bench of its own
    benches = [name for spec in tasks().values() for name in spec.benches if name != "latent_move"]
    b = sub.add_parser("bench", help="benchmarks: quality, latency and training throughput (they print numbers)")
    b.add_argument("what", choices=[*benches, "latent", "serve", "pages"])
    b.add_argument("--checkpoints", nargs="+", default=None, help="checkpoints to measure (default: the shipped ones)")
    b.add_argument("--limit", type=positive_int, default=None, help="score on the first N test items")
    b.add_argument("--generated", type=positive_int, default=54,
                   help="music: clips of 5 s drawn from each model for the Fréchet table (default 54)")
    b.add_argument("--out", default=None, help="also write the report to this JSON file")
    b.add_argument("--json", action="store_true", help="also print the report as one JSON line, last")
    b.add_argument("--sessions", type=positive_int, nargs="+", default=[1, 5, 10, 20],
                   help="serve: class sizes to measure, one after another on one server")
    b.add_argument("--minutes", type=float, default=0.0,
                   help="serve: then keep the last class using the app this long, sampling server memory")
    b.add_argument("--baseline", action="store_true",
                   help="serve: then the same Chromium classes on a bare Streamlit page (lab_ui/baseline_app.py: the "
                        "slider and three images), what Streamlit's page alone costs this machine")
    b.add_argument("--client", choices=CLIENTS, default="browser",
                   help="serve, watch-quick: each session a Chromium page, or a protocol-level client (the "
                        "server's side of a class whose browsers run on the students' machines)")
    b.add_argument("--repeats", type=positive_int, default=None,
                   help="watch-quick: unwatched/watched pairs to run in turn (default 1); pages: visits with the "
                        "models cached after the first (default 5); plane-drag: drags (default 3)")
    b.add_argument("--pages", nargs="+", default=None,
                   help="pages: the url paths to open ('' for Home; default: every page)")
    b.set_defaults(func=cmd_bench)

    ls = sub.add_parser("list", help="list shipped and user checkpoints")
    ls.set_defaults(func=cmd_list)

    x = sub.add_parser("export", help="write a checkpoint as one file to share (a zip of weights and sidecar)")
    x.add_argument("checkpoint")
    x.add_argument("--out", default=None, help=f"the file to write (default: NAME{BUNDLE_SUFFIX})")
    x.set_defaults(func=cmd_export)

    im = sub.add_parser("import", help="add a shared model file to your runs (verified first)")
    im.add_argument("file")
    im.add_argument("--name", default=None, help="name of the run (default: the model's own)")
    im.set_defaults(func=cmd_import)

    d = sub.add_parser("data", help="check or download the datasets")
    d.add_argument("action", choices=["status", "download"])
    d.set_defaults(func=cmd_data)

    for spec in tasks().values():
        if spec.add_cli:
            spec.add_cli(train_sub, sub)
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


__all__ = ["add_training_args", "build_parser", "float_list", "int_tuple", "load_for", "main", "positive_int",
           "progress_printer", "train_and_report", "training_fields"]
