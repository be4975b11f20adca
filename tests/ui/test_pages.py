"""The Streamlit pages, run headless with streamlit.testing.v1.AppTest (no browser, no server).

AppTest runs the scripts in this process, so st.cache_resource and vae_core.image.data's lru_cache survive
between runs; tests that change the environment clear them (clear_app_caches).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from vae_core.audio.task import EMA_DECAY, PERTURBED_SPEEDS, WIDE_CONTEXT
from ui.app_fixtures import (REPO, app_env, app_runs_dir, clear_app_caches, image_checkpoint, open_page,  # noqa: F401
                          save_tiny_checkpoint)

TIMEOUT = 60
METRICS = ["Digit PSNR", "Clothing PSNR", "Digit SSIM", "Clothing SSIM"]


def run_page(page: str, **query: str) -> AppTest:
    """Run ``page`` as a browser opening it with ``query`` in its address would."""
    return open_page(page, query, TIMEOUT)


def metric_values(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def view_images(at: AppTest) -> list:
    """The images of the page's chosen view ("One mixture" or "Batch"): all but the prior samples."""
    prior = [tuple(img.value) for e in at.expander for img in e.get("image")]
    return [img for img in at.get("image") if tuple(img.value) not in prior]


def single_images(at: AppTest) -> list[str]:
    """URLs (content-addressed) of the images in the 'One mixture' view."""
    return [url for img in view_images(at) for url in img.value]


def scores_table(at: AppTest) -> list[dict[str, str]]:
    """The page's Markdown table of test-set scores, one dict per row (header -> cell text)."""
    (text,) = [m.value for m in at.markdown if m.value.startswith("| estimate |")]
    header, _, *body = [[cell.strip() for cell in line.strip("|").split(" | ")] for line in text.splitlines()]
    return [dict(zip(header, row, strict=True)) for row in body]


def single_captions(at: AppTest) -> list[str]:
    return [c for img in view_images(at) for c in img.captions]


def prior_image(at: AppTest) -> list[str]:
    (expander,) = [e for e in at.expander if e.label == "Generate from the prior"]
    (img,) = expander.get("image")
    return img.value


@pytest.fixture(autouse=True)
def _app_env(app_env):  # noqa: F811
    """Every test here sees the app tests' runs folder (with a checkpoint) as VAE_RUNS_DIR."""


@pytest.fixture
def image_page():
    return run_page("pages/image-separation.py")


# --------------------------------------------------------------------------- app shell and home


def test_app_runs_and_shows_home_page():
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=TIMEOUT).run()
    assert not at.exception, [e.value for e in at.exception]
    assert [t.value for t in at.title] == ["VAE Separation Lab"]


