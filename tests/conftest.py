"""Shared test setup: real data location, an isolated runs folder, and small models.

``VAE_DATA_DIR`` points at the project's shared data (``<repo>/../shared/data``) unless already set;
``VAE_RUNS_DIR`` is a per-session temporary folder so no test ever writes into the user's home.
"""
from __future__ import annotations

import functools
import http.server
import os
import tempfile
import threading
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parent.parent
os.environ.setdefault("VAE_DATA_DIR", str((REPO / ".." / "shared" / "data").resolve()))

# Set before any vae_core import can look at it; removed again when the session ends (fixture below).
_SESSION_RUNS = tempfile.mkdtemp(prefix="vae-test-runs-")
os.environ["VAE_RUNS_DIR"] = _SESSION_RUNS
# Converted third-party weights (CDPAM, about 105 MB) go to the session's folder too, never the user's cache.
os.environ["VAE_MODELS_DIR"] = os.path.join(_SESSION_RUNS, "models")

from vae_core.image.model import ConvConfig, MLPConfig  # noqa: E402
from vae_core.core.models import build_model  # noqa: E402

# The tests use tiny tensors; one thread avoids contention with other work on small machines
# (two threads can be 100x slower here when another process keeps the cores busy).
torch.set_num_threads(1)
# Training workers (the job runner's processes) too, so that a job's numbers equal a run in the test's process.
os.environ.setdefault("VAE_WORKER_THREADS", "1")

SMALL_CONFIGS = {
    "mlp": MLPConfig(latent_dim=4, hidden=(32, 16)),
    "conv": ConvConfig(latent_dim=3, channels=(4, 6, 8), hidden=16),
}


@pytest.fixture(scope="session", autouse=True)
def _session_runs_dir():
    """Keep VAE_RUNS_DIR on the session's temporary folder and remove it afterwards."""
    import shutil

    os.environ["VAE_RUNS_DIR"] = _SESSION_RUNS
    yield Path(_SESSION_RUNS)
    shutil.rmtree(_SESSION_RUNS, ignore_errors=True)


@pytest.fixture
def runs_dir(tmp_path, monkeypatch) -> Path:
    """A fresh, empty user runs folder for one test."""
    path = tmp_path / "user-runs"
    path.mkdir()
    monkeypatch.setenv("VAE_RUNS_DIR", str(path))
    return path


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The real data root (holds mnist/ and fashion-mnist/)."""
    return Path(os.environ["VAE_DATA_DIR"])


def make_model(kind: str, seed: int = 0):
    """A small untrained model of ``kind`` in eval mode, with reproducible weights."""
    torch.manual_seed(seed)
    cfg = SMALL_CONFIGS[kind]
    model = build_model(kind, type(cfg)(**vars(cfg)))
    # Give BatchNorm non-trivial running statistics so eval mode is not the identity.
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    return model.eval()


@pytest.fixture
def small_configs() -> dict:
    """The small model configs used throughout the tests, by kind."""
    return SMALL_CONFIGS


@pytest.fixture
def model_factory():
    """``model_factory(kind, seed=0)`` -> a small untrained model in eval mode."""
    return make_model


@pytest.fixture(params=["mlp", "conv"])
def kind(request) -> str:
    return request.param


@pytest.fixture
def mixtures() -> torch.Tensor:
    """A few random mixtures (N, 28, 28) in [0, 1]."""
    g = torch.Generator().manual_seed(123)
    return torch.rand((5, 28, 28), generator=g)


# --------------------------------------------------------------------------- a local HTTP server (downloads)

class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep test output clean
        pass


@pytest.fixture
def http_server(tmp_path, monkeypatch):
    """Serve ``tmp_path/"srv"`` on 127.0.0.1; yields ``(base_url, folder)``."""
    for var in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    folder = tmp_path / "srv"
    folder.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", folder
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
