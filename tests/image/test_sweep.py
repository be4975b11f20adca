"""The sweep command on a tiny configuration, and the posterior-collapse detector on known cases."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors import safe_open

from vae_core import load_checkpoint
from vae_core.core.checkpoints import load_model
from vae_core.core.store import list_checkpoints
from vae_core.image.evaluation import evaluate_separator
from vae_core.image.latents import collapse_report, summarize
from vae_core.core.models import build_model
from vae_core.image.inference import ImageSeparator

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def tiny_sweep(tmp_path_factory) -> Path:
    runs = tmp_path_factory.mktemp("sweep-runs")
    r = subprocess.run([sys.executable, "-m", "vae_core", "sweep", "image", "--betas", "0,100", "--latents", "2,4",
                        "--hidden", "32", "--epochs", "1", "--train-limit", "6000", "--val-limit", "100",
                        "--eval-limit", "1000", "--name", "tiny-sweep"], cwd=ROOT, capture_output=True, text=True, timeout=600,
                       env={**os.environ, "VAE_RUNS_DIR": str(runs)})
    assert r.returncode == 0, r.stderr
    assert r.stdout.count(" dB ") == 4  # one line per run
    return runs


@pytest.mark.slow
def test_sweep_writes_one_checkpoint_per_combination(tiny_sweep, monkeypatch):
    folders = sorted(p.name for p in (tiny_sweep / "tiny-sweep").iterdir())
    assert folders == ["beta0-z2", "beta0-z4", "beta100-z2", "beta100-z4"]
    meta = json.loads((tiny_sweep / "tiny-sweep" / "beta100-z4" / "checkpoint.json").read_text())
    assert meta["sweep"] == "tiny-sweep" and meta["train_config"]["beta"] == 100
    assert meta["model_config"]["latent_dim"] == 4 and meta["command"].startswith("python -m vae_core sweep")
    assert {"history", "test_metrics", "latent_stats"} <= set(meta)
    assert len(meta["latent_stats"]["kl_per_dim"][0]) == 4
    # Stored in half precision, loaded back as float32.
    weights = tiny_sweep / "tiny-sweep" / "beta100-z4" / meta["weights"]
    with safe_open(str(weights), "pt") as f:
        assert f.get_tensor(next(iter(f.keys()))).dtype == torch.float16
    model, _ = load_model(weights.parent)
    assert next(model.parameters()).dtype == torch.float32
    # The stored scores are those of the weights on disk (float16), not of the float32 model before saving.
    stored = meta["test_metrics"]["projected"]
    assert meta["test_metrics"]["n"] == 1000  # --eval-limit
    again = evaluate_separator(ImageSeparator(model, meta, weights.parent), limit=1000)["projected"]
    assert again == stored
    # Listed as "group/run" and loadable by that name.
    monkeypatch.setenv("VAE_RUNS_DIR", str(tiny_sweep))
    names = [c.name for c in list_checkpoints("image") if c.origin == "user"]
    assert "tiny-sweep/beta0-z2" in names
    assert load_checkpoint("tiny-sweep/beta0-z2").latent_dim == 2


@pytest.mark.slow
def test_large_beta_collapses_and_beta_zero_does_not(tiny_sweep):
    def stats(name):
        return json.loads((tiny_sweep / "tiny-sweep" / name / "checkpoint.json").read_text())["latent_stats"]

    assert stats("beta100-z4")["collapse"]["clothing"]["collapsed"]
    assert stats("beta100-z4")["active_units"] == [0, 0]
    assert not stats("beta0-z4")["collapse"]["digit"]["collapsed"]
    assert sum(stats("beta0-z4")["active_units"]) >= 4


def test_detector_flags_a_model_that_ignores_its_latent():
    torch.manual_seed(0)
    model = build_model("mlp", {"latent_dim": 4, "hidden": [32]}).eval()
    with torch.no_grad():  # q(z|x) = N(0, I) whatever x: the posterior is the prior
        model.heads.weight.zero_()
        model.heads.bias.zero_()
    sep = ImageSeparator(model, {})
    report = collapse_report(sep, summarize(sep, n=300))
    for source in ("digit", "clothing"):
        r = report[source]
        assert r["collapsed"] and r["kl_nats"] < 1e-6 and r["active_units"] == 0 and r["output_spread"] < 1e-6
        assert len(r["reasons"]) == 3


def test_detector_passes_a_healthy_trained_model():
    sep = load_checkpoint("image-mlp")
    report = collapse_report(sep, summarize(sep, n=500))
    for source in ("digit", "clothing"):
        r = report[source]
        assert not r["collapsed"], r
        assert r["kl_nats"] > 5 and r["active_units"] >= 5 and r["output_spread"] > 0.1


# --------------------------------------------------------------------------- the β lab page on the tiny sweep

@pytest.fixture
def beta_lab(tiny_sweep, monkeypatch):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("VAE_RUNS_DIR", str(tiny_sweep))
    at = AppTest.from_file(str(ROOT / "pages/beta-lab.py"), default_timeout=60).run()
    assert not at.exception, [e.value for e in at.exception]
    at.selectbox(key="bl_group").set_value("sweep: tiny-sweep").run()
    at.multiselect(key="bl_latents").set_value([2, 4]).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _charts(at) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


@pytest.mark.slow
def test_beta_lab_curves_have_one_trace_per_run_term_and_split(beta_lab):
    curves, summary = _charts(beta_lab)
    runs = [t for t in curves["data"] if t.get("hoverinfo") != "skip"]
    key = [t["name"] for t in curves["data"] if t.get("hoverinfo") == "skip"]
    names = [t["name"] for t in runs]
    assert len(runs) == 4 * 3 * 2  # runs x (recon, KL, total) x (train, validation)
    # The legend is a key, not a list of runs: colour = β, marker = latent size, dash = split.
    assert key == ["β = 0", "β = 100", "latent 2", "latent 4", "train", "validation"]
    assert not any(t.get("showlegend") for t in runs)
    by_beta = {t["name"].split(",")[0]: t["line"]["color"] for t in runs}
    assert len(set(by_beta.values())) == 2
    assert {n.rsplit(" · ", 1)[1] for n in names} == {"train", "val"}
    assert len({n.rsplit(" · ", 1)[0] for n in names}) == 4
    assert len(summary["data"]) == 2 * 3  # one line per latent size in each of the three panels


@pytest.mark.slow
def test_beta_lab_log_toggle_switches_the_axes(beta_lab):
    assert _charts(beta_lab)[0]["layout"]["yaxis"].get("type") == "log"
    beta_lab.toggle(key="bl_log").set_value(False).run()
    assert _charts(beta_lab)[0]["layout"]["yaxis"].get("type") != "log"


@pytest.mark.slow
def test_beta_lab_flags_the_collapsed_runs(beta_lab):
    (table,) = beta_lab.dataframe
    df = table.value
    assert len(df) == 4
    verdicts = dict(zip(df["run"], df["posterior collapse"]))
    assert verdicts["β=0, z=4"] == "no" and verdicts["β=100, z=4"] != "no"
    assert any("2 of 4 runs" in w.value for w in beta_lab.warning)
    assert any("KL annealing" in m.value and "free bits" in m.value for m in beta_lab.markdown)
    assert len(beta_lab.get("image")) == 1 + 4  # the inputs, then each run's decoders


@pytest.mark.slow
def test_beta_lab_grid_has_beta_across_latent_size_down_and_a_verdict_per_cell(beta_lab):
    """The compact grid: one header per β, one row per latent size, each cell's picture and collapse verdict."""
    marks = [m.value for m in beta_lab.markdown]
    assert [m for m in marks if m.startswith("**β = ")] == ["**β = 0**", "**β = 100**"]
    assert [m for m in marks if m in ("**2**", "**4**")] == ["**2**", "**4**"]
    verdicts = [c.value for c in beta_lab.caption if "KL" in c.value and "nats" in c.value]
    assert len(verdicts) == 4
    assert sum(v.startswith("**collapsed**") for v in verdicts) == 2  # β = 100, both latent sizes


