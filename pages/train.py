"""Train: start a short training run, watch it learn, stop it; finished runs join every checkpoint picker."""
from __future__ import annotations

import datetime as dt

import streamlit as st

from lab_ui.charts import loss_curves_figure
from lab_ui.common import job_runner
from vae_core import LabError
from vae_core.image.demo import GRID_COLUMNS, tile
from vae_core.core.jobs import ACTIVE, JobState
from vae_core.audio.task import EMA_DECAY, PERTURBED_SPEEDS, AudioTrainConfig
from vae_core.image.task import PRESETS, TrainConfig

BETAS = [0.0, 0.01, 0.05, 0.1, 0.5, 1.0, 2.0, 4.0, 10.0, 100.0]
LRS = [1e-4, 3e-4, 1e-3, 2e-3, 5e-3]
PRESET_LABELS = {"quick": "quick (≈ 1 min)", "full": "full (≈ 10 min)"}
MODEL_DEFAULTS = {"mlp": {"hidden": [512, 256]}, "conv": {"channels": [16, 32, 64], "hidden": 512}}


TASKS = {"image": "Image separation (MNIST + Fashion-MNIST)", "audio": "Audio separation (MIR-1K voice / music)"}
AUDIO_BETAS = [0.0, 0.001, 0.01, 0.1, 1.0]


def config_ui() -> tuple[TrainConfig | AudioTrainConfig, str]:
    """The run's settings: the task, then its own fields."""
    task = st.selectbox("Task", list(TASKS), format_func=TASKS.get, key="train_task",
                        help="Music generation joins this list once it exists.")
    return audio_config_ui() if task == "audio" else image_config_ui()


def audio_config_ui() -> tuple[AudioTrainConfig, str]:
    """Settings of an audio run; the defaults train for about four minutes on two CPU cores."""
    d = AudioTrainConfig()
    c1, c2, c3 = st.columns(3)
    beta = c1.select_slider("β (KL weight)", AUDIO_BETAS, value=d.beta, key="audio_train_beta")
    mask_weight = c2.select_slider("Mask loss weight", [0.0, 1.0, 3.0, 10.0, 30.0], value=d.mask_weight,
                                   key="audio_train_mask",
                                   help="Weight of the loss on the masked mixture: what you hear. 0 leaves only "
                                        "the ELBO on the spectrograms.")
    latent_channels = c3.select_slider("Latent channels (per source)", [4, 8, 16, 32], value=16,
                                       key="audio_train_latent")
    c1, c2, c3 = st.columns(3)
    epochs = c1.number_input("Epochs (≈ 35 s each)", 1, 200, 6, key="audio_train_epochs")
    budget = c2.number_input("Time budget (s)", 10, 3600, 240, step=10, key="audio_train_budget",
                             help="The run stops (keeping its best model) when time is up.")
    seed = c3.number_input("Seed", 0, 2**31 - 1, 0, key="audio_train_seed")
    c1, c2, c3, c4 = st.columns(4)
    lr = c1.select_slider("Learning rate", LRS, value=d.lr, format_func=lambda v: f"{v:g}", key="audio_train_lr")
    batch = c2.select_slider("Batch size (patches)", [4, 8, 16, 32, 64], value=d.batch_size, key="audio_train_batch")
    anneal = c3.number_input("KL annealing (epochs)", 0.0, 50.0, 0.0, 0.5, key="audio_train_anneal")
    free_bits = c4.number_input("Free bits (nats / dim)", 0.0, 5.0, 0.0, 0.1, key="audio_train_freebits")
    c1, c2 = st.columns(2)
    perturb = c1.checkbox("Speed perturbation", False, key="audio_train_speeds",
                          help=f"Also train on every clip played at {', '.join(f'{v:g}' for v in PERTURBED_SPEEDS)}× "
                               "speed (pitch and formants shift together): more singers than the two recorded.")
    ema = c2.checkbox("Keep a moving average of the weights", False, key="audio_train_ema",
                      help=f"Validate and save an exponential moving average (decay {EMA_DECAY}) of the weights, "
                           "which swings less from epoch to epoch than the weights themselves.")
    run_name = st.text_input("Run name (optional)", key="audio_train_name", max_chars=40)
    cfg = AudioTrainConfig(model_config={"latent_channels": int(latent_channels)}, beta=float(beta),
                           mask_weight=float(mask_weight), epochs=int(epochs), batch_size=int(batch), lr=float(lr),
                           seed=int(seed), kl_anneal_epochs=float(anneal), free_bits=float(free_bits),
                           time_budget_s=float(budget), speeds=PERTURBED_SPEEDS if perturb else d.speeds,
                           ema_decay=EMA_DECAY if ema else 0.0)
    return cfg, run_name.strip()


