"""Train: start a short training run, watch it learn, stop it; finished runs join every checkpoint picker."""
from __future__ import annotations

import dataclasses
import datetime as dt
import importlib
from pathlib import Path
from typing import Any

import streamlit as st

from lab_ui.charts import loss_curves_figure, runs_curves_figure
from lab_ui.common import LEARNING_RATES, job_runner
from lab_ui.state import boolean, bound, one_of, remember, restore, student
from vae_core import LabError
from vae_core.core.checkpoints import BUNDLE_SUFFIX, export_bundle, import_bundle
from vae_core.core.jobs import ACTIVE, JobState
from vae_core.core.registry import get_task, tasks
from lab_ui.concepts import concept_ui
from lab_ui.shell import leave_folder_mode

leave_folder_mode()  # before anything is drawn: a cold server's deep link (see lab_ui.shell)



def widgets(task: str) -> Any:
    """The task's page widgets (its registry entry names the module)."""
    return importlib.import_module(get_task(task).page_widgets)


def config_ui() -> tuple[Any, str]:
    """The run's settings: the task, then its own fields."""
    trainable = [name for name, spec in tasks().items() if spec.page_widgets]
    task = st.selectbox("Task", trainable, format_func=lambda t: widgets(t).TRAIN_LABEL, key="train_task")
    return widgets(task).train_config_ui()


TWIN_FIELDS = {"beta": "β", "lr": "learning rate", "epochs": "epochs", "seed": "seed"}


def twin_ui(cfg: Any) -> Any | None:
    """Optionally a second config that differs from ``cfg`` in one setting (the two runs are watched side by side)."""
    if not st.toggle("Also start a twin run that differs in one setting", key="train_twin",
                     help="Two runs, watched side by side, whose only difference is the setting you choose here."):
        return None
    c1, c2 = st.columns(2)
    field = c1.selectbox("The setting", list(TWIN_FIELDS), format_func=TWIN_FIELDS.get, key="train_twin_field")
    current = getattr(cfg, field)
    label = f"The twin's {TWIN_FIELDS[field]} (this run: {current:g})"
    if field in ("epochs", "seed"):
        value = c2.number_input(label, 0 if field == "seed" else 1, 10**6, int(current) + 1, key=f"train_twin_{field}")
    else:
        default = {"beta": current * 10 if current else 1.0, "lr": current / 2}[field]
        value = c2.number_input(label, 0.0, 1000.0, float(default), format="%g", key=f"train_twin_{field}")
    return dataclasses.replace(cfg, **{field: type(current)(value)})


def start_ui(cfg: Any, run_name: str, who: str) -> None:
    twin = twin_ui(cfg)
    if st.button("Start training", type="primary", key="train_start"):
        runner = job_runner()
        try:
            job_id = runner.submit(cfg, run_name or None, owner=who)
            twin_id = runner.submit(twin, f"{run_name}-twin" if run_name else None, owner=who) if twin else None
        except LabError as exc:
            st.error(str(exc))
        else:  # watch the new run (the "Run to watch" box keeps its own choice otherwise)
            st.session_state.train_job = st.session_state.train_watch = job_id
            if twin_id:
                st.session_state.train_pair = [job_id, twin_id]


# The status, progress and live picture refresh every WATCH_EVERY_S seconds; the loss curves every CURVES_EVERY_S.
# A browser on the run's own cores slows it by more than the CPU it takes (most likely each wake-up holds up one
# of its two OpenMP threads at a barrier): at 3 s and 9 s a watched quick run took 1.10-1.21 times as long as
# unwatched, at 5 s and 10 s 1.04-1.08 (`python -m vae_core bench watch-quick --repeats 3`, 2026-12-03).
WATCH_EVERY_S = 5.0
CURVES_EVERY_S = 10.0


def _eta(seconds: float | None) -> str:
    if seconds is None:
        return "…"
    return f"{int(seconds // 60)} min {int(seconds % 60):02d} s" if seconds >= 60 else f"{seconds:.0f} s"


