"""Checkpoints: safetensors weights + a JSON sidecar, written atomically; and the registry.

A checkpoint is a folder::

    image-conv/
      checkpoint.json                     # config, history, metrics, data checksums, command, weights name+sha256
      weights-<sha256[:16]>.safetensors   # the state dict

The weights file is named after its own hash and written first (temp file + rename); the sidecar is then
replaced atomically and is the single commit point. A reader therefore always sees a complete, matching
pair, even if the writer was killed half-way; stale weights files are removed after the commit.

Shipped checkpoints live in the project's ``checkpoints/`` folder; runs trained by users live in the
per-user runs folder (``$VAE_RUNS_DIR``, else ``$XDG_DATA_HOME/vae-separation-lab/runs``).
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import os
import platform
import io
import re
import shutil
import tempfile
import zipfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

import safetensors.torch
import torch
from safetensors import SafetensorError

from vae_core.core import __version__
from vae_core.core.errors import CheckpointError, LabError
from vae_core.core.models import SeparationVAE, build_model, config_from_dict, config_to_dict
from vae_core.core.registry import task_of_kind
from vae_core.core.store import (FORMAT, SIDECAR, atomic_write_bytes, atomic_write_json, json_safe,
                                 read_sidecar, runs_dir, update_sidecar)

def save_checkpoint(folder: Path, model: SeparationVAE, meta: dict[str, Any], half: bool = False) -> Path:
    """Write ``model``'s weights and ``meta`` as a checkpoint folder; returns the sidecar path.

    ``half`` stores floating-point weights as float16 (half the size; loading casts them back), for
    checkpoints shipped in numbers, such as a sweep.
    """
    folder = Path(folder)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    if half:
        state = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
    blob = safetensors.torch.save(state)
    sha = hashlib.sha256(blob).hexdigest()
    weights_name = f"weights-{sha[:16]}.safetensors"
    weights_path = folder / weights_name
    if not weights_path.is_file() or hashlib.sha256(weights_path.read_bytes()).hexdigest() != sha:
        atomic_write_bytes(weights_path, blob)
    sidecar = dict(meta)
    sidecar.update({"format": FORMAT, "task": task_of_kind(model.kind).name, "kind": model.kind,
                    "model_config": config_to_dict(model.config),
                    "weights": weights_name, "weights_sha256": sha})
    atomic_write_json(folder / SIDECAR, json_safe(sidecar))
    for stale in folder.glob("weights-*.safetensors"):
        if stale.name != weights_name:
            stale.unlink(missing_ok=True)
    return folder / SIDECAR


def load_model(folder: Path) -> tuple[SeparationVAE, dict[str, Any]]:
    """Rebuild the model of a checkpoint folder and load its verified weights."""
    folder = Path(folder)
    meta = read_sidecar(folder)
    # The description is checked (kind, known keys, types, sizes within the config's limits) before any
    # weight is read or allocated.
    try:
        if not isinstance(meta.get("model_config"), dict):
            raise TypeError(f"model_config must be an object, not {type(meta.get('model_config')).__name__}")
        config = config_from_dict(meta["kind"], meta["model_config"])
        config.validate()
    except (KeyError, TypeError, ValueError, LabError) as exc:
        raise CheckpointError(f"{folder.name}: its model description is invalid ({str(exc).rstrip('.')}); "
                              "restore the checkpoint or train it again.") from None
    weights = folder / str(meta.get("weights", ""))
    try:
        blob = weights.read_bytes()
    except (FileNotFoundError, IsADirectoryError):
        raise CheckpointError(f"{folder.name}: its weights file {weights.name!r} is missing; train it again.") from None
    if hashlib.sha256(blob).hexdigest() != meta.get("weights_sha256"):
        raise CheckpointError(
            f"{folder.name}: the weights do not match the checksum in {SIDECAR} (the file was changed or "
            f"damaged); restore the checkpoint or train it again."
        )
    try:
        state = safetensors.torch.load(blob)
    except (SafetensorError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"{folder.name}: the weights file cannot be read ({exc}).") from None
    model = build_model(meta["kind"], config)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError:
        raise CheckpointError(
            f"{folder.name}: the weights belong to a different model than its {SIDECAR} describes "
            f"({meta['kind']} {meta['model_config']}); use the checkpoint it was saved with."
        ) from None
    model.eval()
    return model, meta


def training_meta(task: str, cfg: Any, history: dict[str, Any], best_epoch: int, data: dict[str, Any],
                  extra: dict[str, Any] | None) -> dict[str, Any]:
    """The sidecar fields of a training run (everything needed to reproduce and judge it); ``data`` names the
    data the run used (dataset -> file -> checksum)."""
    meta = {
        "task": task,
        "train_config": asdict(cfg),
        "history": history,
        "best_epoch": best_epoch,
        "data": data,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "versions": {"vae_core": __version__, "torch": torch.__version__, "python": platform.python_version()},
    }
    meta.update(extra or {})
    return meta


# --------------------------------------------------------------------------- sharing a run as one file

BUNDLE_SUFFIX = ".vaelab.zip"
MAX_BUNDLE_MB = 200  # the largest shipped model is a few MB; this leaves room and refuses anything absurd
_WEIGHTS_NAME = re.compile(r"^weights-[0-9a-f]{16}\.safetensors$")


def export_bundle(folder: Path) -> bytes:
    """A checkpoint as one file to share: a zip of its sidecar and weights (no code, no pickles), verified first."""
    folder = Path(folder)
    _model, meta = load_model(folder)  # never share a damaged checkpoint
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.write(folder / SIDECAR, SIDECAR)
        zf.write(folder / meta["weights"], meta["weights"])
    return buffer.getvalue()


def _bundle_error(what: str) -> CheckpointError:
    return CheckpointError(f"This file is not a shared VAE Separation Lab model ({what}); export the run again "
                           f"with its Download button (or `python -m vae_core export RUN`) and import that file.")


def import_bundle(data: bytes, root: Path | None = None, name: str | None = None,
                  owner: str | None = None) -> Path:
    """Add a shared model (:func:`export_bundle`'s file) to the runs folder ``root`` and return its folder.

    The file is checked like any checkpoint (its description before its weights, the weights against their
    sha256, their shapes against the model) in a temporary folder; only a checkpoint that loads is renamed into
    place, under ``name`` (default: its own name), made unique. ``owner`` becomes its owner (the importing
    student; the original one is kept as ``trained_by``).
    """
    root = Path(root) if root else runs_dir()
    if len(data) > MAX_BUNDLE_MB * 1_000_000:
        raise _bundle_error(f"it is larger than {MAX_BUNDLE_MB} MB")
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise _bundle_error("it is not a zip file") from None
    with zf:
        infos = zf.infolist()
        names = sorted(i.filename for i in infos)
        weights = [n for n in names if _WEIGHTS_NAME.match(n)]
        if len(infos) != 2 or SIDECAR not in names or len(weights) != 1:
            raise _bundle_error(f"it must hold exactly {SIDECAR} and one weights file, not {names[:5]}")
        if sum(i.file_size for i in infos) > MAX_BUNDLE_MB * 1_000_000:
            raise _bundle_error(f"it unpacks to more than {MAX_BUNDLE_MB} MB")
        root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".import-", dir=root))
        try:
            for n in names:  # only the two checked names, written by us: no path from the archive is used
                try:
                    (staging / n).write_bytes(zf.read(n))
                except (zipfile.BadZipFile, OSError, RuntimeError, EOFError) as exc:
                    raise _bundle_error(f"it is damaged: {exc}") from None
            try:
                _model, meta = load_model(staging)
            except CheckpointError as exc:
                why = str(exc).split(": ", 1)[-1].split(";")[0].rstrip(".")
                raise CheckpointError(f"The shared model was refused: {why}; ask whoever shared it to export it "
                                      "again.") from None
            if meta.get("weights") != weights[0]:
                raise _bundle_error("its sidecar names another weights file")
            base = re.sub(r"[^a-z0-9]+", "-", (name or str(meta.get("name") or "shared")).lower()).strip("-")[:60]
            base = base or "shared"
            target, n = root / base, 2
            while target.exists():
                target, n = root / f"{base}-{n}", n + 1
            fields: dict[str, Any] = {"name": target.name, "imported": _dt.datetime.now(_dt.timezone.utc)
                                      .isoformat(timespec="seconds")}
            if owner:
                fields.update(owner=owner, trained_by=meta.get("owner", ""))
            update_sidecar(staging, **fields)
            os.replace(staging, target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    return target
