"""Ray backend: training jobs and sweep runs as Ray tasks, for a class too big for one machine.

Optional (``pip install .[cluster]``); nothing else in ``vae_core`` imports this module unless asked for Ray
(``VAE_JOB_BACKEND=ray``, ``sweep --backend ray``). :func:`connect` joins the cluster at ``RAY_ADDRESS`` (or
starts a local Ray instance on this machine, on loopback, when there is none).

Every node must import the same ``vae_core`` (install the project at the same path on each, or on a shared
filesystem) and see the runs folder and the data at the same paths: a job's worker writes its results into its
run folder, where the server reads them, and Stop reaches it through a ``STOP`` file in that folder, exactly as
for a local worker process.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Sequence

import ray
import torch

from vae_core.core.jobs import PROJECT_ROOT, FolderJobRunner, JobState, env_number
from vae_core.core.worker import run_job

_PASSED_ENV = ("VAE_DATA_DIR", "VAE_RUNS_DIR", "XDG_DATA_HOME")


def connect(address: str | None = None, num_cpus: int | None = None) -> None:
    """Join the Ray cluster at ``address`` (default ``RAY_ADDRESS``), or start a local instance on loopback with
    ``num_cpus`` CPUs when there is no address. Does nothing when already connected."""
    if ray.is_initialized():
        return
    address = address or os.environ.get("RAY_ADDRESS") or None
    env = {name: os.environ[name] for name in _PASSED_ENV if os.environ.get(name)}
    pythonpath = os.pathsep.join(p for p in (str(PROJECT_ROOT), os.environ.get("PYTHONPATH")) if p)
    options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                               "runtime_env": {"env_vars": {**env, "PYTHONPATH": pythonpath}}}
    if address is None:
        options.update(num_cpus=num_cpus, _node_ip_address="127.0.0.1")
    ray.init(address=address, **options)


@ray.remote
def _ray_call(threads: int, fn: Callable[..., Any], *args: Any) -> Any:
    torch.set_num_threads(threads)
    return fn(*args)


def _run_job_status(folder: str) -> str:
    return run_job(folder).status


class RayJobRunner(FolderJobRunner):
    """Runs each job as a Ray task asking for ``cpus_per_job`` CPUs (``VAE_RAY_CPUS_PER_JOB``, default 2); at most
    ``max_jobs`` are handed to Ray at once (``VAE_MAX_JOBS``, default: the cluster's CPUs / ``cpus_per_job``)."""

    backend = "ray"

    def __init__(self, root: Path | None = None, max_jobs: int | None = None, *, address: str | None = None,
                 cpus_per_job: int | None = None, **kwargs: Any):
        connect(address)
        self.cpus_per_job = int(cpus_per_job or env_number("VAE_RAY_CPUS_PER_JOB", 2))
        if max_jobs is None and not os.environ.get("VAE_MAX_JOBS"):
            max_jobs = max(1, int(ray.cluster_resources().get("CPU", 1)) // self.cpus_per_job)
        super().__init__(root, max_jobs, **kwargs)

    def _launch(self, job: JobState) -> ray.ObjectRef:
        return _ray_call.options(num_cpus=self.cpus_per_job).remote(self.cpus_per_job, _run_job_status, job.folder)

    def _ended(self, handle: ray.ObjectRef) -> str | None:
        ready, _ = ray.wait([handle], timeout=0)
        if not ready:
            return None
        try:
            ray.get(handle)
        except ray.exceptions.TaskCancelledError:
            return "cancelled by Ray"
        except ray.exceptions.RayError as exc:
            return f"a Ray error ({type(exc).__name__})"
        return "exit code 0"

    def _cancel(self, handle: ray.ObjectRef) -> None:
        ray.cancel(handle)


def ray_map(fn: Callable[..., Any], calls: Sequence[tuple], cpus_per_call: int = 1,
            on_result: Callable[[Any], None] | None = None) -> list[Any]:
    """``[fn(*args) for args in calls]``, run as parallel Ray tasks of ``cpus_per_call`` CPUs each (``fn`` must be
    importable by the workers: a module-level function). ``on_result`` sees each result as it arrives."""
    refs = [_ray_call.options(num_cpus=cpus_per_call).remote(cpus_per_call, fn, *args) for args in calls]
    pending = list(refs)
    while pending:
        ready, pending = ray.wait(pending, num_returns=1)
        if on_result is not None:
            on_result(ray.get(ready[0]))
    return ray.get(refs)
