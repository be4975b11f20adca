"""Checkpoint folders on disk, without torch: where they live, their JSON sidecars, atomic writes, the listing.

Reading what checkpoints exist and what their sidecars say needs no model, so the pages that only list runs (and
the job runner) import this module, not :mod:`vae_core.core.checkpoints`, and a cold server draws its first page
without loading torch.
"""
from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vae_core.core.errors import CheckpointError
from vae_core.core.registry import closest

FORMAT = "vae-separation-lab/1"
SIDECAR = "checkpoint.json"
SHIPPED_DIR = Path(__file__).resolve().parents[2] / "checkpoints"


def runs_dir() -> Path:
    """Per-user folder for checkpoints trained by the user (CLI or app)."""
    env = os.environ.get("VAE_RUNS_DIR")
    if env:
        return Path(env).expanduser().resolve()
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "vae-separation-lab" / "runs"


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file in the same folder and an atomic rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=1, allow_nan=False) + "\n").encode())


def json_safe(value: Any) -> Any:
    """Replace NaN/inf (not valid JSON) by None, recursively."""
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def update_sidecar(folder: Path, **fields: Any) -> dict[str, Any]:
    """Atomically add or replace top-level fields of a checkpoint's sidecar (e.g. test metrics)."""
    meta = read_sidecar(Path(folder))
    meta.update(fields)
    atomic_write_json(Path(folder) / SIDECAR, json_safe(meta))
    return meta


def read_sidecar(folder: Path) -> dict[str, Any]:
    path = Path(folder) / SIDECAR
    try:
        meta = json.loads(path.read_text())
    except FileNotFoundError:
        raise CheckpointError(f"{folder} is not a checkpoint: it has no {SIDECAR}.") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{path} is not valid JSON ({exc}); the checkpoint is damaged, train it again.") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a VAE Separation Lab checkpoint (format {FORMAT!r} expected).")
    return meta


# --------------------------------------------------------------------------- registry

@dataclass
class CheckpointInfo:
    name: str
    path: Path
    origin: str  # "shipped" or "user"
    task: str
    kind: str
    meta: dict[str, Any]

    @property
    def label(self) -> str:
        return f"{self.name} ({self.origin})"


def list_checkpoints(task: str | None = None) -> list[CheckpointInfo]:
    """Shipped and user checkpoints (shipped first, each sorted by name), optionally only those of one task.

    Folders whose sidecar cannot be read are skipped here; loading them names the problem.
    """
    found = []
    for origin, root in (("shipped", SHIPPED_DIR), ("user", runs_dir())):
        if not root.is_dir():
            continue
        # Checkpoints sit in the root or one folder down (a group such as "sweep/"), named "group/run" then.
        for sidecar in sorted([*root.glob(f"*/{SIDECAR}"), *root.glob(f"*/*/{SIDECAR}")]):
            folder = sidecar.parent
            try:
                meta = read_sidecar(folder)
            except CheckpointError:
                continue
            if task and meta.get("task") != task:
                continue
            found.append(CheckpointInfo(folder.relative_to(root).as_posix(), folder, origin, meta.get("task", "?"),
                                        meta.get("kind", "?"), meta))
    return found


def resolve_checkpoint(name_or_path: str | Path) -> Path:
    """The folder of a checkpoint given by name (shipped, then user runs) or by path."""
    p = Path(name_or_path).expanduser()
    if (p / SIDECAR).is_file():
        return p
    for root in (SHIPPED_DIR, runs_dir()):
        if (root / str(name_or_path) / SIDECAR).is_file():
            return root / str(name_or_path)
    names = [c.name for c in list_checkpoints()]
    near = closest(str(name_or_path), names)
    hint = f"did you mean {' or '.join(repr(n) for n in near)}? " if near else ""
    listing = (f"`python -m vae_core list` shows all {len(names)}" if names else
               f"there is none yet in {SHIPPED_DIR} or {runs_dir()}; train one with `python -m vae_core train`")
    raise CheckpointError(f"No checkpoint called {str(name_or_path)!r}; {hint}{listing}.")
