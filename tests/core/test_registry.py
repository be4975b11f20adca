"""Adding a task means a package and one registry entry: a toy task defined here, and touching nothing in
``vae_core.core``, trains through the shared trainer, is saved and listed, loads through ``load_checkpoint`` as its
own inference class, and runs as a job."""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from vae_core.core import registry
from vae_core.core.store import list_checkpoints, read_sidecar
from vae_core.core.errors import ConfigError
from vae_core.core.inference import load_checkpoint
from vae_core.core.jobs import LocalJobRunner
from vae_core.core.losses import kl_per_dim
from vae_core.core.models import SeparationVAE
from vae_core.core.trainer import TrainingConfig, TrainingTask, train

SIZE = 8


@dataclass
class ToyModelConfig:
    latent_dim: int = 2

    def validate(self) -> None:
        if not 1 <= self.latent_dim <= 16:
            raise ConfigError(f"latent_dim must be between 1 and 16, not {self.latent_dim}.")


class ToyVAE(SeparationVAE):
    """Two sources of 8 numbers, mixed by averaging: a linear encoder and one linear decoder per source."""

    kind = "toy-linear"
    sources = ("left", "right")

    def __init__(self, config: ToyModelConfig | None = None):
        super().__init__()
        self.config = config or ToyModelConfig()
        self.config.validate()
        self.heads = nn.Linear(SIZE, 4 * self.config.latent_dim)
        self.decoders = nn.ModuleList(nn.Linear(self.config.latent_dim, SIZE) for _ in self.sources)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        p = self.heads(x).view(-1, 2, 2, self.config.latent_dim)
        return p[:, :, 0], p[:, :, 1]

    def decode(self, z: torch.Tensor, source: int) -> torch.Tensor:
        return self.decoders[source](z)

    def remix(self, sources: torch.Tensor, weight: float = 0.5) -> torch.Tensor:
        return weight * sources[:, 0] + (1 - weight) * sources[:, 1]


@dataclass
class ToyTrainConfig(TrainingConfig):
    model: str = "toy-linear"
    epochs: int = 3
    batch_size: int = 32
    lr: float = 1e-2


def toy_sources(n: int, seed: int) -> torch.Tensor:
    """``(n, 2, 8)``: a rising and a falling ramp with random gains."""
    g = torch.Generator().manual_seed(seed)
    ramp = torch.linspace(0, 1, SIZE)
    gains = torch.rand(n, 2, 1, generator=g)
    return torch.stack([ramp, ramp.flip(0)]).unsqueeze(0) * gains


class ToyTask(TrainingTask):
    name = "toy"
    loss_terms = ("total", "recon", "kl")
    figures = ("val_mse",)

    def __init__(self, config: ToyTrainConfig, data_root=None, download: bool = False):
        self.config = config
        self.train_sources, self.val_sources = toy_sources(256, 1), toy_sources(64, 2)

    def build_model(self) -> ToyVAE:
        return ToyVAE(ToyModelConfig(**self.config.model_config))

    def steps_per_epoch(self) -> int:
        return len(self.train_sources) // self.config.batch_size

    def batch(self, i: int, g: torch.Generator, device: torch.device) -> tuple[Any, int]:
        rows = torch.randint(len(self.train_sources), (self.config.batch_size,), generator=g)
        return self.train_sources[rows].to(device), self.config.batch_size

    def loss(self, model: ToyVAE, batch: Any, beta: float, noise: torch.Generator) -> dict[str, torch.Tensor]:
        out = model(batch.mean(1), generator=noise)
        recon = (out.sources - batch).pow(2).sum((1, 2)).mean()
        kl = kl_per_dim(out.mu, out.logvar).sum((1, 2)).mean()
        return {"total": recon + beta * kl, "recon": recon, "kl": kl}

    @torch.no_grad()
    def validate(self, model: ToyVAE, device: torch.device) -> tuple[dict[str, float], dict[str, float]]:
        model.eval()
        terms = self.loss(model, self.val_sources.to(device), self.config.beta, torch.Generator())
        mse = (model(self.val_sources.mean(1)).sources - self.val_sources).pow(2).mean()
        return {k: float(v) for k, v in terms.items()}, {"val_mse": float(mse)}

    def score(self, val_terms: dict[str, float], figures: dict[str, float]) -> float:
        return -figures["val_mse"]

    def data_checksums(self) -> dict[str, Any]:
        return {"toy": {"seeds": "1,2"}}

    def preview(self, model: ToyVAE) -> np.ndarray:
        with torch.no_grad():
            return model.eval()(self.val_sources[:2].mean(1)).sources.clamp(0, 1).numpy()