def monitor_ui(job_id: str) -> None:
    """Live view of one job: fragments refreshed while the job is queued or running (the rest of the page does not
    rerun), drawn once when it has ended (a class of finished runs costs the server nothing)."""
    try:
        active = job_runner().get(job_id).status in ACTIVE
    except LabError as exc:
        st.error(str(exc))
        return
    st.fragment(job_view, run_every=WATCH_EVERY_S if active else None)(job_id, active)
    st.fragment(curves_view, run_every=CURVES_EVERY_S if active else None)(job_id)


def _finished_text(job: JobState) -> str:
    t = job.timings
    parts = [f"{t[k]:.0f} s {what}" for k, what in (("loading_s", "loading"), ("training_s", "training"),
                                                      ("scoring_s", "scoring")) if k in t]
    return f"Finished in {job.elapsed_s:.0f} s" + (f" ({', '.join(parts)})" if parts else "")


def job_view(job_id: str, was_active: bool) -> None:
    runner = job_runner()
    try:
        job = runner.get(job_id)
    except LabError as exc:
        st.error(str(exc))
        return
    if was_active and job.status not in ACTIVE:
        st.rerun()  # it has just ended: draw the page once more, without polling and with its download
    epochs = job.config.get("epochs", 0)
    st.markdown(f"**{job.name}** · {job.status}")
    if job.status == "queued":
        st.info(f"Waiting for a free training slot: number {runner.queue_position(job_id)} in the queue.")
    elif job.status == "running" and job.phase == "scoring":
        # Its own bar: the training bar would sit at 100 % while the test data is scored.
        done = job.scoring_progress
        st.progress(done or 0.0, text=f"Training done ({job.epochs_done:.1f} epochs); scoring the best model on "
                                      "held-out test data" + (f": {done:.0%}" if done is not None else "…")
                                      + f" · {job.elapsed_s:.0f} s elapsed")
    elif job.status == "running" and job.phase in ("starting", "loading"):
        st.progress(0.0, text=f"Starting a training process and loading the data… {job.elapsed_s:.0f} s")
    elif job.status == "running" and job.phase == "paused":
        st.progress(min(1.0, job.progress), text=f"Paused at epoch {job.epoch:.1f} of {epochs} · "
                                                 f"{job.elapsed_s:.0f} s since it started · "
                                                 "Resume or Step one epoch to go on")
    elif job.status == "running":
        st.progress(min(1.0, job.progress), text=f"{job.progress:.0%} · epoch {job.epoch:.1f} of {epochs} · "
                                                 f"{job.elapsed_s:.0f} s elapsed · ETA {_eta(job.eta_s)}")
    if job.status in ACTIVE:
        if st.button("Stop", key=f"stop_{job_id}", help="Ends the run and keeps the best model so far."):
            runner.stop(job_id)
            st.rerun()  # not scope="fragment": that raises when the click is handled by a full run (AppTest)
        if job.status == "running" and job.phase in ("training", "paused"):
            live_controls_ui(job)
    elif job.status == "done":
        st.success(f"{_finished_text(job)}. The run is saved as **{job.name}** and appears in every page's "
                   "checkpoint picker.")
    elif job.status in ("stopped", "interrupted"):
        st.warning(job.message or "Stopped.")
    else:
        st.error(job.message or "The run failed.")
    preview = runner.preview(job_id)
    if preview is not None:
        st.caption(widgets(job.task).PREVIEW_CAPTION)
        st.image(widgets(job.task).preview_picture(preview), clamp=True)
    if job.status not in ACTIVE:
        download_ui(job)


