"""Where datasets live and how their files are downloaded and checked (any task's data).

Files are kept in their original published form under one data root: ``$VAE_DATA_DIR`` if set, else
``$XDG_CACHE_HOME/vae-separation-lab/data`` (``~/.cache/...``); each dataset has its own folder in it.
Downloads check an MD5 before a file appears under its name, so no partial file is ever left behind."""
from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable


from vae_core.core.errors import DownloadError

ProgressFn = Callable[[int, int | None], None]
"""Called as ``progress(bytes_done, bytes_total_or_None)`` while downloading."""


@dataclass(frozen=True)
class DataFile:
    name: str
    md5: str


def cache_folder(variable: str, name: str) -> Path:
    """The folder the environment variable ``variable`` names, else ``name`` in the user's cache folder
    (``$XDG_CACHE_HOME/vae-separation-lab/NAME``, by default under ``~/.cache``)."""
    env = os.environ.get(variable)
    if env:
        return Path(env).expanduser().resolve()
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "vae-separation-lab" / name


def data_root() -> Path:
    """The folder that holds all datasets (``VAE_DATA_DIR`` or a per-user cache folder)."""
    return cache_folder("VAE_DATA_DIR", "data")


def md5sum(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


# --------------------------------------------------------------------------- download

def download_file(urls: list[str] | tuple[str, ...], dest: Path, md5: str,
                  progress: ProgressFn | None = None, timeout: float = 30.0) -> Path:
    """Download ``dest`` from the first URL that works and check its MD5.

    The file is written to a temporary name beside ``dest`` and renamed only once its checksum
    matches, so no partial or wrong file is ever left at ``dest``.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    failures: list[str] = []
    for url in urls:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
        tmp = Path(tmp_name)
        try:
            h = hashlib.md5()
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:
                total = resp.headers.get("Content-Length")
                total = int(total) if total and total.isdigit() else None
                done = 0
                while block := resp.read(1 << 16):
                    out.write(block)
                    h.update(block)
                    done += len(block)
                    if progress:
                        progress(done, total)
            if h.hexdigest() != md5:
                failures.append(f"{url}: checksum mismatch (got md5 {h.hexdigest()}, expected {md5})")
                continue
            os.replace(tmp, dest)
            return dest
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            failures.append(f"{url}: {reason}")
        finally:
            tmp.unlink(missing_ok=True)
    raise DownloadError(
        f"Could not download {dest.name} ({'; '.join(failures)}). If you are offline, copy the file into "
        f"{dest.parent} yourself or set VAE_DATA_DIR to a folder that already holds it."
    )
