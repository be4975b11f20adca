"""CDPAM embeddings of audio: a fixed, published feature extractor for Fréchet audio distances.

CDPAM (Manocha et al. 2021, "CDPAM: Contrastive Learning for Perceptual Audio Similarity"; the ``cdpam`` 0.0.6
wheel, MIT) is a 16-layer 1-D convolutional encoder of 22.05 kHz waveforms. As in fadtk's ``cdpam-acoustic``
model, each clip is cut into 1-second frames, each frame is encoded and the "acoustic" half of the pooled
encoding (512 numbers) is L2-normalised; a clip of s seconds gives about s rows.

The weights ship inside the wheel as a legacy (pre-zip) torch pickle, which the package's own loader reads with a
plain ``torch.load`` (unsafe, and refused by torch >= 2.6). Here that file is read once through an unpickler
that knows exactly the four globals the file uses, checked against its published SHA-256, and converted to
safetensors in the user's model cache (``$VAE_MODELS_DIR``, else ``$XDG_CACHE_HOME/vae-separation-lab/models``);
every later load reads the safetensors file. Nothing is downloaded.
"""
from __future__ import annotations

import collections
import hashlib
import importlib.util
import io
import pickle
import threading
import types
from pathlib import Path
from typing import Any

import numpy as np
import safetensors
import safetensors.torch
import torch
import torch.nn.functional as F

from vae_core.core.audio_io import resample
from vae_core.core.data import cache_folder
from vae_core.core.errors import LabError
from vae_core.core.store import atomic_write_bytes

SAMPLE_RATE = 22050  # the rate CDPAM was trained at
FRAME = SAMPLE_RATE  # one-second frames, as fadtk cuts them
EMBEDDING_DIM = 512  # the "acoustic" half of the encoder's 1024 pooled channels
CDPAM_VERSION = "0.0.6"
WEIGHTS_FILE = "CDPAM_trained/scratchJNDdefault_best_model.pth"  # inside the installed cdpam package
# From the wheel's RECORD: another file (another release, a tampered copy) is refused rather than converted.
WEIGHTS_SHA256 = "453c8b6edee1a94f0120236156436ff28fe4d8d884485e4a67695c8e8570bdfe"
# The constructor arguments of cdpam.CDPAM's FINnet (cdpam/cdpam.py, 0.0.6).
FINNET_KWARGS: dict[str, Any] = {"encoder_layers": 16, "encoder_filters": 64, "ndim": [16, 6], "classif_dp": 0.05,
                                  "classif_BN": 0, "classif_act": "no", "input_size": 512}
BATCH_FRAMES = 8  # frames encoded together: about 0.2 GB of activations at most
INSTALL_HINT = f"install it with pip install cdpam=={CDPAM_VERSION}"


class FeatureModelError(LabError):
    """A pretrained feature extractor is not installed, or its weights are not the published ones."""


# ------------------------------------------------------------------------- reading the legacy pickle safely

