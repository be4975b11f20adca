"""MNIST and Fashion-MNIST: their files (IDX, gzip), the IDX reader and the checked, cached splits.

Each dataset has its own folder in the data root (:func:`vae_core.core.data.data_root`), e.g.
``<root>/mnist/train-images-idx3-ubyte.gz``."""
from __future__ import annotations

import functools
import gzip
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from vae_core.core.data import DataFile, data_root, download_file, md5sum
from vae_core.core.errors import DataCorruptError, DataMissingError


@dataclass(frozen=True)
class ImageDataset:
    """An MNIST-format dataset: four IDX files, ten classes, 28x28 uint8 images."""

    key: str
    title: str
    files: dict[str, DataFile]  # "train-images", "train-labels", "test-images", "test-labels"
    mirrors: tuple[str, ...]
    classes: tuple[str, ...]
    homepage: str


MNIST = ImageDataset(
    key="mnist",
    title="MNIST",
    files={
        "train-images": DataFile("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
        "train-labels": DataFile("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432"),
        "test-images": DataFile("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3"),
        "test-labels": DataFile("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c"),
    },
    mirrors=(
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
        "http://yann.lecun.com/exdb/mnist/",
    ),
    classes=tuple(str(d) for d in range(10)),
    homepage="http://yann.lecun.com/exdb/mnist/",
)

FASHION_MNIST = ImageDataset(
    key="fashion-mnist",
    title="Fashion-MNIST",
    files={
        "train-images": DataFile("train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
        "train-labels": DataFile("train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe"),
        "test-images": DataFile("t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79"),
        "test-labels": DataFile("t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310"),
    },
    mirrors=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
    classes=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
             "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
    homepage="https://github.com/zalandoresearch/fashion-mnist",
)

DATASETS: dict[str, ImageDataset] = {d.key: d for d in (MNIST, FASHION_MNIST)}


# --------------------------------------------------------------------------- IDX reader

_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def parse_idx(raw: bytes, source: str = "IDX data") -> np.ndarray:
    """Parse the bytes of an (uncompressed) IDX file into an array of its declared shape."""
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise DataCorruptError(f"{source} is not an IDX file (bad magic number); delete it and download it again.")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(raw) < header:
        raise DataCorruptError(f"{source} has a truncated IDX header; delete it and download it again.")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(raw) - header != expected:
        raise DataCorruptError(
            f"{source} holds {len(raw) - header} data bytes but its header declares {expected} "
            f"(shape {tuple(shape)}); the file is truncated or corrupt: delete it and download it again."
        )
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file, gzip-compressed (``.gz``) or not."""
    path = Path(path)
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as f:
                raw = f.read()
        else:
            raw = path.read_bytes()
    except FileNotFoundError:
        raise DataMissingError(f"{path} does not exist.") from None
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise DataCorruptError(
            f"{path} could not be decompressed ({exc}); delete it and download it again."
        ) from None
    return parse_idx(raw, source=str(path))


# --------------------------------------------------------------------------- checks and splits

def missing_files(ds: ImageDataset, root: Path | None = None) -> list[Path]:
    folder = (root or data_root()) / ds.key
    return [folder / f.name for f in ds.files.values() if not (folder / f.name).is_file()]


def missing_message(ds: ImageDataset, missing: list[Path], root: Path | None = None) -> str:
    root = root or data_root()
    names = ", ".join(p.name for p in missing)
    return (
        f"{ds.title} files missing: {names} (looked in {root / ds.key}). Run "
        f"`python -m vae_core data download` to fetch them from {ds.homepage}, or set VAE_DATA_DIR to a "
        f"folder that holds a '{ds.key}/' copy."
    )


def ensure_dataset(ds: ImageDataset | str, root: Path | None = None, download: bool = False,
                   progress: Callable[[str, int, int | None], None] | None = None,
                   mirrors: tuple[str, ...] | None = None) -> Path:
    """Make sure all files of ``ds`` exist under ``root``; download the missing ones if asked.

    Returns the dataset folder. Raises :class:`DataMissingError` naming the missing files otherwise.
    """
    ds = DATASETS[ds] if isinstance(ds, str) else ds
    root = Path(root) if root else data_root()
    missing = missing_files(ds, root)
    if missing and download:
        by_name = {f.name: f for f in ds.files.values()}
        for path in missing:
            f = by_name[path.name]
            cb = (lambda done, total, _n=f.name: progress(_n, done, total)) if progress else None
            download_file([m + f.name for m in (mirrors or ds.mirrors)], path, f.md5, progress=cb)
        missing = missing_files(ds, root)
    if missing:
        raise DataMissingError(missing_message(ds, missing, root))
    return root / ds.key


@functools.lru_cache(maxsize=8)
def _load_split_cached(key: str, split: str, root: str) -> tuple[np.ndarray, np.ndarray]:
    ds = DATASETS[key]
    folder = Path(root) / key
    arrays = []
    for part in ("images", "labels"):
        f = ds.files[f"{split}-{part}"]
        path = folder / f.name
        got = md5sum(path)
        if got != f.md5:
            raise DataCorruptError(
                f"{path} fails its checksum (md5 {got}, expected {f.md5}); delete it and run "
                f"`python -m vae_core data download` again."
            )
        arrays.append(read_idx(path))
    images, labels = arrays
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise DataCorruptError(f"{ds.title} {split} images and labels do not match; download them again.")
    return images.copy(), labels.astype(np.int64)  # cached and shared by the callers: they must not change them


def load_split(ds: ImageDataset | str, split: str, root: Path | None = None,
               download: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Images ``(N, 28, 28)`` uint8 and labels ``(N,)`` int64 of the ``train`` or ``test`` split.

    Checks every file's MD5 before parsing; results are cached per process. NumPy, not torch: this module loads
    without torch (the app's Home page checks the files with it).
    """
    ds = DATASETS[ds] if isinstance(ds, str) else ds
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', not {split!r}")
    root = Path(root) if root else data_root()
    ensure_dataset(ds, root, download=download)
    return _load_split_cached(ds.key, split, str(root))


def dataset_status(root: Path | None = None) -> dict[str, list[Path]]:
    """Missing files per dataset key (empty lists when everything is present)."""
    return {k: missing_files(ds, root) for k, ds in DATASETS.items()}
