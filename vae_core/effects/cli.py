"""The effects task's commands: ``train effects``, its ``eval``, ``bench effects`` and ``data`` parts."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Callable, Sequence

from vae_core.core.checkpoints import load_model, save_checkpoint
from vae_core.core.cli import add_training_args, train_and_report, training_fields
from vae_core.core.errors import LabError
from vae_core.core.inference import load_checkpoint
from vae_core.core.registry import get_task
from vae_core.core.store import update_sidecar
from vae_core.effects.bench import bench_effects
from vae_core.effects.data import EFFECTS, SOURCE_KINDS, dry_sources, pedalboard_module
from vae_core.effects.evaluation import evaluate_embedder, format_metrics
from vae_core.effects.inference import EffectsEmbedder
from vae_core.effects.task import PRESETS, EffectsTrainConfig, preset


def ensure_data(root: Path | None, download: bool) -> None:
    pedalboard_module()
    dry_sources(root, "train")  # MIR-1K and GTZAN: `python -m vae_core data download` fetches MIR-1K


def cmd_train(args: argparse.Namespace, argv: Sequence[str]) -> int:
    overrides = {k: v for k, v in training_fields(args).items() if v is not None}
    for name in ("scaling", "recon_scale", "steps", "latent_dim"):
        if getattr(args, name, None) is not None:
            overrides[name] = getattr(args, name)
    if "latent_dim" in overrides:
        overrides["model_config"] = {"latent_dim": overrides.pop("latent_dim")}
    if args.effects:
        overrides["effects"] = tuple(args.effects.split(","))
    if args.kinds:
        overrides["kinds"] = tuple(args.kinds.split(","))
    cfg = preset(args.preset, **overrides)
    out = train_and_report(get_task("effects"), cfg, args, argv, ensure_data,
                           lambda r: f"val kNN-5 accuracy {r['val_knn_acc']:.1%}")
    if args.half:
        model, meta = load_model(out)
        save_checkpoint(out, model, meta, half=True)
    if not args.no_eval:
        metrics = evaluate_embedder(load_checkpoint(out), args.data_dir)
        update_sidecar(out, test_metrics=metrics)
        print(format_metrics(metrics))
    return 0


def evaluate(emb: EffectsEmbedder, data_root: Path | None, limit: int | None) -> dict[str, Any]:
    """Embedding scores on the held-out files (the first ``limit`` of them)."""
    return evaluate_embedder(emb, data_root, limit)


def summary(meta: dict[str, Any]) -> str:
    m = meta.get("test_metrics", {})
    return f"probe {m['probe_acc']:.1%}" if "probe_acc" in m else "not evaluated"


def data(root: Path, download: bool, progress: Callable[..., None]) -> list[str]:
    try:
        pedalboard_module()
    except LabError as exc:
        return [f"Effects map: {exc}"]
    return ["Effects map: made on the fly from the MIR-1K and classical-music clips above (pedalboard installed)"]


def _bench(args: argparse.Namespace) -> dict[str, Any]:
    return bench_effects(args.checkpoints, args.limit, args.data_dir)


BENCHES = {"effects": _bench}


def default_run_name(cfg: EffectsTrainConfig) -> str:
    return f"effects-{cfg.scaling}-beta{cfg.beta:g}-z{cfg.model_config.get('latent_dim', 32)}"


def add_cli(train_sub: argparse._SubParsersAction, sub: argparse._SubParsersAction) -> None:
    t = train_sub.add_parser("effects", help="train the effects-map VAE on effect-processed audio (pedalboard)")
    t.add_argument("--preset", choices=list(PRESETS), default="default",
                   help="'default': the shipped map; 'beta0', 'elbo', 'report': the loss-scale comparison (the same "
                        "VAE and steps, three losses); 'quick': a short run")
    add_training_args(t, EffectsTrainConfig())
    t.set_defaults(beta=None, epochs=None, batch_size=None, lr=None, seed=None, kl_anneal_epochs=None,
                   free_bits=None, ema_decay=None, time_budget=None)
    t.add_argument("--scaling", choices=["elbo", "report"], default=None,
                   help="elbo: per-example sums (the project's ELBO); report: mean-reduced MSE + summed KL")
    t.add_argument("--recon-scale", type=float, default=None, help="σ of the log-mel likelihood (default 0.1)")
    t.add_argument("--steps", type=int, default=None, help="batches per epoch (default 100)")
    t.add_argument("--latent-dim", type=int, default=None, help="latent size (default 32)")
    t.add_argument("--effects", default=None, help=f"comma-separated, two or more of {','.join(EFFECTS)}")
    t.add_argument("--kinds", default=None, help=f"comma-separated: {','.join(SOURCE_KINDS)}")
    t.add_argument("--no-eval", action="store_true", help="skip the held-out evaluation")
    t.add_argument("--half", action="store_true", help="store the weights as float16 (half the size)")
    t.set_defaults(func=cmd_train, parser=t)