# Every global the weights file's pickles name (checked with pickletools); anything else is refused.
ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch", "FloatStorage"): torch.FloatStorage,
    ("torch", "LongStorage"): torch.LongStorage,
    ("torch._utils", "_rebuild_tensor_v2"): torch._utils._rebuild_tensor_v2,
}


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that resolves only :data:`ALLOWED_GLOBALS`, so a pickle can build data but call nothing else.

    ``torch.load(..., weights_only=True)`` would be the usual choice, but it refuses the protocol-0 ``INT``
    opcode the CDPAM file uses; the standard unpickler reads every opcode, and restricting ``find_class`` (the
    only way a pickle reaches a callable) keeps it safe.
    """

    def find_class(self, module: str, name: str) -> Any:
        try:
            return ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"global {module}.{name} is not allowed") from None


def _restricted_load(file: Any, **kwargs: Any) -> Any:
    return RestrictedUnpickler(file, **kwargs).load()


# torch.load reads a legacy file as several pickles, all through the module given as ``pickle_module``.
RESTRICTED_PICKLE = types.ModuleType("vae_core_restricted_pickle")
RESTRICTED_PICKLE.Unpickler = RestrictedUnpickler  # type: ignore[attr-defined]
RESTRICTED_PICKLE.load = _restricted_load  # type: ignore[attr-defined]


def read_legacy_state(path: Path) -> dict[str, torch.Tensor]:
    """The model state (name -> tensor) of a legacy torch checkpoint ``{"state": ...}``, read without running code."""
    try:
        checkpoint = torch.load(path, map_location="cpu", pickle_module=RESTRICTED_PICKLE, weights_only=False)
    except pickle.UnpicklingError as exc:
        raise FeatureModelError(f"{path} is refused because it asks to run code ({exc}); reinstall the package "
                                "it came from.") from None
    except (RuntimeError, EOFError, OSError, ValueError) as exc:
        raise FeatureModelError(f"{path} cannot be read as a torch checkpoint ({exc}); reinstall the package "
                                "it came from.") from None
    state = checkpoint.get("state") if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise FeatureModelError(f"{path} holds no model state of tensors under 'state'; reinstall the package "
                                "it came from.")
    return dict(state)


# ------------------------------------------------------------------------- the converted cache

def models_dir() -> Path:
    """Per-user folder for third-party model weights converted to safetensors (``VAE_MODELS_DIR`` overrides)."""
    return cache_folder("VAE_MODELS_DIR", "models")


def cdpam_weights_source() -> Path:
    """The weights file inside the installed cdpam package (found without importing cdpam)."""
    return _cdpam_dir() / WEIGHTS_FILE


def converted_weights_path() -> Path:
    """The safetensors copy of CDPAM's weights in :func:`models_dir`, converted on first use."""
    path = models_dir() / f"cdpam-{CDPAM_VERSION}-{WEIGHTS_SHA256[:12]}.safetensors"
    if not path.is_file():
        source = cdpam_weights_source()
        digest = _sha256(source)
        if digest != WEIGHTS_SHA256:
            raise FeatureModelError(f"{source} is not the weights file of cdpam {CDPAM_VERSION} (SHA-256 "
                                    f"{digest[:12]}... instead of {WEIGHTS_SHA256[:12]}...); {INSTALL_HINT}.")
        state = read_legacy_state(source)
        data = safetensors.torch.save({k: v.contiguous() for k, v in state.items()},
                                      metadata={"source": f"cdpam {CDPAM_VERSION} {WEIGHTS_FILE}",
                                                "sha256": WEIGHTS_SHA256})
        atomic_write_bytes(path, data)
    return path


# ------------------------------------------------------------------------- the encoder

_ENCODERS: dict[Path, torch.nn.Module] = {}
_LOCK = threading.Lock()  # app sessions run in threads; the first two must not both build the model


def cdpam_encoder() -> torch.nn.Module:
    """CDPAM's waveform encoder in eval mode, built once per weights file: ``(batch, 1, samples)`` in."""
    with _LOCK:
        path = converted_weights_path()
        if path not in _ENCODERS:
            _ENCODERS[path] = _build_encoder(path)
        return _ENCODERS[path]


def _build_encoder(path: Path) -> torch.nn.Module:
    finnet = _cdpam_models().FINnet
    try:
        state = safetensors.torch.load_file(str(path))
    except (OSError, safetensors.SafetensorError) as exc:
        raise FeatureModelError(f"{path} is damaged ({exc}); delete it and it is converted again.") from None
    # On the meta device the constructor allocates nothing and draws no random numbers from the caller's seed.
    with torch.device("meta"):
        model = finnet(**FINNET_KWARGS)
    try:
        model.load_state_dict(state, strict=True, assign=True)
    except RuntimeError as exc:
        raise FeatureModelError(f"{path} does not hold CDPAM's weights ({str(exc).splitlines()[0]}); delete it "
                                "and it is converted again.") from None
    encoder = model.base_encoder.eval()
    encoder.requires_grad_(False)
    return encoder


def _cdpam_dir() -> Path:
    spec = importlib.util.find_spec("cdpam")
    if spec is None or not spec.submodule_search_locations:
        raise FeatureModelError(f"The CDPAM feature extractor is not installed; {INSTALL_HINT}.")
    return Path(next(iter(spec.submodule_search_locations)))


def _cdpam_models() -> types.ModuleType:
    """cdpam's ``models.py`` (the network classes), loaded from its file.

    ``import cdpam`` also imports resampy, librosa and scipy for the package's own file loader, which the
    embedding never uses; ``models.py`` itself needs only torch and numpy.
    """
    file = _cdpam_dir() / "models.py"
    spec = importlib.util.spec_from_file_location("_cdpam_models", file)
    if spec is None or spec.loader is None or not file.is_file():
        raise FeatureModelError(f"The cdpam package at {file.parent} has no models.py; {INSTALL_HINT}.")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    except FileNotFoundError:
        raise FeatureModelError(f"The cdpam package has no weights file {path}; {INSTALL_HINT}.") from None
    return digest.hexdigest()


# ------------------------------------------------------------------------- embeddings

