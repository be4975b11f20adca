"""Train: start a short training run, watch it learn, stop it; finished runs join every checkpoint picker."""
from __future__ import annotations

import datetime as dt
import importlib
from typing import Any

import streamlit as st

from lab_ui.charts import loss_curves_figure
from lab_ui.common import job_runner
from vae_core import LabError
from vae_core.core.jobs import ACTIVE, JobState
from vae_core.core.registry import get_task, tasks



def widgets(task: str) -> Any:
    """The task's page widgets (its registry entry names the module)."""
    return importlib.import_module(get_task(task).page_widgets)


def config_ui() -> tuple[Any, str]:
    """The run's settings: the task, then its own fields."""
    trainable = [name for name, spec in tasks().items() if spec.page_widgets]
    task = st.selectbox("Task", trainable, format_func=lambda t: widgets(t).TRAIN_LABEL, key="train_task")
    return widgets(task).train_config_ui()


def start_ui(cfg: Any, run_name: str) -> None:
    if st.button("Start training", type="primary", key="train_start"):
        try:
            job_id = job_runner().submit(cfg, run_name or None)
        except LabError as exc:
            st.error(str(exc))
        else:  # watch the new run (the "Run to watch" box keeps its own choice otherwise)
            st.session_state.train_job = st.session_state.train_watch = job_id


def _eta(seconds: float | None) -> str:
    if seconds is None:
        return "…"
    return f"{int(seconds // 60)} min {int(seconds % 60):02d} s" if seconds >= 60 else f"{seconds:.0f} s"


@st.fragment(run_every=1.0)
def monitor_ui(job_id: str) -> None:
    """Live view of one job, refreshed every second without rerunning the rest of the page."""
    runner = job_runner()
    try:
        job = runner.get(job_id)
    except LabError as exc:
        st.error(str(exc))
        return
    epochs = job.config.get("epochs", 0)
    st.markdown(f"**{job.name}** · {job.status}")
    if job.status == "queued":
        st.info(f"Waiting for a free training slot: number {runner.queue_position(job_id)} in the queue.")
    elif job.status == "running":
        st.progress(min(1.0, job.progress), text=f"{job.progress:.0%} · epoch {job.epoch:.1f} of {epochs} · "
                                                 f"{job.elapsed_s:.0f} s elapsed · ETA {_eta(job.eta_s)}")
    if job.status in ACTIVE:
        if st.button("Stop", key=f"stop_{job_id}", help="Ends the run and keeps the best model so far."):
            runner.stop(job_id)
            st.rerun()  # not scope="fragment": that raises when the click is handled by a full run (AppTest)
    elif job.status == "done":
        st.success(f"Finished in {job.elapsed_s:.0f} s. The run is saved as **{job.name}** and appears in every "
                   "page's checkpoint picker.")
    elif job.status == "stopped":
        st.warning(job.message or "Stopped.")
    else:
        st.error(job.message or "The run failed.")
    log_y = st.toggle("Log scale", key=f"log_{job_id}")
    st.plotly_chart(loss_curves_figure(job.steps, job.history, log_y), key=f"curves_{job_id}")
    note = widgets(job.task).monitor_note(job.history or {})
    if note:
        st.caption(note)
    preview = runner.preview(job_id)
    if preview is not None:
        st.caption(widgets(job.task).PREVIEW_CAPTION)
        st.image(widgets(job.task).preview_picture(preview), clamp=True)


def runs_table_ui(jobs: list[JobState]) -> None:
    rows = []
    for j in jobs:
        psnr = (j.history.get("val_psnr_projected") or [None])[-1] if j.history else None
        nsdr = (j.history.get("val_nsdr_voice") or [None])[-1] if j.history else None
        rows.append({"run": j.name, "status": j.status, "task": j.task, "model": j.config.get("model"),
                     "β": j.config.get("beta"), "latent": j.config.get("model_config", {}).get("latent_dim"),
                     "epochs": len(j.history.get("epoch", [])) if j.history else 0,
                     "val PSNR (dB)": None if psnr is None else round(psnr, 2),
                     "dev NSDR voice (dB)": None if nsdr is None else round(nsdr, 2),
                     "started": dt.datetime.fromtimestamp(j.created).strftime("%Y-%m-%d %H:%M")})
    st.dataframe(rows, hide_index=True, width="stretch")


st.title("Train")
st.markdown("Change β or the latent size, press **Start training**, and watch the model learn. Runs go on in the "
            "background: other pages stay usable, and every finished run joins the checkpoint pickers.")
with st.container(border=True):
    cfg, run_name = config_ui()
    start_ui(cfg, run_name)

jobs = job_runner().jobs()
if jobs:
    ids = [j.id for j in jobs]
    active = [j.id for j in jobs if j.status in ACTIVE]
    default = st.session_state.get("train_job") or (active[0] if active else ids[0])
    labels = {j.id: j.name for j in jobs}  # no status here: it is drawn outside the live fragment and would go stale
    chosen = st.selectbox("Run to watch", ids, index=ids.index(default) if default in ids else 0,
                          format_func=labels.get, key="train_watch")
    st.session_state.train_job = chosen
    monitor_ui(chosen)
    with st.expander(f"All runs ({len(jobs)})"):
        runs_table_ui(jobs)
else:
    st.info("No runs yet. The quick preset trains the course model in about a minute.")