def image_config_ui() -> tuple[TrainConfig, str]:
    """The run's settings; a preset fills them in and every field stays editable."""
    name = st.radio("Preset", list(PRESETS), format_func=PRESET_LABELS.get, horizontal=True, key="train_preset")
    p = PRESETS[name]
    k = f"_{name}"  # one set of widget states per preset, so switching presets shows its values
    c1, c2, c3 = st.columns(3)
    model = c1.radio("Model", ["mlp", "conv"], index=["mlp", "conv"].index(p["model"]), horizontal=True,
                     key="train_model" + k, help="mlp: the course design. conv: the shipped convolutional design.")
    beta = c2.select_slider("β (KL weight)", BETAS, value=p["beta"], key="train_beta" + k)
    latent = c3.slider("Latent size (per source)", 2, 128, p["model_config"]["latent_dim"], key="train_latent" + k)
    c1, c2, c3 = st.columns(3)
    epochs = c1.number_input("Epochs", 1, 200, p["epochs"], key="train_epochs" + k)
    budget = c2.number_input("Time budget (s)", 10, 3600, int(p.get("time_budget_s") or 900), step=10,
                             key="train_budget" + k, help="The run stops (keeping its best model) when time is up.")
    seed = c3.number_input("Seed", 0, 2**31 - 1, 0, key="train_seed" + k)
    c1, c2, c3, c4 = st.columns(4)
    lr = c1.select_slider("Learning rate", LRS, value=p["lr"], format_func=lambda v: f"{v:g}", key="train_lr" + k)
    batch = c2.select_slider("Batch size", [32, 64, 128, 256, 512], value=p["batch_size"], key="train_batch" + k)
    anneal = c3.number_input("KL annealing (epochs)", 0.0, 50.0, 0.0, 0.5, key="train_anneal" + k,
                             help="β ramps up linearly from 0 over this many epochs (Bowman et al. 2016).")
    free_bits = c4.number_input("Free bits (nats / dim)", 0.0, 5.0, 0.0, 0.1, key="train_freebits" + k,
                                help="Each latent dimension's KL below this is not penalised (Kingma et al. 2016).")
    run_name = st.text_input("Run name (optional)", key="train_name" + k, max_chars=40)
    model_config = {**MODEL_DEFAULTS[model], "latent_dim": int(latent)}
    if model == p["model"]:
        model_config = {**p["model_config"], "latent_dim": int(latent)}
    cfg = TrainConfig(model=model, model_config=model_config, beta=float(beta), epochs=int(epochs),
                      batch_size=int(batch), lr=float(lr), seed=int(seed), kl_anneal_epochs=float(anneal),
                      free_bits=float(free_bits), time_budget_s=float(budget))
    return cfg, run_name.strip()


def start_ui(cfg: TrainConfig | AudioTrainConfig, run_name: str) -> None:
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
    if job.task == "audio" and job.history.get("val_nsdr_voice"):
        st.caption(f"Voice NSDR on the held-out dev clips after the last epoch: "
                   f"{job.history['val_nsdr_voice'][-1]:.2f} dB (the best epoch is kept).")
    preview = runner.preview(job_id)
    if preview is not None:
        st.caption("Current separations of fixed test mixtures. Columns: " + " · ".join(GRID_COLUMNS[:4]))
        st.image(tile(preview, scale=3), clamp=True)


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
