"""Streamlit helpers shared by the pages (the only place besides pages/ that imports streamlit).

Every page imports this package before ``vae_core`` (and so before torch), which is why the OpenMP setting
below lives here: in the app, the browser, the server and torch share the CPU, and OpenMP threads that
spin while waiting for a busy core turn a 4 ms separation into 100 ms. A passive wait keeps it near 10 ms
and changes no numbers (the thread count, which can change the last digits of training, stays the same). Training workers do not inherit it (``vae_core.core.jobs.worker_env``): a passive wait slows
training itself.
"""
import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