def live_controls_ui(job: JobState) -> None:
    """Pause, resume, one more epoch, and a new β or learning rate while the run goes; each change is marked on
    the curves. Pausing changes no numbers: the same steps run in the same order afterwards."""
    runner = job_runner()

    def send(do: str, **values: float) -> None:
        try:
            runner.control(job.id, do, **values)
        except LabError as exc:
            st.session_state[f"control_error_{job.id}"] = str(exc)

    paused = job.phase == "paused"
    with st.container(horizontal=True):
        if paused:
            st.button("Resume", key=f"resume_{job.id}", icon=":material/play_arrow:", on_click=send, args=("resume",))
            st.button("Step one epoch", key=f"step_{job.id}", icon=":material/skip_next:", on_click=send,
                      args=("step",), help="Train to the end of this epoch, validate, and pause again.")
        else:
            st.button("Pause", key=f"pause_{job.id}", icon=":material/pause:", on_click=send, args=("pause",),
                      help="Hold the run before its next step; nothing is lost, and resuming gives the same numbers.")
    betas = job.history.get("beta") or [job.config.get("beta", 1.0)]
    changed = [c for c in job.history.get("changes", []) if "beta" in c]
    current_beta = changed[-1]["beta"] if changed else float(betas[-1])
    lr_now = float(job.config.get("lr", LEARNING_RATES[2]))
    with st.expander("Change β or the learning rate while it trains"):
        c1, c2 = st.columns(2)
        c1.number_input("New β", 0.0, 1000.0, float(current_beta), key=f"new_beta_{job.id}",
                               help="The weight of the KL term from the next step on (it replaces any KL warm-up).")
        c2.select_slider("New learning rate", LEARNING_RATES, value=min(LEARNING_RATES, key=lambda v: abs(v - lr_now)),
                              key=f"new_lr_{job.id}", format_func=lambda v: f"{v:g}",
                              help="The cosine schedule goes on decaying from the new rate.")
        with st.container(horizontal=True):
            # The values are read when clicked: one typed just before the click is already in the session state.
            st.button("Apply β", key=f"apply_beta_{job.id}", on_click=lambda: send(
                "change", beta=float(st.session_state[f"new_beta_{job.id}"])))
            st.button("Apply the learning rate", key=f"apply_lr_{job.id}", on_click=lambda: send(
                "change", lr=float(st.session_state[f"new_lr_{job.id}"])))
        st.caption("Each change is drawn on the loss curves as a dotted line where it took effect.")
    error = st.session_state.pop(f"control_error_{job.id}", None)
    if error:
        st.error(error)


def curves_view(job_id: str) -> None:
    try:
        job = job_runner().get(job_id)
    except LabError:
        return  # job_view above says why
    log_y = st.toggle("Log scale", key=f"log_{job_id}")
    st.plotly_chart(loss_curves_figure(job.steps, job.history, log_y), key=f"curves_{job_id}")
    note = widgets(job.task).monitor_note(job.history or {})
    if note:
        st.caption(note)


def pair_ui(pair: list[str], was_active: bool) -> None:
    """Two runs that differ in one setting, side by side: their status and live pictures, and one figure of both
    runs' curves; refreshed while either is queued or running."""
    runner = job_runner()
    try:
        jobs = [runner.get(job_id) for job_id in pair]
    except LabError:
        return
    if was_active and not any(job.status in ACTIVE for job in jobs):
        st.rerun()  # both have ended: draw once more without polling
    diff = {k: (jobs[0].config.get(k), jobs[1].config.get(k)) for k in TWIN_FIELDS
            if jobs[0].config.get(k) != jobs[1].config.get(k)}
    labels = [", ".join(f"{TWIN_FIELDS[k]} {v[i]:g}" for k, v in diff.items()) or job.name
              for i, job in enumerate(jobs)]
    columns = st.columns(2)
    for job, label, col in zip(jobs, labels, columns):
        with col:
            st.markdown(f"**{label}** · {job.status}" + (f" · epoch {job.epoch:.1f} of {job.config.get('epochs')}"
                                                          if job.status == "running" else ""))
            preview = runner.preview(job.id)
            if preview is not None:
                st.image(widgets(job.task).preview_picture(preview), clamp=True)
    histories = [(label, job.history) for label, job in zip(labels, jobs) if job.history.get("epoch")]
    if histories:
        st.plotly_chart(runs_curves_figure(histories), key="pair_curves")
    else:
        st.caption("The curves appear after each run's first epoch.")


def download_ui(job: JobState) -> None:
    """Share a run as one file (the teacher's model for the class, a student's for the teacher)."""
    if not job.has_checkpoint:
        return
    # Built when clicked, not at every rerun (it reads and verifies the weights).
    st.download_button("Download this model", lambda: export_bundle(Path(job.folder)), f"{job.name}{BUNDLE_SUFFIX}",
                       "application/zip",
                       icon=":material/download:", key=f"download_{job.id}",
                       help="One file (weights + description, no code) that anyone can import on their own Train "
                            "page or with `python -m vae_core import FILE`.")


