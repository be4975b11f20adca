"""The command line, run as users run it: `python -m vae_core ...` in a subprocess."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vae_core", *args], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=600)


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("cli") / "cli-run"
    r = cli("train", "image", "--model", "mlp", "--epochs", "1", "--train-limit", "2000", "--val-limit", "200",
            "--latent-dim", "8", "--out", str(out), "--no-eval")
    assert r.returncode == 0, r.stderr
    assert "epoch 1" in r.stdout
    return out


@pytest.mark.slow
def test_train_writes_checkpoint_with_command(trained):
    meta = json.loads((trained / "checkpoint.json").read_text())
    assert meta["command"].startswith("python -m vae_core train image --model mlp")
    assert meta["train_config"]["train_limit"] == 2000
    assert len(list(trained.glob("weights-*.safetensors"))) == 1


@pytest.mark.slow
def test_eval_json(trained):
    r = cli("eval", str(trained), "--json", "--limit", "300")
    assert r.returncode == 0, r.stderr
    m = json.loads(r.stdout.strip().splitlines()[-1])
    assert m["n"] == 300
    assert m["projected"]["psnr_mean"] > m["mixture_baseline"]["psnr_mean"]


@pytest.mark.slow
def test_bench_prints_table_and_writes_json(trained, tmp_path):
    out = tmp_path / "bench.json"
    r = cli("bench", "image", "--checkpoints", str(trained), "--limit", "300", "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert f"Wrote {out}" in r.stdout
    assert "default" in r.stdout and "refinement steps" in r.stdout and "mixture" in r.stdout
    report = json.loads(out.read_text())
    (entry,) = report["models"].values()
    assert entry["train_samples_per_s"] > 0 and entry["latency"]["median_ms"] > 0
    # The fields the README quotes: every estimate, the default one above the mixture, and the latency spread.
    metrics = entry["metrics"]
    assert metrics["refine_steps"] > 0 and {"p95_ms", "first_call_ms"} <= set(entry["latency"])
    for key in ("raw", "projected", "split", "refined_raw", "refined_projected", "refined_split"):
        assert metrics[key]["psnr_mean"] > 0 and 0 < metrics[key]["ssim_mean"] <= 1
    assert metrics["refined_split"]["psnr_mean"] > report["mixture_baseline"]["psnr_mean"]


def test_bench_writes_a_file_only_where_told(tmp_path):
    """Without --out nothing is written into the working folder; --json prints the report as the last line."""
    r = subprocess.run([sys.executable, "-m", "vae_core", "bench", "latent", "--checkpoints", "image-mlp", "--json"],
                       cwd=tmp_path, capture_output=True, text=True, timeout=600,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert r.returncode == 0, r.stderr
    assert list(tmp_path.iterdir()) == []
    report = json.loads(r.stdout.strip().splitlines()[-1])
    assert report["models"]["image-mlp"]["slider_move_ms"] > 0


@pytest.mark.parametrize("args, words", [
    (("eval", "no-such-model"), "No checkpoint called"),
    (("train", "image", "--beta", "-1"), "β (beta) must be"),
    (("train", "image", "--epochs", "0"), "epochs must be"),
    (("tune", "audio", "image-mlp"), "image-mlp is an image checkpoint, but tune audio needs an audio checkpoint"),
    (("eval", "audio-conv", "--weight", "0.3"), "--weight do(es) not apply to audio-conv"),
    (("eval", "image-mpl"), "did you mean 'image-mlp'"),
    (("bench", "audio", "--checkpoints", "image-mlp"), "image-mlp is an image checkpoint, but bench audio needs"),
    (("bench", "image", "--checkpoints", "audio-conv"), "audio-conv is an audio checkpoint, but bench image needs"),
])
def test_bad_input_gives_one_sentence_not_a_traceback(args, words):
    r = cli(*args)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and words in lines[0]


def test_missing_data_says_which_files_and_where(tmp_path):
    r = cli("train", "image", "--model", "mlp", "--epochs", "1", "--no-download", "--out", str(tmp_path / "x"),
            env={"VAE_DATA_DIR": str(tmp_path / "empty")})
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "train-images-idx3-ubyte.gz" in r.stderr and str(tmp_path / "empty") in r.stderr
    assert "data download" in r.stderr
    assert not (tmp_path / "x").exists()
    r = cli("data", "status", env={"VAE_DATA_DIR": str(tmp_path / "empty")})
    assert r.returncode == 0 and "missing" in r.stdout


@pytest.mark.slow
def test_list_shows_checkpoints(trained):
    r = cli("list", env={"VAE_RUNS_DIR": str(trained.parent)})
    assert r.returncode == 0 and "cli-run" in r.stdout and "user" in r.stdout


@pytest.mark.parametrize("args, words", [
    (("eval", "x", "--limit", "0"), "must be at least 1"),
    (("train", "image", "--train-limit", "-5"), "must be at least 1"),
])
def test_out_of_range_numbers_are_refused_by_the_parser(args, words):
    r = cli(*args)
    assert r.returncode == 2 and words in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize("args, words", [
    (("train", "image", "--speeds", "1.1"), "unrecognized arguments: --speeds 1.1"),
    (("train", "audio", "--noise", "0.3"), "unrecognized arguments: --noise 0.3"),
    (("train", "audio", "--model", "conv"), "unrecognized arguments: --model conv"),
    (("train", "image", "--model", "mlp", "--channels", "4,8,16"), "--channels applies to --model conv only"),
])
def test_each_task_takes_only_its_own_flags(args, words):
    """A flag of another task is an error, not silently dropped."""
    r = cli(*args)
    assert r.returncode == 2 and words in r.stderr and "Traceback" not in r.stderr


def test_unwritable_output_folder_is_one_sentence(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    r = cli("train", "image", "--model", "mlp", "--epochs", "1", "--train-limit", "500", "--val-limit", "50",
            "--out", str(blocker / "run"), "--no-eval")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert lines[-1].startswith("error: ") and str(blocker) in lines[-1]


def test_export_then_import_a_run_and_refuse_a_damaged_file(tmp_path, monkeypatch, capsys):
    from vae_core.core.cli import main

    monkeypatch.setenv("VAE_RUNS_DIR", str(tmp_path / "runs"))
    bundle = tmp_path / "shared.vaelab.zip"
    assert main(["export", "image-mlp", "--out", str(bundle)]) == 0
    assert bundle.is_file() and "Wrote" in capsys.readouterr().out
    assert main(["import", str(bundle), "--name", "From the teacher"]) == 0
    assert "Imported as from-the-teacher" in capsys.readouterr().out
    assert main(["eval", "from-the-teacher", "--limit", "20", "--json"]) == 0  # a working checkpoint
    damaged = tmp_path / "damaged.vaelab.zip"
    damaged.write_bytes(bundle.read_bytes()[:-100])
    assert main(["import", str(damaged)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.strip().endswith(".") and "Traceback" not in err
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["from-the-teacher"]
