"""Fixtures shared by the app tests (AppTest and the real-browser test).

Import the fixtures into a test module (``from ui.app_fixtures import app_env, ...``) to use them.
VAE_DATA_DIR comes from tests/conftest.py (the default below is the same); VAE_RUNS_DIR is set per
test by ``app_env`` to a folder of the app tests' own.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

os.environ.setdefault("VAE_DATA_DIR", str((REPO.parent / "shared" / "data").resolve()))


def open_page(page: str, query: dict[str, str] | None = None, timeout: float = 60):
    """AppTest of ``page`` (a path under the repository) run as a browser opening it with ``query`` in its address
    would; no exception allowed."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(REPO / page), default_timeout=timeout)
    for key, value in (query or {}).items():
        at.query_params[key] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def save_tiny_checkpoint(folder: Path, extra_meta: dict | None = None):
    """An untrained, small MLP checkpoint in ``folder`` (seconds to build, no training)."""
    import torch

    from vae_core.core.checkpoints import save_checkpoint
    from vae_core.core.models import build_model

    torch.manual_seed(0)
    model = build_model("mlp", {"latent_dim": 8, "hidden": (64,)})
    save_checkpoint(folder, model, {"task": "image", **(extra_meta or {})})
    return model


@pytest.fixture(scope="session")
def app_runs_dir(tmp_path_factory) -> Path:
    """The user runs folder the app tests point VAE_RUNS_DIR at (their own, so that the checkpoint
    they may add never shows up in other tests' listings)."""
    return tmp_path_factory.mktemp("app-runs")


def _default_checkpoint(task: str, shipped: str, runs_dir: Path, save_tiny, tiny: str):
    """The shipped checkpoint ``shipped`` of ``task`` when it exists, else a tiny untrained one that ``save_tiny``
    saves as ``runs_dir/tiny`` (so that the tests also work before the shipped models are trained)."""
    from vae_core.core.store import list_checkpoints

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VAE_RUNS_DIR", str(runs_dir))
        infos = list_checkpoints(task)
        if not infos:
            save_tiny(runs_dir / tiny)
            infos = list_checkpoints(task)
    assert infos, f"could not provide a {task} checkpoint for the app tests"
    return next((c for c in infos if c.name == shipped), infos[0])


@pytest.fixture(scope="session")
def image_checkpoint(app_runs_dir):
    """The checkpoint the image page selects by default (``image-conv``, or a tiny untrained MLP)."""
    return _default_checkpoint("image", "image-conv", app_runs_dir, save_tiny_checkpoint, "tiny")


def save_tiny_audio_checkpoint(folder: Path):
    """An untrained, small audio checkpoint in ``folder`` (no training)."""
    import torch

    from vae_core.audio.model import AudioConvConfig, AudioConvSeparationVAE
    from vae_core.core.checkpoints import save_checkpoint

    torch.manual_seed(0)
    model = AudioConvSeparationVAE(AudioConvConfig(channels=(8, 8, 8), decoder_channels=(8, 8, 8), latent_channels=4))
    save_checkpoint(folder, model, {"task": "audio"})
    return model


@pytest.fixture(scope="session")
def audio_checkpoint(app_runs_dir):
    """The checkpoint the audio pages select by default (``audio-conv``, or a tiny untrained one)."""
    return _default_checkpoint("audio", "audio-conv", app_runs_dir, save_tiny_audio_checkpoint, "tiny-audio")


def save_tiny_music_checkpoint(folder: Path):
    """An untrained, small spectrogram music checkpoint in ``folder`` (no training)."""
    import torch

    from vae_core.core.checkpoints import save_checkpoint
    from vae_core.core.models import build_model

    torch.manual_seed(0)
    model = build_model("music-spec", {"hidden": 16, "latent_channels": 4})
    save_checkpoint(folder, model, {"task": "music"})
    return model


@pytest.fixture(scope="session")
def music_checkpoint(app_runs_dir):
    """The checkpoint the music page selects by default (``music-spec``, or a tiny untrained one)."""
    return _default_checkpoint("music", "music-spec", app_runs_dir, save_tiny_music_checkpoint, "tiny-music")


def save_tiny_effects_checkpoint(folder: Path):
    """An untrained, small conditional effects checkpoint in ``folder`` (no training)."""
    import torch

    from vae_core.core.checkpoints import save_checkpoint
    from vae_core.core.models import build_model

    torch.manual_seed(0)
    model = build_model("effects-cvae", {"latent_dim": 8, "width": 32})
    save_checkpoint(folder, model, {"task": "effects"})
    return model


@pytest.fixture(scope="session")
def effects_checkpoint(app_runs_dir):
    """The checkpoint the Effects map page selects by default (``effects-cvae``, or a tiny untrained one)."""
    return _default_checkpoint("effects", "effects-cvae", app_runs_dir, save_tiny_effects_checkpoint, "tiny-effects")


@pytest.fixture
def app_env(app_runs_dir, image_checkpoint, monkeypatch):
    """VAE_RUNS_DIR -> the app tests' runs folder (holding ``image_checkpoint`` unless it is shipped)."""
    monkeypatch.setenv("VAE_RUNS_DIR", str(app_runs_dir))
    return image_checkpoint


def clear_app_caches() -> None:
    """Forget cached models and datasets (AppTest runs the pages in this process, caches survive runs)."""
    import streamlit as st

    from vae_core.image import data

    st.cache_resource.clear()
    st.cache_data.clear()
    data._load_split_cached.cache_clear()