class ToyInference:
    task = "toy"
    sources = ToyVAE.sources

    def __init__(self, model: ToyVAE, meta: dict[str, Any], path=None):
        self.model, self.meta, self.path = model.eval(), meta, path
        self.name = path.name if path else "toy"

    @torch.no_grad()
    def separate(self, mixtures: torch.Tensor) -> torch.Tensor:
        return self.model(mixtures).sources


TOY = registry.TaskSpec(
    name="toy", title="Toy", sources=ToyVAE.sources, config_class=ToyTrainConfig,
    model_kinds={ToyVAE.kind: (ToyModelConfig, ToyVAE)}, make_task=ToyTask, inference=ToyInference,
    evaluate=lambda sep, data_root, limit: {"separated": len(sep.separate(torch.zeros(3, SIZE)))},
    format_metrics=lambda sep, m: str(m),
)


@pytest.fixture
def toy_task(monkeypatch):
    """The toy task registered for one test only (the registry is module state)."""
    monkeypatch.setitem(registry._TASKS, "toy", TOY)
    return TOY


def test_a_new_task_trains_saves_lists_and_loads_through_the_core(toy_task, runs_dir):
    folder = runs_dir / "toy-run"
    result = train(ToyTrainConfig(), out_dir=folder, meta={"name": "toy-run"})
    history = result.history
    assert history["epoch"] == [1, 2, 3] and len(history["val_mse"]) == 3
    assert history["val_mse"][-1] < history["val_mse"][0]  # it learns
    meta = read_sidecar(folder)
    assert meta["task"] == "toy" and meta["kind"] == "toy-linear" and meta["data"] == {"toy": {"seeds": "1,2"}}
    assert meta["best_epoch"] == 1 + int(np.argmin(history["val_mse"]))
    (info,) = list_checkpoints("toy")
    assert info.name == "toy-run" and info.origin == "user"
    sep = load_checkpoint("toy-run")
    assert isinstance(sep, ToyInference) and sep.sources == ("left", "right")
    x = toy_sources(4, 3)
    torch.testing.assert_close(sep.separate(x.mean(1)), result.model.eval()(x.mean(1)).sources)


def test_a_new_task_runs_as_a_job_with_its_own_preview_and_scoring(tmp_path, monkeypatch):
    # The job trains in a worker process, which learns of the toy task from its plugin module (tests/ on its path).
    monkeypatch.setitem(registry._TASKS, "toy", replace(TOY, plugin="core.toy_plugin"))
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).resolve().parents[1]))
    runner = LocalJobRunner(root=tmp_path / "runs")
    job_id = runner.submit(ToyTrainConfig(), name="toy job")
    state = runner.wait(job_id, timeout=120)
    assert state.status == "done" and state.task == "toy", state.message
    assert read_sidecar(tmp_path / "runs" / state.name)["test_metrics"] == {"separated": 3}
    assert runner.preview(job_id).shape == (2, 2, SIZE)


def test_a_model_kind_belongs_to_one_task(toy_task):
    clash = registry.TaskSpec(**{**TOY.__dict__, "name": "toy2"})
    with pytest.raises(ValueError, match="both claim"):
        registry.register(clash)
    with pytest.raises(ConfigError, match="latent_dim must be between 1 and 16"):
        ToyTrainConfig(model_config={"latent_dim": 99}).validate()