@pytest.mark.slow
def test_beta_lab_shows_only_the_chosen_betas_and_wraps_them_on_a_projector(beta_lab):
    """The β filter drops runs from every tab; in projector mode the grid puts at most four βs side by side."""
    assert beta_lab.multiselect(key="bl_betas").value == [0.0, 100.0]
    beta_lab.multiselect(key="bl_betas").set_value([100.0]).run()
    assert not beta_lab.exception
    (table,) = beta_lab.dataframe
    assert sorted(table.value["run"]) == ["β=100, z=2", "β=100, z=4"]
    assert len(beta_lab.get("image")) == 1 + 2
    headers = [m.value for m in beta_lab.markdown if m.value.startswith("**β = ")]
    assert headers == ["**β = 100**"]


@pytest.mark.slow
def test_beta_lab_grid_blocks_of_four_betas_on_a_projector():
    """The shipped sweep's seven βs on a projector: two blocks (four βs, then three), each with its header row."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "pages/beta-lab.py"), default_timeout=120)
    at.session_state["projector"] = True
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    betas = at.multiselect(key="bl_betas").value
    assert len(betas) > 4
    headers = [m.value for m in at.markdown if m.value.startswith("**β = ")]
    assert headers == [f"**β = {b:g}**" for b in betas]
    assert sum(m.value == "**latent size**" for m in at.markdown) == -(-len(betas) // 4)