def import_ui(who: str) -> None:
    """Add a shared model file to the runs; it is verified like any checkpoint before it is listed."""
    uploaded = st.file_uploader(f"Import a shared model ({BUNDLE_SUFFIX})", type=["zip"], key="train_import",
                                help="A file from a Download button or `python -m vae_core export`.")
    if uploaded is None:
        return
    done = st.session_state.setdefault("train_imported", {})
    if uploaded.file_id not in done:
        try:
            done[uploaded.file_id] = import_bundle(uploaded.getvalue(), owner=who).name
        except LabError as exc:
            st.error(str(exc))
            return
    st.success(f"Imported as **{done[uploaded.file_id]}**: it is now in every checkpoint picker, listed first.")


def runs_table_ui(who: str, everyone: bool) -> None:
    """Every run of the student (or of everyone): refreshed every five seconds while one of them is queued or
    running; status and epochs come from the same snapshot."""
    active = any(j.status in ACTIVE for j in job_runner().jobs(owner=None if everyone else who))
    st.fragment(runs_table, run_every=5.0 if active else None)(who, everyone)


def runs_table(who: str, everyone: bool) -> None:
    jobs = job_runner().jobs(owner=None if everyone else who)
    rows = []
    for j in jobs:
        psnr = (j.history.get("val_psnr_projected") or [None])[-1] if j.history else None
        nsdr = (j.history.get("val_nsdr_voice") or [None])[-1] if j.history else None
        rows.append({"run": j.name, "student": j.owner or "—", "status": j.status, "task": j.task,
                     "model": j.config.get("model"), "β": j.config.get("beta"),
                     "latent": j.config.get("model_config", {}).get("latent_dim"),
                     "epochs": f"{j.epochs_done:.2f} of {j.config.get('epochs')}",
                     "val PSNR (dB)": None if psnr is None else round(psnr, 2),
                     "dev NSDR voice (dB)": None if nsdr is None else round(nsdr, 2),
                     "started": dt.datetime.fromtimestamp(j.created).strftime("%Y-%m-%d %H:%M")})
    if rows:
        st.dataframe(rows, hide_index=True, width="stretch")
    else:
        st.caption("No runs yet.")


st.title("Train")
concept_ui("train")
st.markdown("Change β or the latent size, press **Start training**, and watch the model learn. Runs go on in their "
            "own processes: other pages stay usable, and every finished run joins the checkpoint pickers.")
who = student()
with st.container(border=True):
    cfg, run_name = config_ui()
    start_ui(cfg, run_name, who)

jobs = job_runner().jobs(owner=who)
if jobs:
    ids = [j.id for j in jobs]
    names = {j.name: j.id for j in jobs}
    active = [j.id for j in jobs if j.status in ACTIVE]
    restore("train_watch", lambda raw: names[one_of(list(names))(raw)], "the run to watch", url_key="run")
    default = st.session_state.get("train_job") or (active[0] if active else ids[0])
    labels = {j.id: j.name for j in jobs}  # no status here: it is drawn outside the live fragment and would go stale
    chosen = st.selectbox("Your run to watch", ids, index=ids.index(default) if default in ids else 0,
                          format_func=labels.get, key="train_watch")
    st.session_state.train_job = chosen
    remember("run", labels[chosen])
    monitor_ui(chosen)
    pair = st.session_state.get("train_pair")
    if pair and all(p in ids for p in pair):
        st.subheader("Side by side")
        active_pair = any(j.status in ACTIVE for j in jobs if j.id in pair)
        st.fragment(pair_ui, run_every=CURVES_EVERY_S if active_pair else None)(pair, active_pair)
else:
    st.info(f"No runs of yours yet ({who}). The quick preset trains the course model in about a minute.")
with st.expander("All runs"):
    everyone = bound("train_everyone", boolean, lambda: st.toggle(
        "Every student's runs", key="train_everyone", help="For the teacher: the runs of the whole class."))
    runs_table_ui(who, everyone)
with st.expander("Share models"):
    import_ui(who)
