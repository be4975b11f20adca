"""β × latent-size sweeps: one training run per combination, for the β lab to compare.

Each run is an ordinary checkpoint (``<out>/beta<β>-z<latent>``) whose sidecar also carries the sweep's name,
its test metrics and the latent statistics the β lab plots (KL, active units, collapse report), so the page
does not have to recompute them.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

from vae_core.core.errors import ConfigError
from vae_core.core.checkpoints import load_model, save_checkpoint
from vae_core.core.store import CheckpointInfo, list_checkpoints, update_sidecar
from vae_core.image.evaluation import evaluate_checkpoint
from vae_core.image.latents import collapse_report, summarize
from vae_core.image.inference import ImageSeparator
from vae_core.image.task import TrainConfig
from vae_core.core.trainer import train


def run_name(beta: float, latent_dim: int) -> str:
    return f"beta{beta:g}-z{latent_dim}"


def latent_stats(separator: ImageSeparator, data_root: Path | None = None, n: int = 1000) -> dict[str, Any]:
    """KL per source, active units per source and the collapse report, as stored in a sidecar."""
    summary = summarize(separator, n=n, data_root=data_root)
    return {"n": n, "kl_per_dim": summary.kl.tolist(), "active_units": summary.active.sum(1).tolist(),
            "collapse": collapse_report(separator, summary)}


def score_run(folder: Path, data_root: Path | None = None,
              eval_limit: int | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """Test metrics (on the first ``eval_limit`` test mixtures, all 10,000 by default) and latent statistics of a
    run, computed from the weights on disk (as shipped, float16 included) and stored in its sidecar."""
    metrics = evaluate_checkpoint(folder, data_root, eval_limit)
    model, meta = load_model(folder)
    stats = latent_stats(ImageSeparator(model, meta, Path(folder)), data_root)
    update_sidecar(folder, latent_stats=stats)
    return metrics, stats


def sweep_run(cfg: TrainConfig, folder: Path, sweep: str, command: str = "", data_root: Path | None = None,
              half: bool = True, eval_limit: int | None = None) -> str:
    """Train, store and score one run of a sweep; returns its line of the sweep's report."""
    result = train(cfg, out_dir=folder, data_root=data_root,
                   meta={"sweep": sweep, "command": command, "name": f"{sweep}/{folder.name}"})
    model, meta = load_model(folder)
    save_checkpoint(folder, model, meta, half=half)  # first: the scores below are those of these files
    metrics, stats = score_run(folder, data_root, eval_limit)
    collapsed = [s for s, r in stats["collapse"].items() if r["collapsed"]]
    return (f"{folder.name:14} {result.seconds:6.1f} s  PSNR {metrics['projected']['psnr_mean']:6.2f} dB "
            f"(raw {metrics['raw']['psnr_mean']:6.2f})  KL {sum(map(sum, stats['kl_per_dim'])):7.2f} nats  "
            f"active {stats['active_units']}" + (f"  COLLAPSED: {', '.join(collapsed)}" if collapsed else ""))


def run_sweep(base: TrainConfig, betas: list[float], latent_dims: list[int], out_root: Path, sweep: str,
              command: str = "", data_root: Path | None = None, half: bool = True,
              echo: Callable[[str], None] = print, eval_limit: int | None = None,
              backend: str = "local", cpus_per_run: int = 1) -> list[Path]:
    """Train ``base`` once per (β, latent size); returns the checkpoint folders.

    ``backend="local"`` trains the runs one after another in this process; ``"ray"`` hands them to the Ray
    cluster (``vae_core.core.cluster``) as parallel tasks of ``cpus_per_run`` CPUs each. Both give the same runs.
    """
    calls = []
    for latent in latent_dims:
        for beta in betas:
            cfg = replace(base, beta=float(beta), model_config={**base.model_config, "latent_dim": int(latent)})
            cfg.validate()
            folder = Path(out_root) / run_name(beta, latent)
            calls.append((cfg, folder, sweep, command, data_root, half, eval_limit))
    if backend == "ray":
        try:
            from vae_core.core.cluster import connect, ray_map  # optional: Ray is the `cluster` extra
        except ImportError:
            raise ConfigError("The ray backend needs Ray: install it with `pip install .[cluster]`.") from None
        connect()
        ray_map(sweep_run, calls, cpus_per_run, on_result=echo)
    elif backend == "local":
        for call in calls:
            echo(sweep_run(*call))
    else:
        raise ConfigError(f"The sweep backend must be 'local' or 'ray', not {backend!r}.")
    return [call[1] for call in calls]


# --------------------------------------------------------------------------------- what the β lab shows of runs

def run_beta(info: CheckpointInfo) -> float:
    """β of a run, from its sidecar (NaN when it has none)."""
    return float(info.meta.get("train_config", {}).get("beta", float("nan")))


def run_latent(info: CheckpointInfo) -> int:
    """Latent size per source of a run, from its sidecar."""
    return int(info.meta.get("model_config", {}).get("latent_dim", 0))


def run_label(info: CheckpointInfo) -> str:
    """``β=…, z=…``, with the run's name unless it belongs to a sweep."""
    return f"β={run_beta(info):g}, z={run_latent(info)}" + ("" if info.meta.get("sweep") else f" ({info.name})")


def comparable_runs() -> tuple[list[CheckpointInfo], list[str]]:
    """Image runs with a training history (shipped and the user's) and the names of the sweeps among them."""
    infos = [c for c in list_checkpoints("image") if c.meta.get("history", {}).get("epoch")]
    return infos, sorted({c.meta["sweep"] for c in infos if c.meta.get("sweep")})


def run_collapse(info: CheckpointInfo, separator: ImageSeparator | None = None) -> dict[str, dict]:
    """A run's posterior-collapse report: from its sidecar when its sweep stored one, else computed (on 1,000
    test mixtures) with ``separator`` (loaded from the run when not given)."""
    stored = info.meta.get("latent_stats")
    if stored:
        return stored["collapse"]
    sep = separator or ImageSeparator(*load_model(info.path), info.path)
    return collapse_report(sep, summarize(sep, n=1000))


def collapse_row(info: CheckpointInfo, report: dict[str, dict]) -> dict[str, Any]:
    """One row of the β lab's collapse table."""
    d, c = report["digit"], report["clothing"]
    reasons = [f"{src}: {'; '.join(s['reasons'])}" for src, s in (("digit", d), ("clothing", c)) if s["collapsed"]]
    return {"run": run_label(info), "KL digit": round(d["kl_nats"], 2), "KL clothing": round(c["kl_nats"], 2),
            "active units": f"{d['active_units']} + {c['active_units']}",
            "output spread": f"{d['output_spread']:.3f} / {c['output_spread']:.3f}",
            "posterior collapse": " · ".join(reasons) if reasons else "no"}


__all__ = ["collapse_row", "comparable_runs", "latent_stats", "run_beta", "run_collapse", "run_label", "run_latent",
           "run_name", "run_sweep", "score_run"]
