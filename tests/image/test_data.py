"""IDX reader, dataset checks and the download path (against a local HTTP server)."""
from __future__ import annotations

import gzip
import hashlib
import shutil
import socket
import struct
from pathlib import Path

import numpy as np
import pytest

from vae_core.image import data
from vae_core.image.data import MNIST, ImageDataset, ensure_dataset, load_split, parse_idx, read_idx
from vae_core.core.data import DataFile, download_file, md5sum
from vae_core.core.errors import DataCorruptError, DataMissingError, DownloadError, LabError

MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def idx_bytes(arr: np.ndarray) -> bytes:
    """Encode a uint8 array as an IDX file."""
    assert arr.dtype == np.uint8
    return bytes([0, 0, 0x08, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.tobytes()


def random_images(n=3, h=28, w=28, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(n, h, w), dtype=np.uint8)


# --------------------------------------------------------------------------- IDX reader

def test_parse_idx_images_and_labels():
    imgs = random_images(4, 5, 7)
    out = parse_idx(idx_bytes(imgs))
    assert out.dtype == np.uint8 and out.shape == (4, 5, 7)
    np.testing.assert_array_equal(out, imgs)

    labels = np.array([3, 1, 4, 1, 5, 9], dtype=np.uint8)
    out = parse_idx(idx_bytes(labels))
    assert out.shape == (6,)
    np.testing.assert_array_equal(out, labels)


def test_parse_idx_big_endian_int32():
    values = np.array([[1, -2], [70000, 3]], dtype=">i4")
    raw = bytes([0, 0, 0x0C, 2]) + struct.pack(">2I", 2, 2) + values.tobytes()
    np.testing.assert_array_equal(parse_idx(raw), [[1, -2], [70000, 3]])


def test_read_idx_raw_and_gz(tmp_path):
    imgs = random_images(3)
    labels = np.array([7, 0, 2], dtype=np.uint8)
    (tmp_path / "imgs-idx3-ubyte").write_bytes(idx_bytes(imgs))
    (tmp_path / "imgs-idx3-ubyte.gz").write_bytes(gzip.compress(idx_bytes(imgs)))
    (tmp_path / "labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(labels)))

    for name in ("imgs-idx3-ubyte", "imgs-idx3-ubyte.gz"):
        out = read_idx(tmp_path / name)
        assert out.shape == (3, 28, 28) and out.dtype == np.uint8
        np.testing.assert_array_equal(out, imgs)
    out = read_idx(str(tmp_path / "labels-idx1-ubyte.gz"))
    assert out.shape == (3,)
    np.testing.assert_array_equal(out, labels)


@pytest.mark.parametrize("raw", [
    b"",
    b"\x01\x00\x08\x03" + b"\x00" * 12,   # first byte not zero
    b"\x00\x00\x42\x01\x00\x00\x00\x01x",  # unknown dtype code
    b"PK\x03\x04 a zip file, not IDX",
])
def test_bad_magic_is_refused(raw):
    with pytest.raises(DataCorruptError, match="magic"):
        parse_idx(raw, source="thing.idx")


@pytest.mark.parametrize("raw", [
    bytes([0, 0, 0x08, 3]) + struct.pack(">2I", 2, 28),  # declares 3 dims, holds 2
    bytes([0, 0, 0x08, 1]) + b"\x00\x00",                # half a dimension
    bytes([0, 0, 0x08, 0]),                              # zero dimensions
])
def test_truncated_header_is_refused(raw):
    with pytest.raises(DataCorruptError, match="header"):
        parse_idx(raw)


def test_truncated_or_padded_data_is_refused():
    raw = idx_bytes(random_images(2))
    with pytest.raises(DataCorruptError, match="truncated") as exc:
        parse_idx(raw[:-1], source="short.idx")
    assert "short.idx" in str(exc.value)
    with pytest.raises(DataCorruptError):
        parse_idx(raw + b"\x00")


def test_truncated_files_are_refused_by_read_idx(tmp_path):
    raw = idx_bytes(random_images(5))
    short = tmp_path / "short-idx3-ubyte"
    short.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(DataCorruptError):
        read_idx(short)

    gz = gzip.compress(raw)
    cut = tmp_path / "cut-idx3-ubyte.gz"
    cut.write_bytes(gz[: len(gz) // 2])
    with pytest.raises(DataCorruptError, match="cut-idx3-ubyte.gz"):
        read_idx(cut)

    not_gz = tmp_path / "plain-idx3-ubyte.gz"
    not_gz.write_bytes(raw)  # named .gz but not compressed
    with pytest.raises(DataCorruptError):
        read_idx(not_gz)


def test_read_idx_missing_file(tmp_path):
    with pytest.raises(DataMissingError, match="nothing.gz"):
        read_idx(tmp_path / "nothing.gz")


# --------------------------------------------------------------------------- real data

def test_load_split_real_mnist_test(data_dir):
    images, labels = load_split("mnist", "test", root=data_dir)
    assert images.shape == (10000, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (10000,) and labels.dtype == np.int64
    assert np.bincount(labels, minlength=10).tolist() == MNIST_TEST_COUNTS
    assert int(images.max()) == 255 and int(images.min()) == 0
    # The default root is VAE_DATA_DIR (set by conftest) and gives the same arrays.
    images2, labels2 = load_split(MNIST, "test")
    assert np.array_equal(images, images2) and np.array_equal(labels, labels2)


def test_load_split_rejects_unknown_split(data_dir):
    with pytest.raises(ValueError):
        load_split("mnist", "validation", root=data_dir)


def test_ensure_dataset_finds_real_data(data_dir):
    assert ensure_dataset("fashion-mnist", root=data_dir) == data_dir / "fashion-mnist"
    assert data.dataset_status(data_dir) == {"mnist": [], "fashion-mnist": []}


def test_changed_byte_fails_checksum(data_dir, tmp_path):
    root = tmp_path / "data-copy"  # fresh root: _load_split_cached is keyed on it
    shutil.copytree(data_dir / "mnist", root / "mnist")
    target = root / "mnist" / MNIST.files["test-labels"].name
    blob = bytearray(target.read_bytes())
    blob[len(blob) // 2] ^= 0x01
    target.write_bytes(bytes(blob))
    with pytest.raises(DataCorruptError, match="checksum") as exc:
        load_split("mnist", "test", root=root)
    assert target.name in str(exc.value)
    # The untouched split of the same copy still loads.
    images, _ = load_split("mnist", "train", root=root)
    assert images.shape == (60000, 28, 28)


def test_missing_files_are_named(data_dir, tmp_path):
    root = tmp_path / "partial"
    (root / "mnist").mkdir(parents=True)
    for key in ("train-images", "test-labels"):
        name = MNIST.files[key].name
        shutil.copy(data_dir / "mnist" / name, root / "mnist" / name)
    with pytest.raises(DataMissingError) as exc:
        load_split("mnist", "test", root=root)
    msg = str(exc.value)
    assert MNIST.files["test-images"].name in msg and MNIST.files["train-labels"].name in msg
    assert MNIST.files["train-images"].name not in msg
    assert str(root / "mnist") in msg
    assert isinstance(exc.value, LabError)

    with pytest.raises(DataMissingError, match="fashion-mnist"):
        ensure_dataset("fashion-mnist", root=root)


# --------------------------------------------------------------------------- download

@pytest.fixture
def refused_url() -> str:
    """A URL on a local port where nothing listens."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


def _payload(n=200_000, seed=1) -> bytes:
    return np.random.default_rng(seed).integers(0, 256, size=n, dtype=np.uint8).tobytes()


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_download_good_file(http_server, tmp_path):
    base, srv = http_server
    blob = _payload()
    (srv / "blob.bin").write_bytes(blob)
    dest = tmp_path / "out" / "blob.bin"
    calls = []
    got = download_file([base + "blob.bin"], dest, hashlib.md5(blob).hexdigest(),
                        progress=lambda done, total: calls.append((done, total)), timeout=5)
    assert got == dest
    assert dest.read_bytes() == blob
    assert md5sum(dest) == hashlib.md5(blob).hexdigest()
    assert _leftovers(dest.parent) == ["blob.bin"]  # no .part file left behind
    assert len(calls) >= 2  # 200 kB arrives in several blocks
    assert calls[-1] == (len(blob), len(blob))
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)


def test_download_wrong_checksum(http_server, tmp_path):
    base, srv = http_server
    (srv / "blob.bin").write_bytes(_payload())
    dest = tmp_path / "out" / "blob.bin"
    with pytest.raises(DownloadError, match="checksum") as exc:
        download_file([base + "blob.bin"], dest, "0" * 32, timeout=5)
    assert "blob.bin" in str(exc.value)
    assert not dest.exists()
    assert _leftovers(dest.parent) == []  # neither the target nor a .part temp file


def test_download_wrong_checksum_keeps_existing_file_untouched(http_server, tmp_path):
    base, srv = http_server
    (srv / "blob.bin").write_bytes(_payload())
    dest = tmp_path / "out" / "blob.bin"
    dest.parent.mkdir()
    dest.write_bytes(b"previous content")
    with pytest.raises(DownloadError):
        download_file([base + "blob.bin"], dest, "0" * 32, timeout=5)
    assert dest.read_bytes() == b"previous content"
    assert _leftovers(dest.parent) == ["blob.bin"]


def test_download_connection_refused(refused_url, tmp_path):
    dest = tmp_path / "out" / "file.gz"
    with pytest.raises(DownloadError) as exc:
        download_file([refused_url + "file.gz"], dest, "0" * 32, timeout=5)
    msg = str(exc.value)
    assert "offline" in msg
    assert str(dest.parent) in msg and "VAE_DATA_DIR" in msg
    assert refused_url in msg
    assert _leftovers(dest.parent) == []


def test_download_not_found_is_download_error(http_server, tmp_path):
    base, _ = http_server
    dest = tmp_path / "out" / "absent.gz"
    with pytest.raises(DownloadError, match="absent.gz"):
        download_file([base + "absent.gz"], dest, "0" * 32, timeout=5)
    assert _leftovers(dest.parent) == []


def test_download_falls_back_to_second_mirror(http_server, refused_url, tmp_path):
    base, srv = http_server
    blob = _payload(5000, seed=2)
    (srv / "f.gz").write_bytes(blob)
    dest = tmp_path / "out" / "f.gz"
    download_file([refused_url + "f.gz", base + "f.gz"], dest, hashlib.md5(blob).hexdigest(), timeout=5)
    assert dest.read_bytes() == blob
    assert _leftovers(dest.parent) == ["f.gz"]


def _fake_dataset(srv: Path) -> tuple[ImageDataset, dict[str, np.ndarray]]:
    """Four tiny gzip IDX files written to ``srv`` and an ImageDataset describing them."""
    arrays = {
        "train-images": random_images(6, seed=3),
        "train-labels": np.arange(6, dtype=np.uint8),
        "test-images": random_images(2, seed=4),
        "test-labels": np.array([9, 8], dtype=np.uint8),
    }
    files = {}
    for key, arr in arrays.items():
        name = f"fake-{key}.gz"
        blob = gzip.compress(idx_bytes(arr))
        (srv / name).write_bytes(blob)
        files[key] = DataFile(name, hashlib.md5(blob).hexdigest())
    ds = ImageDataset(key="fake", title="Fake", files=files, mirrors=("http://invalid.example/",),
                      classes=tuple(str(i) for i in range(10)), homepage="http://invalid.example/")
    return ds, arrays


def test_ensure_dataset_downloads_whole_dataset(http_server, tmp_path):
    base, srv = http_server
    ds, arrays = _fake_dataset(srv)
    root = tmp_path / "root"
    with pytest.raises(DataMissingError) as exc:
        ensure_dataset(ds, root=root)
    assert all(f.name in str(exc.value) for f in ds.files.values())

    seen = []
    folder = ensure_dataset(ds, root=root, download=True, mirrors=(base,),
                            progress=lambda name, done, total: seen.append((name, done, total)))
    assert folder == root / "fake"
    assert sorted(p.name for p in folder.iterdir()) == sorted(f.name for f in ds.files.values())
    for key, f in ds.files.items():
        assert md5sum(folder / f.name) == f.md5
        np.testing.assert_array_equal(read_idx(folder / f.name), arrays[key])
    assert {name for name, _, _ in seen} == {f.name for f in ds.files.values()}

    # Once present, nothing is downloaded again (the ds mirrors are unreachable anyway).
    assert ensure_dataset(ds, root=root, download=True) == folder


def test_ensure_dataset_download_failure_names_file(refused_url, tmp_path):
    ds, _ = _fake_dataset(tmp_path)
    with pytest.raises(DownloadError, match="fake-train-images.gz"):
        ensure_dataset(ds, root=tmp_path / "root", download=True, mirrors=(refused_url,))
