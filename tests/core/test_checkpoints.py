"""Checkpoint folders: round trip, tamper detection, atomic saves and the registry."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import vae_core.core.checkpoints as ckpt
import vae_core.core.store as store
from vae_core.audio.model import AudioConvConfig, AudioConvSeparationVAE
from vae_core.core.checkpoints import load_model, save_checkpoint
from vae_core.core.store import FORMAT, SIDECAR, list_checkpoints, read_sidecar, resolve_checkpoint, update_sidecar
from vae_core.core.errors import CheckpointError, LabError


def outputs(model, x):
    with torch.no_grad():
        return model.eval()(x).sources


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def weights_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("weights-*.safetensors"))


def edit_sidecar(folder: Path, **changes):
    meta = json.loads((folder / SIDECAR).read_text())
    meta.update(changes)
    (folder / SIDECAR).write_text(json.dumps(meta))


@pytest.fixture
def saved(tmp_path, model_factory):
    """An mlp checkpoint in ``tmp_path/"ckpt"``: ``(folder, model)``."""
    model = model_factory("mlp", seed=1)
    folder = tmp_path / "ckpt"
    save_checkpoint(folder, model, {"task": "image", "note": "hello"})
    return folder, model


def test_round_trip_gives_identical_outputs(tmp_path, kind, model_factory, mixtures):
    model = model_factory(kind, seed=3)
    folder = tmp_path / f"image-{kind}"
    sidecar = save_checkpoint(folder, model, {"task": "image", "best_epoch": 2, "history": {"loss": [1.0, 0.5]}})
    assert sidecar == folder / SIDECAR
    assert len(weights_files(folder)) == 1
    assert sorted(p.name for p in folder.iterdir()) == sorted([SIDECAR, weights_files(folder)[0].name])

    loaded, meta = load_model(folder)
    assert not loaded.training
    assert type(loaded) is type(model) and loaded.config == model.config
    assert torch.equal(outputs(loaded, mixtures), outputs(model, mixtures))
    for name, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], value), name
    assert meta["format"] == FORMAT and meta["kind"] == kind and meta["task"] == "image"
    assert meta["best_epoch"] == 2 and meta["history"] == {"loss": [1.0, 0.5]}
    assert meta["weights"] == weights_files(folder)[0].name
    assert meta["weights"].startswith("weights-" + meta["weights_sha256"][:16])


def test_nan_in_meta_is_stored_as_null(tmp_path, model_factory):
    folder = tmp_path / "c"
    save_checkpoint(folder, model_factory("mlp"), {"task": "image", "history": {"val": [float("nan"), 1.5]},
                                                   "best": float("inf")})
    meta = read_sidecar(folder)
    assert meta["history"]["val"] == [None, 1.5] and meta["best"] is None


def test_tampered_weights_are_refused(saved):
    folder, _ = saved
    w = weights_files(folder)[0]
    blob = bytearray(w.read_bytes())
    blob[-5] ^= 0x10
    w.write_bytes(bytes(blob))
    with pytest.raises(CheckpointError, match="checksum"):
        load_model(folder)


def test_missing_weights_are_refused(saved):
    folder, _ = saved
    weights_files(folder)[0].unlink()
    with pytest.raises(CheckpointError, match="missing"):
        load_model(folder)


@pytest.mark.parametrize("changes, needle", [
    ({"model_config": {"latent_dim": 7, "hidden": [32, 16]}}, "different model"),
    ({"model_config": {"latent_dim": 4, "hidden": [32, 32]}}, "different model"),
    ({"kind": "conv", "model_config": {"latent_dim": 4, "channels": [4, 6, 8], "hidden": 16}}, "different model"),
    ({"kind": "conv"}, "model description is invalid"),
    ({"kind": "gan"}, "gan"),
    ({"model_config": {"latent_dim": 4, "hidden": [32, 16], "dropout": 0.5}}, "dropout"),
    ({"model_config": {"latent_dim": 0, "hidden": [32, 16]}}, "latent_dim"),
    ({"model_config": "big"}, "model description is invalid"),
    ({"model_config": [4]}, "model description is invalid"),
    # Impossible models: refused from the description, before any weight is read or allocated (a 10^9-unit
    # layer would need terabytes).
    ({"model_config": {"latent_dim": 4, "hidden": [1_000_000_000, 16]}}, "hidden must be one to eight sizes"),
    ({"kind": "conv", "model_config": {"latent_dim": 4, "channels": [4, 6, 100_000], "hidden": 16}},
     "channels must be three numbers between 1 and 1024"),
    ({"kind": "audio-conv", "model_config": {"latent_channels": 100_000}}, "latent_channels must be between"),
    ({"model_config": {"latent_dim": "4", "hidden": [32, 16]}}, "latent_dim must be like 16, not '4'"),
    ({"model_config": {"latent_dim": 4.5, "hidden": [32, 16]}}, "latent_dim must be like 16, not 4.5"),
    ({"model_config": {"latent_dim": True, "hidden": [32, 16]}}, "latent_dim must be like 16, not True"),
    ({"model_config": {"latent_dim": 4, "hidden": [32.5, 16]}}, "hidden must be like"),
    ({"model_config": {"latent_dim": 4, "hidden": "32,16"}}, "hidden must be like"),
])
def test_sidecar_describing_another_model_is_refused(saved, changes, needle):
    folder, _ = saved
    edit_sidecar(folder, **changes)
    before = snapshot(folder)
    with pytest.raises(CheckpointError, match=needle) as exc:
        load_model(folder)
    assert folder.name in str(exc.value) and str(exc.value).endswith(".")
    assert snapshot(folder) == before  # nothing was rewritten or deleted


def test_invalid_json_is_refused(saved):
    folder, _ = saved
    (folder / SIDECAR).write_text('{"format": "vae-separation-lab/1", "kind": ')
    with pytest.raises(CheckpointError, match="not valid JSON"):
        load_model(folder)
    (folder / SIDECAR).write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(CheckpointError):
        load_model(folder)


def test_other_sidecars_are_refused(saved, tmp_path):
    folder, _ = saved
    edit_sidecar(folder, format="something-else/2")
    with pytest.raises(CheckpointError, match="format"):
        load_model(folder)
    (folder / SIDECAR).write_text("[1, 2, 3]")
    with pytest.raises(CheckpointError):
        load_model(folder)
    with pytest.raises(CheckpointError, match=SIDECAR):
        load_model(tmp_path / "empty-folder")


def test_saving_twice_keeps_one_weights_file(saved, model_factory, mixtures):
    folder, old = saved
    save_checkpoint(folder, old, {"task": "image"})  # same weights again
    assert len(weights_files(folder)) == 1
    new = model_factory("mlp", seed=2)
    save_checkpoint(folder, new, {"task": "image", "note": "second"})
    files = weights_files(folder)
    assert len(files) == 1 and files[0].name == read_sidecar(folder)["weights"]
    assert sorted(p.name for p in folder.iterdir()) == sorted([SIDECAR, files[0].name])  # no temp files
    loaded, meta = load_model(folder)
    assert meta["note"] == "second"
    assert torch.equal(outputs(loaded, mixtures), outputs(new, mixtures))
    assert not torch.equal(outputs(loaded, mixtures), outputs(old, mixtures))


def test_failed_save_keeps_previous_checkpoint(saved, model_factory, mixtures, monkeypatch):
    folder, old = saved
    expected = outputs(old, mixtures)
    sidecar_before = (folder / SIDECAR).read_bytes()

    def broken_write(path, obj):
        raise OSError("disk full")

    monkeypatch.setattr(ckpt, "atomic_write_json", broken_write)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(folder, model_factory("mlp", seed=9), {"task": "image", "note": "new"})
    assert len(weights_files(folder)) == 2  # the new weights were written before the commit point
    assert (folder / SIDECAR).read_bytes() == sidecar_before
    monkeypatch.undo()

    loaded, meta = load_model(folder)
    assert meta["note"] == "hello"
    assert torch.equal(outputs(loaded, mixtures), expected)

    # The next successful save tidies the orphaned weights away.
    save_checkpoint(folder, old, {"task": "image"})
    assert len(weights_files(folder)) == 1


def test_unserialisable_sidecar_leaves_folder_untouched(saved):
    folder, _ = saved
    before = snapshot(folder)
    with pytest.raises(ValueError):  # NaN is not valid JSON; refused before anything is written
        store.atomic_write_json(folder / SIDECAR, {"x": float("nan")})
    assert snapshot(folder) == before


def test_update_sidecar(saved):
    folder, _ = saved
    meta = update_sidecar(folder, test_metrics={"psnr": 21.5, "ssim": float("nan")})
    assert meta["test_metrics"]["psnr"] == 21.5
    stored = read_sidecar(folder)
    assert stored["test_metrics"] == {"psnr": 21.5, "ssim": None} and stored["note"] == "hello"
    load_model(folder)  # still a valid checkpoint


def test_list_checkpoints_finds_user_runs(runs_dir, model_factory):
    save_checkpoint(runs_dir / "my-run", model_factory("mlp"), {"task": "image"})
    save_checkpoint(runs_dir / "conv-run", model_factory("conv"), {"task": "image"})
    # The sidecar's task follows the model's kind, whatever the caller says.
    save_checkpoint(runs_dir / "song-run", AudioConvSeparationVAE(AudioConvConfig(channels=(2, 2, 2), latent_channels=1,
                                                                                  decoder_channels=(2, 2, 2))),
                    {"task": "image"})
    (runs_dir / "broken").mkdir()
    (runs_dir / "broken" / SIDECAR).write_text("{not json")
    (runs_dir / "not-a-checkpoint").mkdir()

    user = {c.name: c for c in list_checkpoints() if c.origin == "user"}
    assert set(user) == {"my-run", "conv-run", "song-run"}
    info = user["my-run"]
    assert info.path == runs_dir / "my-run" and info.task == "image" and info.kind == "mlp"
    assert info.label == "my-run (user)" and info.meta["format"] == FORMAT
    assert user["conv-run"].kind == "conv"
    image_only = {c.name for c in list_checkpoints("image") if c.origin == "user"}
    assert image_only == {"my-run", "conv-run"}
    origins = [c.origin for c in list_checkpoints()]
    assert origins == sorted(origins, key=lambda o: o != "shipped")  # shipped first, then user


def test_resolve_checkpoint(runs_dir, model_factory, tmp_path):
    save_checkpoint(runs_dir / "my-run", model_factory("mlp"), {"task": "image"})
    assert resolve_checkpoint("my-run") == runs_dir / "my-run"
    elsewhere = tmp_path / "elsewhere" / "x"
    save_checkpoint(elsewhere, model_factory("mlp"), {"task": "image"})
    assert resolve_checkpoint(elsewhere) == elsewhere
    assert resolve_checkpoint(str(elsewhere)) == elsewhere
    with pytest.raises(CheckpointError, match="nope") as exc:
        resolve_checkpoint("nope")
    assert "vae_core list" in str(exc.value) and "my-run" not in str(exc.value)
    assert isinstance(exc.value, LabError)
    # A near miss names the closest checkpoints, not every run there is.
    with pytest.raises(CheckpointError, match="did you mean 'my-run'") as exc:
        resolve_checkpoint("my-rnu")
    assert "image-conv" not in str(exc.value) and str(exc.value).count(".") <= 2


def test_runs_dir_is_isolated(runs_dir):
    assert store.runs_dir() == runs_dir.resolve()
    assert Path.home() not in store.runs_dir().parents


# --------------------------------------------------------------------------- sharing a run as one file

def _tiny_checkpoint(folder: Path):
    from conftest import make_model

    model = make_model("mlp")
    save_checkpoint(folder, model, {"task": "image", "name": folder.name})
    return model


def test_a_run_shared_as_one_file_imports_and_loads_the_same_model(tmp_path):
    import io
    import zipfile

    from vae_core.core.checkpoints import export_bundle, import_bundle, load_model

    from vae_core.core.store import read_sidecar

    folder = tmp_path / "teacher" / "course-model"
    original = _tiny_checkpoint(folder)
    data = export_bundle(folder)
    assert sorted(zipfile.ZipFile(io.BytesIO(data)).namelist())[0] == "checkpoint.json"
    root = tmp_path / "student-runs"
    first = import_bundle(data, root, owner="ada")
    second = import_bundle(data, root, name="Teacher's model")
    assert first.name == "course-model" and first.parent == root
    assert second.name == "teacher-s-model"
    for imported in (first, second):
        model, meta = load_model(imported)
        for a, b in zip(model.state_dict().values(), original.state_dict().values()):
            assert torch.equal(a, b)
    assert read_sidecar(first)["owner"] == "ada" and "imported" in read_sidecar(first)
    assert import_bundle(data, root).name != first.name  # never overwrites: a new name
    assert not [p for p in root.iterdir() if p.name.startswith(".import-")]  # no staging left behind


@pytest.mark.parametrize("tamper", ["weights", "sidecar-kind", "extra-member", "not-zip", "path-traversal"])
def test_a_tampered_shared_file_is_refused_with_one_sentence(tmp_path, tamper):
    import io
    import json as _json
    import zipfile

    from vae_core.core.checkpoints import export_bundle, import_bundle
    from vae_core.core.errors import CheckpointError

    folder = tmp_path / "run"
    _tiny_checkpoint(folder)
    zf = zipfile.ZipFile(io.BytesIO(export_bundle(folder)))
    members = {n: zf.read(n) for n in zf.namelist()}
    weights = next(n for n in members if n.startswith("weights-"))
    if tamper == "weights":
        blob = bytearray(members[weights])
        blob[-5] ^= 0xFF
        members[weights] = bytes(blob)
    elif tamper == "sidecar-kind":
        meta = _json.loads(members["checkpoint.json"])
        meta["kind"] = "rnn"
        members["checkpoint.json"] = _json.dumps(meta).encode()
    elif tamper == "extra-member":
        members["run.py"] = b"import os"
    elif tamper == "path-traversal":
        members["../../checkpoint.json"] = members.pop("checkpoint.json")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as out:
        for name, blob in members.items():
            out.writestr(name, blob)
    data = b"PK not a zip" if tamper == "not-zip" else buffer.getvalue()
    root = tmp_path / "runs"
    with pytest.raises(CheckpointError) as info:
        import_bundle(data, root)
    message = str(info.value)
    assert message.endswith(".") and message.count(". ") == 0, message
    assert not root.exists() or not any(root.iterdir())  # nothing half-imported