def cdpam_embeddings(waveforms: list[np.ndarray] | np.ndarray, rate: int) -> np.ndarray:
    """CDPAM "acoustic" embeddings ``(n_frames, 512)`` float32 of mono clips at ``rate`` Hz.

    ``waveforms`` is one clip ``(samples,)``, a batch ``(clips, samples)`` or a list of clips of any lengths, in
    [-1, 1]. Each clip is resampled to 22,050 Hz and cut into 1-second frames; a last partial frame counts if it
    is at least half a second long (shorter ones are rounding left-overs). Rows are the frames of the first clip,
    then those of the second, and so on: as in fadtk, the Fréchet distance is taken over frames.
    """
    clips = _clips(waveforms)
    if isinstance(rate, bool) or not isinstance(rate, (int, np.integer)) or rate <= 0:
        raise FeatureModelError(f"rate must be a positive whole number of samples per second, not {rate!r}.")
    # The same clips always give the same rows, and real clips are embedded again for every table (about 0.75 s
    # per second of audio on two cores), so rows are kept by the clips' content in the models folder.
    cached = embeddings_cache_path(clips, int(rate))
    try:
        return np.load(cached, allow_pickle=False)
    except (OSError, ValueError):
        pass
    out = _embed(clips, int(rate))
    try:
        buffer = io.BytesIO()
        np.save(buffer, out, allow_pickle=False)
        atomic_write_bytes(cached, buffer.getvalue())
    except OSError:  # a read-only cache only costs time
        pass
    return out


def embeddings_cache_path(clips: list[np.ndarray], rate: int) -> Path:
    """Where the embeddings of exactly these clips (samples and rate) are kept."""
    digest = hashlib.sha256(f"{CDPAM_VERSION}:{WEIGHTS_SHA256}:{rate}:{len(clips)}".encode())
    for clip in clips:
        digest.update(str(len(clip)).encode())
        digest.update(np.ascontiguousarray(clip, dtype=np.float32).tobytes())
    return models_dir() / "cdpam-embeddings" / f"{digest.hexdigest()[:32]}.npy"


def _embed(clips: list[np.ndarray], rate: int) -> np.ndarray:
    frames = []
    for i, clip in enumerate(clips):
        # CDPAM was trained on 16-bit sample values as floats (cdpam.load_audio).
        x = np.round(resample(clip, int(rate), SAMPLE_RATE).astype(np.float64) * 32768.0).astype(np.float32)
        if len(x) < FRAME // 2:
            raise FeatureModelError(f"Clip {i} is {len(clip) / rate:.2f} s long; CDPAM embeddings need clips of at "
                                    "least half a second.")
        frames += [x[s:s + FRAME] for s in range(0, len(x), FRAME) if len(x) - s >= FRAME // 2]
    encoder = cdpam_encoder()
    rows, batch = [], []
    for frame in frames:
        # A batch holds frames of one length: the full ones, or a single last partial frame.
        if batch and (len(frame) != len(batch[0]) or len(batch) == BATCH_FRAMES):
            rows.append(_encode(encoder, np.stack(batch)))
            batch = []
        batch.append(frame)
    rows.append(_encode(encoder, np.stack(batch)))
    return np.concatenate(rows).astype(np.float32)


def _encode(encoder: torch.nn.Module, frames: np.ndarray) -> np.ndarray:
    """``(batch, samples)`` 16-bit-scaled frames -> ``(batch, 512)`` unit-length acoustic embeddings."""
    with torch.inference_mode():
        _, acoustic, _ = encoder(torch.from_numpy(frames).unsqueeze(1))
        return F.normalize(acoustic, dim=1).numpy()


def _clips(waveforms: list[np.ndarray] | np.ndarray) -> list[np.ndarray]:
    if isinstance(waveforms, np.ndarray):
        clips = [waveforms] if waveforms.ndim == 1 else list(waveforms) if waveforms.ndim == 2 else None
    else:
        clips = [np.asarray(w) for w in waveforms]
    if not clips or any(np.asarray(c).ndim != 1 for c in clips):
        shape = getattr(waveforms, "shape", f"a list of {len(waveforms)}")
        raise FeatureModelError(f"waveforms must be one mono clip (samples,), a batch (clips, samples) or a list of "
                                f"mono clips, not {shape}.")
    out = [np.asarray(c, dtype=np.float32) for c in clips]
    for i, c in enumerate(out):
        if not np.isfinite(c).all():
            raise FeatureModelError(f"Clip {i} contains NaN or infinite samples; CDPAM cannot embed it.")
    return out