def test_app_navigates_to_image_page():
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=TIMEOUT).run()
    at.switch_page("pages/image-separation.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert [t.value for t in at.title] == ["Image separation"]
    assert [m.label for m in at.metric] == METRICS


def test_home_page_shows_diagram_and_dataset_status():
    from vae_core.core.data import data_root
    from vae_core.image.data import dataset_status

    at = run_page("pages/home.py")
    assert at.title[0].value == "VAE Separation Lab"
    (chart,) = at.get("graphviz_chart")
    assert "encoder" in chart.proto.spec
    assert not any(dataset_status().values()), f"the tests need the datasets in {data_root()}"
    assert len(at.success) == 1 and "Datasets found" in at.success[0].value
    assert not at.warning


def test_home_page_and_app_shell_load_no_torch():
    """A cold server draws Home before torch is imported (cold start ≤ 3 s); the shell then imports it and the
    other heavy libraries in the background for the next page. Run in a fresh interpreter: this one has torch
    loaded."""
    script = f"""
import sys, threading
from streamlit.testing.v1 import AppTest
import lab_ui.shell, lab_ui.state  # what app.py imports
at = AppTest.from_file({str(REPO / "pages" / "home.py")!r}, default_timeout=60).run()
assert not at.exception, [e.value for e in at.exception]
assert at.title[0].value == "VAE Separation Lab" and at.success, "Home was not drawn"
drawn_without_torch = "torch" not in sys.modules
lab_ui.shell.warm_up()
lab_ui.shell.warm_up()  # once per process
warmers = [t for t in threading.enumerate() if t.name == "warm-up"]
for t in warmers:
    t.join(120)
print(drawn_without_torch, len(warmers), all(m in sys.modules for m in lab_ui.shell.WARM_MODULES))
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, timeout=300,
                         env={**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])})
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["True", "1", "True"]


def test_home_page_warns_when_datasets_are_missing(tmp_path, monkeypatch):
    monkeypatch.setenv("VAE_DATA_DIR", str(tmp_path))
    at = run_page("pages/home.py")
    assert len(at.warning) == 1
    assert "t10k-images-idx3-ubyte.gz" in at.warning[0].value and "vae_core data download" in at.warning[0].value
    assert not at.success


# --------------------------------------------------------------------------- image separation page


def test_image_page_shows_separation(image_page, image_checkpoint):  # noqa: F811
    at = image_page
    assert at.title[0].value == "Image separation"
    assert not at.error
    assert at.sidebar.selectbox(key="checkpoint_select").value == image_checkpoint.label
    assert at.radio(key="view").options == ["One mixture", "Batch"] and at.radio(key="view").value == "One mixture"
    captions = single_captions(at)
    assert captions[:4] == ["mixture (input)", "separated digit", "separated clothing", "re-mixed reconstruction"]
    assert captions[4] == "true digit: 3" and captions[5].startswith("true clothing: ")  # default class picks
    assert len(set(single_images(at))) >= 5  # distinct pictures (truth and estimate can't all coincide)
    values = metric_values(at)
    assert list(values) == METRICS
    for label in METRICS[:2]:
        assert values[label].endswith(" dB") and float(values[label].split()[0]) > 0
    for label in METRICS[2:]:
        assert -1 <= float(values[label]) <= 1
    assert "vs mixture" in at.metric[0].delta
    # Stored metrics: the table when the checkpoint has them, else a hint how to compute them.
    if image_checkpoint.meta.get("test_metrics"):
        table = scores_table(at)
        assert len(table) == 6  # four estimates with and without refinement, baseline
        assert not at.table and not at.dataframe  # text: no Arrow reader for the browser to fetch
        stored = image_checkpoint.meta["test_metrics"]["refined_split"]
        assert table[0]["PSNR mean (dB)"] == f"{stored['psnr_mean']:.2f}"
    else:
        assert any("vae_core eval" in i.value for i in at.info)


def test_markdown_table_formats_numbers_escapes_bars_and_marks_missing_cells():
    from lab_ui.common import markdown_table

    text = markdown_table([{"name": "a|b", "x": 1.23456, "y": None}, {"name": "c", "x": 2, "y": 3}], {"x": "{:.2f}"})
    assert text.splitlines() == ["| name | x | y |", "|:---|---:|---:|", "| a\\|b | 1.23 | – |", "| c | 2.00 | 3 |"]
    assert markdown_table([]) == ""


@pytest.mark.parametrize("key, value", [("weight", 0.3), ("noise", 0.2)])
def test_mixing_sliders_change_psnr(image_page, key, value):
    at = image_page
    before, images_before = metric_values(at), single_images(at)
    at.slider(key=key).set_value(value).run()
    assert not at.exception, [e.value for e in at.exception]
    after = metric_values(at)
    assert (after["Digit PSNR"], after["Clothing PSNR"]) != (before["Digit PSNR"], before["Clothing PSNR"])
    assert single_images(at)[0] != images_before[0]  # the mixture itself changed


def test_digit_index_mode_changes_outputs(image_page):
    at = image_page
    at.radio(key="digit_mode").set_value("index").run()
    assert not at.exception, [e.value for e in at.exception]
    first_images, first_metrics = single_images(at), metric_values(at)
    assert at.number_input(key="digit_index").value == 0
    at.number_input(key="digit_index").set_value(7).run()
    assert not at.exception, [e.value for e in at.exception]
    from vae_core.image.demo import load_test_images

    label = int(load_test_images().digit_labels[7])
    assert single_captions(at)[4] == f"true digit: {label}"
    images = single_images(at)
    assert images[0] != first_images[0] and images[4] != first_images[4]  # mixture and true digit
    assert metric_values(at) != first_metrics


def test_batch_tab_renders_grid(image_page):
    at = image_page
    at.radio(key="view").set_value("Batch").run()
    (img,) = view_images(at)
    first = img.value
    assert len(first) == 1
    (caption,) = [c.value for c in at.caption if c.value.startswith("Columns")]
    assert "reconstruction" in caption and "true digit" in caption
    assert not at.metric  # the single-mixture view is not computed behind it
    at.button(key="batch_new").click().run()
    assert not at.exception, [e.value for e in at.exception]
    (img,) = view_images(at)
    assert img.value != first


def test_the_prior_is_drawn_only_while_its_box_is_open(image_page):
    """Closed (the default with data), the box holds nothing: no model is loaded and no samples are drawn for it."""
    (expander,) = [e for e in image_page.expander if e.label == "Generate from the prior"]
    assert not expander.get("image") and "prior_model" not in [r.key for r in image_page.radio]


def test_sample_again_changes_prior_samples():
    at = open_page("pages/image-separation.py", {"prior_open": "true"})
    first = prior_image(at)
    assert len(first) == 1
    at.button(key="prior_new").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert prior_image(at) != first


def test_stored_metrics_table(tmp_path, monkeypatch):
    """A checkpoint with evaluated test metrics shows them as a table, the app's default setting first."""
    from vae_core import load_checkpoint
    from vae_core.core.store import update_sidecar
    from vae_core.image.evaluation import evaluate_separator

    folder = tmp_path / "tiny-scored"
    save_tiny_checkpoint(folder)
    metrics = evaluate_separator(load_checkpoint(folder), limit=20)
    update_sidecar(folder, test_metrics=metrics)
    monkeypatch.setenv("VAE_RUNS_DIR", str(tmp_path))

    at = AppTest.from_file(str(REPO / "pages/image-separation.py"), default_timeout=TIMEOUT).run()
    at.sidebar.selectbox(key="checkpoint_select").set_value("tiny-scored (user)").run()
    assert not at.exception, [e.value for e in at.exception]
    assert "test PSNR" in at.sidebar.caption[0].value
    table = scores_table(at)
    assert [row["estimate"] for row in table] == [
        "default: refined latents, split", "encoder's guess, split", "encoder's guess, residual added back",
        "refined latents, raw decoders", "encoder's guess, raw decoders", "mixture as estimate (baseline)"]
    assert table[0]["PSNR mean (dB)"] == f"{metrics['refined_split']['psnr_mean']:.2f}"
    assert table[5]["PSNR mean (dB)"] == f"{metrics['mixture_baseline']['psnr_mean']:.2f}"
    assert table[5]["SSIM mean"] == f"{metrics['mixture_baseline']['ssim_mean']:.3f}"
    assert any("20 official test mixtures" in c.value for c in at.caption)


def test_image_page_without_datasets(tmp_path, monkeypatch):
    """Missing data: one error naming the files, no exception, and prior sampling still works."""
    clear_app_caches()
    try:
        with monkeypatch.context() as mp:
            mp.setenv("VAE_DATA_DIR", str(tmp_path))
            at = run_page("pages/image-separation.py")
            assert len(at.error) == 1
            message = at.error[0].value
            assert "t10k-images-idx3-ubyte.gz" in message and str(tmp_path) in message
            assert [r.key for r in at.radio] == ["prior_model"] and not at.metric  # only the prior's controls
            (expander,) = at.expander
            assert expander.label == "Generate from the prior"
            first = prior_image(at)
            at.button(key="prior_new").click().run()
            assert not at.exception, [e.value for e in at.exception]
            assert prior_image(at) != first
            # The checkpoint above draws its own samples on request.
            at.radio(key="prior_model").set_value("chosen").run()
            assert prior_image(at) not in (first, None) and not at.exception
    finally:
        clear_app_caches()  # later tests load the real test sets again


# --------------------------------------------------------------------------- train page

TRAIN_PAGE = "pages/train.py"
JOB_WAIT_S = 60
TINY_JOB = dict(model="mlp", model_config={"latent_dim": 4, "hidden": [32]}, epochs=2, batch_size=64,
                train_limit=640, val_limit=100)
LONG_JOB = dict(TINY_JOB, epochs=50, train_limit=2000, lr_schedule="constant")  # runs until stopped


@pytest.fixture
def train_runs(tmp_path, monkeypatch):
    """A runs folder of the test's own (its runs never reach the other tests' pickers), finished runs scored on
    200 test mixtures (all 10,000 take minutes on 2 cores). On teardown every job of the page's runner is
    stopped and its worker process waited for."""
    import streamlit as st

    from lab_ui.common import job_runner

    root = tmp_path / "train-runs"
    monkeypatch.setenv("VAE_RUNS_DIR", str(root))
    monkeypatch.setenv("VAE_JOB_EVAL_LIMIT", "200")
    yield root
    runner = job_runner()  # the page's runner (cached per runs folder, which is still set here)
    runner.close(stop_jobs=True, timeout=JOB_WAIT_S)
    assert not runner._live, "a worker process did not end"
    st.cache_resource.clear()
    st.cache_data.clear()


WHO = "ada"  # the student the train page tests are


def submit_job(owner: str = WHO, **config):
    """Start a job the way another session of ``owner`` would: through the server's shared runner."""
    from lab_ui.common import job_runner
    from vae_core.image.task import TrainConfig

    runner = job_runner()
    return runner, runner.submit(TrainConfig(**config), owner=owner)


def wait_for(predicate, what: str):
    import time

    deadline = time.monotonic() + JOB_WAIT_S
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def watched_header(at: AppTest) -> str:
    return next(m.value for m in at.markdown if " · " in m.value)


def test_train_page_renders_presets(train_runs):
    at = run_page(TRAIN_PAGE, who=WHO)
    assert [t.value for t in at.title] == ["Train"]
    assert at.radio(key="train_preset").value == "quick"
    assert at.radio(key="train_preset").options == ["quick (≈ 1 min)", "full (≈ 10 min)"]
    assert at.radio(key="train_model_quick").value == "mlp"
    assert at.slider(key="train_latent_quick").value == 16
    assert at.number_input(key="train_epochs_quick").value == 4
    assert at.number_input(key="train_budget_quick").value == 150
    assert at.select_slider(key="train_beta_quick").value == 1.0
    assert any("No runs of yours yet (ada)" in i.value for i in at.info)

    at.radio(key="train_preset").set_value("full").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.radio(key="train_model_full").value == "conv"
    assert at.slider(key="train_latent_full").value == 64
    assert at.number_input(key="train_epochs_full").value == 10
    assert at.number_input(key="train_budget_full").value == 900
    assert at.select_slider(key="train_beta_full").value == 0.05


def test_train_page_shows_a_running_job_and_stops_it(train_runs):
    runner, job_id = submit_job(**LONG_JOB)
    wait_for(lambda: runner.get(job_id).history.get("epoch"), "the first epoch")  # a best model exists
    at = run_page(TRAIN_PAGE, who=WHO)
    assert at.selectbox(key="train_watch").value == job_id
    assert watched_header(at).endswith(" · running")
    (bar,) = at.get("progress")
    assert 0 <= bar.value < 100 and "epoch" in bar.text and "ETA" in bar.text
    assert at.get("plotly_chart")

    at.button(key=f"stop_{job_id}").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert runner.wait(job_id, timeout=JOB_WAIT_S).status == "stopped"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert watched_header(at).endswith(" · stopped")
    assert [w.value for w in at.warning] == ["Stopped; the best model so far was kept."]
    assert not at.get("progress") and not [b for b in at.button if b.key == f"stop_{job_id}"]


def test_train_page_pauses_steps_changes_beta_and_resumes_a_run(train_runs):
    """The live controls: Pause holds the run (the bar says so), Step one epoch runs to the epoch's end and pauses
    again, Apply β marks the change on the curves, Resume lets it go on (a real worker process throughout)."""
    import json as _json

    runner, job_id = submit_job(**LONG_JOB)
    wait_for(lambda: runner.get(job_id).phase == "training", "the first steps")
    at = run_page(TRAIN_PAGE, who=WHO)
    at.button(key=f"pause_{job_id}").click().run()
    assert not at.exception and not at.error, [e.value for e in at.exception] + [e.value for e in at.error]
    wait_for(lambda: runner.get(job_id).phase == "paused", "the pause")
    held = runner.get(job_id).epoch
    at.run()
    (bar,) = at.get("progress")
    assert bar.text.startswith("Paused at epoch")
    assert {b.key for b in at.button} >= {f"resume_{job_id}", f"step_{job_id}", f"stop_{job_id}"}

    at.number_input(key=f"new_beta_{job_id}").set_value(4.0).run()
    at.button(key=f"apply_beta_{job_id}").click().run()
    at.button(key=f"step_{job_id}").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    wait_for(lambda: runner.get(job_id).phase == "paused" and runner.get(job_id).epoch > held, "one more epoch")
    stepped = runner.get(job_id)
    assert stepped.epoch == float(len(stepped.history["epoch"])) and stepped.history["changes"][0]["beta"] == 4.0
    at.run()
    figure = _json.loads(at.get("plotly_chart")[0].proto.spec)
    assert any(a.get("text") == "β → 4" for a in figure["layout"].get("annotations", []))

    at.button(key=f"resume_{job_id}").click().run()
    wait_for(lambda: runner.get(job_id).phase == "training" and runner.get(job_id).epoch > stepped.epoch, "resumed")
    at.run()
    assert {b.key for b in at.button} >= {f"pause_{job_id}", f"stop_{job_id}"}
    runner.stop(job_id)
    assert runner.wait(job_id, timeout=JOB_WAIT_S).history["beta"][-1] == 4.0


def test_a_twin_run_differs_in_one_setting_and_both_are_watched_side_by_side(train_runs):
    """Start with "Also start a twin run": two runs whose configs differ only in β; both finish; the page shows them
    side by side (status and picture each) with one figure of both runs' curves."""
    import json as _json

    from lab_ui.common import job_runner

    at = run_page(TRAIN_PAGE, who=WHO)
    at.number_input(key="train_epochs_quick").set_value(1).run()
    at.toggle(key="train_twin").set_value(True).run()
    at.selectbox(key="train_twin_field").set_value("beta").run()
    at.number_input(key="train_twin_beta").set_value(4.0).run()
    at.button(key="train_start").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    runner = job_runner()
    pair = at.session_state["train_pair"]
    first, twin = (runner.wait(job_id, timeout=JOB_WAIT_S * 3) for job_id in pair)
    assert first.status == twin.status == "done"
    differs = {k for k in first.config if first.config[k] != twin.config[k]}
    assert differs == {"beta"} and (first.config["beta"], twin.config["beta"]) == (1.0, 4.0)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert "Side by side" in [h.value for h in at.subheader]
    marks = [m.value for m in at.markdown]
    assert "**β 1** · done" in marks and "**β 4** · done" in marks
    figure = _json.loads(next(c for c in at.get("plotly_chart") if "pair_curves" in c.proto.id).proto.spec)
    assert {t["name"].split(" · ")[0] for t in figure["data"]} == {"β 1", "β 4"}


def test_two_sessions_watch_a_run_in_its_own_process_and_one_stops_it(train_runs):
    import os

    runner, job_id = submit_job(**LONG_JOB)
    wait_for(lambda: runner.get(job_id).history.get("epoch"), "the first epoch")
    assert runner.get(job_id).pid not in (None, os.getpid())  # training is not in the server's process
    first, second = run_page(TRAIN_PAGE, who=WHO), run_page(TRAIN_PAGE, who=WHO)
    for at in (first, second):
        assert watched_header(at).endswith(" · running")
    before = runner.get(job_id).epoch
    wait_for(lambda: runner.get(job_id).epoch > before, "training to go on while both watch")
    first.run()
    second.button(key=f"stop_{job_id}").click().run()
    assert runner.wait(job_id, timeout=JOB_WAIT_S).status == "stopped"
    first.run()
    assert watched_header(first).endswith(" · stopped")
    assert [w.value for w in first.warning] == ["Stopped; the best model so far was kept."]
    # Another student sees none of it, until asking for the whole class's runs (the teacher's view).
    other = run_page(TRAIN_PAGE, who="bob")
    assert any("No runs of yours yet (bob)" in i.value for i in other.info)
    other.toggle(key="train_everyone").set_value(True).run()
    (table,) = other.dataframe
    assert list(table.value["student"]) == [WHO] and list(table.value["status"]) == ["stopped"]


def test_finished_run_joins_the_checkpoint_picker(train_runs):
    runner, job_id = submit_job(**TINY_JOB)
    job = runner.wait(job_id, timeout=JOB_WAIT_S)
    assert job.status == "done"
    at = run_page(TRAIN_PAGE, who=WHO)
    assert watched_header(at) == f"**{job.name}** · done"
    (success,) = at.success
    assert "Finished in" in success.value and job.name in success.value
    (table,) = at.dataframe
    assert list(table.value["status"]) == ["done"] and list(table.value["epochs"]) == ["2.00 of 2"]
    assert list(table.value["student"]) == [WHO]

    assert [b.label for b in at.get("download_button")] == ["Download this model"]
    image = run_page("pages/image-separation.py", who=WHO)
    # The student's own run comes first in every picker, with its status; other students see it as a user run.
    assert image.sidebar.selectbox(key="checkpoint_select").options[0] == f"{job.name} (yours, done)"
    other = run_page("pages/image-separation.py", who="bob")
    assert f"{job.name} (user)" in other.sidebar.selectbox(key="checkpoint_select").options


def test_failed_run_shows_its_message(train_runs, tmp_path, monkeypatch):
    monkeypatch.setenv("VAE_DATA_DIR", str(tmp_path / "no-data"))
    runner, job_id = submit_job(**TINY_JOB)
    job = runner.wait(job_id, timeout=JOB_WAIT_S)
    assert job.status == "failed"
    at = run_page(TRAIN_PAGE, who=WHO)
    assert watched_header(at).endswith(" · failed")
    (error,) = at.error
    assert error.value == job.message and "train-images-idx3-ubyte.gz" in error.value


def test_start_button_watches_the_new_run_and_its_stop_cancels_it(train_runs):
    from lab_ui.common import job_runner

    at = run_page(TRAIN_PAGE, who=WHO)
    at.number_input(key="train_epochs_quick").set_value(1)
    at.number_input(key="train_budget_quick").set_value(10)
    at.text_input(key="train_name_quick").set_value("first")
    at.button(key="train_start").click().run()
    assert not at.exception, [e.value for e in at.exception]
    first = at.session_state["train_job"]
    job = job_runner().get(first)
    assert job.name.startswith("first-") and job.config["epochs"] == 1 and job.config["time_budget_s"] == 10
    assert job.config["model"] == "mlp" and job.config["model_config"]["hidden"] == [512, 256]
    assert watched_header(at).startswith(f"**{job.name}** · ")

    # A second run waits for the slot; the page now watches it (not the first one).
    at.text_input(key="train_name_quick").set_value("second")
    at.button(key="train_start").click().run()
    assert not at.exception, [e.value for e in at.exception]
    second = at.session_state["train_job"]
    assert second != first and at.selectbox(key="train_watch").value == second
    assert watched_header(at) == f"**{job_runner().get(second).name}** · queued"
    assert [i.value for i in at.info] == ["Waiting for a free training slot: number 1 in the queue."]

    at.button(key=f"stop_{second}").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert job_runner().get(second).status == "stopped"
    assert [w.value for w in at.warning] == ["Cancelled before it started."]
    assert job_runner().get(first).status == "running"


@pytest.mark.slow
def test_train_page_runs_an_audio_job_from_the_form(train_runs, monkeypatch):
    """Task "audio": the form builds an AudioTrainConfig, the job trains on MIR-1K, the finished run is scored on
    two test clips and joins the Audio separation page's picker."""
    monkeypatch.setenv("VAE_JOB_AUDIO_EVAL_CLIPS", "2")
    at = run_page(TRAIN_PAGE, who=WHO)
    at.selectbox(key="train_task").set_value("audio").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.select_slider(key="audio_train_beta").value == 0.01
    at.number_input(key="audio_train_epochs").set_value(1).run()
    at.number_input(key="audio_train_budget").set_value(10).run()
    at.select_slider(key="audio_train_latent").set_value(4).run()
    at.checkbox(key="audio_train_speeds").check().run()
    at.checkbox(key="audio_train_ema").check().run()
    at.checkbox(key="audio_train_context").check().run()
    at.text_input(key="audio_train_name").set_value("tiny audio").run()
    at.button(key="train_start").click().run()
    assert not at.exception, [e.value for e in at.exception]
    from lab_ui.common import job_runner

    runner = job_runner()
    (job,) = runner.jobs()
    assert job.task == "audio" and job.config["model_config"] == {"latent_channels": 4, **WIDE_CONTEXT}
    assert list(job.config["speeds"]) == list(PERTURBED_SPEEDS) and job.config["ema_decay"] == EMA_DECAY
    job = runner.wait(job.id, timeout=180)
    assert job.status in ("done", "stopped") and job.has_checkpoint, job.message
    meta = json.loads((Path(job.folder) / "checkpoint.json").read_text())
    assert meta["task"] == "audio" and meta["test_metrics"]["clips"] == 2
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    (table,) = at.dataframe
    assert list(table.value["task"]) == ["audio"] and table.value["dev NSDR voice (dB)"][0] is not None
    audio = run_page("pages/audio-separation.py", who=WHO)
    assert audio.sidebar.selectbox(key="audio_checkpoint_select").options[0] == f"{job.name} (yours, {job.status})"


@pytest.mark.slow
def test_a_music_run_starts_from_the_train_page_and_ends_done(train_runs):
    at = run_page(TRAIN_PAGE, who=WHO)
    at.selectbox(key="train_task").set_value("music").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.radio(key="music_train_preset").value == "default"
    at.radio(key="music_train_preset").set_value("course-base").run()
    at.number_input(key="music_train_epochs_course-base").set_value(1).run()
    at.button(key="train_start").click().run()
    assert not at.exception, [e.value for e in at.exception]
    from lab_ui.common import job_runner

    runner = job_runner()
    (job,) = runner.jobs(owner=WHO)
    assert job.task == "music" and job.config["model"] == "music-course" and job.config["epochs"] == 1
    final = runner.wait(job.id, timeout=300)
    assert final.status == "done", final.message
    from vae_core.core.store import read_sidecar

    assert read_sidecar(Path(final.folder))["test_metrics"]["clips"] == 18  # scored on every test clip
    at.run()
    assert any("Log-spectral distance" in c.value for c in at.caption)


@pytest.mark.slow
def test_an_effects_run_starts_from_the_train_page_and_ends_done(train_runs, monkeypatch):
    monkeypatch.setenv("VAE_JOB_EFFECTS_EVAL_FILES", "8")
    at = run_page(TRAIN_PAGE, who=WHO)
    at.selectbox(key="train_task").set_value("effects").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.radio(key="fx_train_preset").value == "quick"
    assert at.number_input(key="fx_train_epochs_quick").value == 2
    at.radio(key="fx_train_preset").set_value("report").run()  # each preset shows its own values
    assert at.number_input(key="fx_train_epochs_report").value == 8 and at.radio(key="fx_train_scaling_report").value == "report"
    at.radio(key="fx_train_preset").set_value("quick").run()
    at.number_input(key="fx_train_epochs_quick").set_value(1).run()
    at.button(key="train_start").click().run()
    assert not at.exception, [e.value for e in at.exception]
    from lab_ui.common import job_runner

    runner = job_runner()
    job = next(j for j in runner.jobs(owner=WHO) if j.task == "effects")
    assert job.config["model"] == "effects-cvae" and job.config["epochs"] == 1 and job.config["steps"] == 30
    final = runner.wait(job.id, timeout=300)
    assert final.status == "done", final.message
    from vae_core.core.store import read_sidecar

    metrics = read_sidecar(Path(final.folder))["test_metrics"]
    assert metrics["test_files"] == 8 and 0 <= metrics["probe_acc"] <= 1
    at.run()
    assert any("kNN-5 effect accuracy" in c.value for c in at.caption)
