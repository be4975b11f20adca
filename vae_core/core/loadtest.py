"""``bench serve``: a class of students on one server, measured.

Starts the app (``streamlit run app.py``) on a free local port and drives it with the system Chromium (Playwright,
``/usr/bin/chromium``): for each class size N, N browser sessions open the Image separation page at once, each
with its own student name, then each moves the mixing-weight slider a few times. It prints first-render and
slider-to-image latency percentiles, whether any page showed "Page not found", the server's resident memory, and
the CPU time the server and the browsers (by kind of Chromium process) used meanwhile. With ``--baseline`` the same
classes then open a bare Streamlit page (:data:`BASELINE_APP`), which shows what Streamlit's page alone costs.
With ``--minutes M``, the sessions then keep using the app (sliders, the Latent explorer, page switches) for M
minutes while the server's memory is sampled every minute: a steady server stays flat.

Browser and server share the machine's cores, as in a class that runs its server on a teacher's laptop; the
numbers are those of this machine, printed with what it had. With ``--client protocol`` the sessions are
protocol-level students instead (:mod:`lab_ui.protocol_client`: Streamlit's websocket messages and the page's
image downloads, no browser), which measures the server's side of a class whose browsers run elsewhere. The cold
start is measured in Chromium either way.

``bench watch-quick`` (the image task's) uses :func:`watch_training`: a run started and watched on the Train page.
"""
from __future__ import annotations

import asyncio
import json
import math
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from vae_core.core.errors import LabError
from vae_core.core.jobs import ACTIVE, JOB_FILE

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-renderer-backgrounding",
                 "--disable-background-timer-throttling", "--disable-backgrounding-occluded-windows"]
APP = Path(__file__).resolve().parents[2] / "app.py"
BASELINE_APP = APP.parent / "lab_ui" / "baseline_app.py"  # Streamlit's floor: the slider and three images, no more
PAGE_TIMEOUT_MS = 300_000
SLIDER_MOVES = 3
CLIENTS = ("browser", "protocol")


def process_rss_mb(pid: int) -> float:
    """Resident memory of process ``pid`` (MB), from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise LabError(f"Cannot read the memory of process {pid}.")


def _proc_stat(pid: int | str) -> tuple[str, int, float]:
    """Process ``pid``'s name, parent pid and CPU seconds (user + system), from /proc/PID/stat."""
    head, tail = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)  # the name may hold spaces and ")"
    fields = tail.split()
    return head.split("(", 1)[1], int(fields[1]), (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def process_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) process ``pid`` has used, from /proc."""
    return _proc_stat(pid)[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(runs_dir: Path, log: Path, timeout: float = 120, env: dict[str, str] | None = None,
                 app: Path = APP) -> tuple[subprocess.Popen, str, float]:
    """The app (or another Streamlit script of the project) on a free port (``env`` added to this process's
    environment); returns the process, its base URL and the seconds until it answered."""
    if not app.is_file():
        raise LabError(f"The benchmark runs the app from a checkout of the project; {app} is missing.")
    port = _free_port()
    env = {**os.environ, **(env or {}), "VAE_RUNS_DIR": str(runs_dir)}
    # No file watcher: edits elsewhere in the working tree must not pop up "File change" prompts mid-measurement.
    cmd = [sys.executable, "-m", "streamlit", "run", str(app), "--server.headless", "true", "--server.port", str(port),
           "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"]
    t0 = time.perf_counter()
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, cwd=APP.parent, env=env, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    while True:
        try:
            with urllib.request.urlopen(f"{base}/_stcore/health", timeout=2) as r:
                if r.read().decode().strip() == "ok":
                    return proc, base, time.perf_counter() - t0
        except OSError:
            pass
        if proc.poll() is not None or time.perf_counter() - t0 > timeout:
            stop_server(proc)
            raise LabError(f"The app did not answer its health check within {timeout:.0f} s (exit code "
                           f"{proc.returncode}); its log is {log}.")
        time.sleep(0.1)


def stop_server(proc: subprocess.Popen, timeout: float = 20) -> None:
    """Terminate the app (kill it if it does not end within ``timeout`` s) and reap it."""
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def percentiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"n": 0, "p50": None, "p95": None, "max": None}
    ordered = sorted(values)
    return {"n": len(ordered), "p50": round(statistics.median(ordered), 2),
            "p95": round(ordered[max(0, int(round(0.95 * len(ordered))) - 1)], 2), "max": round(ordered[-1], 2)}


async def _student(browser: Any, base: str, name: str) -> dict[str, Any]:
    """One student: open the image page, then move the mixing-weight slider; returns their latencies."""
    context = await browser.new_context(viewport={"width": 1366, "height": 900})
    page = await context.new_page()
    result: dict[str, Any] = {"first_render_s": None, "slider_s": [], "page_not_found": False, "error": None}
    try:
        t0 = time.perf_counter()
        await page.goto(f"{base}/image-separation?who={name}", wait_until="commit", timeout=PAGE_TIMEOUT_MS)
        mixture = page.get_by_role("img").first
        caption = page.get_by_text("separated digit").first
        await caption.wait_for(timeout=PAGE_TIMEOUT_MS)
        result["first_render_s"] = time.perf_counter() - t0
        result["page_not_found"] = await page.get_by_text("Page not found").count() > 0
        slider = page.get_by_role("slider", name="Mixing weight w of the digit")
        for _ in range(SLIDER_MOVES):
            before = await mixture.get_attribute("src")
            await slider.focus()
            t = time.perf_counter()
            await slider.press("ArrowRight")
            deadline = t + PAGE_TIMEOUT_MS / 1000
            while await mixture.get_attribute("src") == before:
                if time.perf_counter() > deadline:
                    raise TimeoutError("the image never changed after a slider move")
                await asyncio.sleep(0.02)
            result["slider_s"].append(time.perf_counter() - t)
        result["page"], result["context"] = page, context
    except Exception as exc:  # noqa: BLE001 - one student's failure is a number of the report, not a crash
        result["error"] = f"{type(exc).__name__}: {exc}"
        await context.close()
    return result


async def _start_protocol_client(*args: str) -> asyncio.subprocess.Process:
    """``python -m lab_ui.protocol_client ARGS`` in the project's folder, its output piped back (a separate process:
    this package never imports streamlit)."""
    return await asyncio.create_subprocess_exec(sys.executable, "-m", "lab_ui.protocol_client", *args,
                                                cwd=APP.parent, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE)


async def _protocol_class(base: str, names: list[str], page: str = "image-separation",
                          moves: int = SLIDER_MOVES) -> list[dict[str, Any]]:
    """``_student`` for each of ``names`` at once, without browsers: ``lab_ui.protocol_client`` (a separate
    process: this package never imports streamlit) speaks Streamlit's websocket protocol to the server."""
    proc = await _start_protocol_client(base, "--page", page, "--slider", "Mixing weight w of the digit",
                                        "--moves", str(moves), *names)
    out, err = await proc.communicate()
    if proc.returncode != 0:
        raise LabError(f"The protocol client failed: {err.decode()[-500:]}")
    return json.loads(out.decode().strip().splitlines()[-1])


async def _open_home(browser: Any, base: str) -> None:
    """The Home page in a fresh browser context, until its heading and the data line show."""
    context = await browser.new_context()
    try:
        home = await context.new_page()
        await home.goto(f"{base}/", wait_until="commit", timeout=PAGE_TIMEOUT_MS)
        await home.get_by_role("heading", name="VAE Separation Lab").wait_for(timeout=PAGE_TIMEOUT_MS)
        await home.get_by_text("Datasets").first.wait_for(timeout=PAGE_TIMEOUT_MS)
    finally:
        await context.close()


async def _keep_using(page: Any, base: str, name: str, until: float) -> int:
    """Mixed use until ``until``: slider moves, the Latent explorer and back; returns the actions done."""
    actions = 0
    while time.perf_counter() < until:
        try:
            slider = page.get_by_role("slider", name="Mixing weight w of the digit")
            await slider.focus()
            for key in ("ArrowRight", "ArrowLeft"):
                await slider.press(key)
                await asyncio.sleep(1.0)
            await page.goto(f"{base}/latent-explorer?who={name}", timeout=PAGE_TIMEOUT_MS)
            await page.get_by_text("digit decoder").first.wait_for(timeout=PAGE_TIMEOUT_MS)
            await page.get_by_role("button", name="Sample from the prior").click()
            await asyncio.sleep(2.0)
            await page.goto(f"{base}/image-separation?who={name}", timeout=PAGE_TIMEOUT_MS)
            await page.get_by_text("separated digit").first.wait_for(timeout=PAGE_TIMEOUT_MS)
            actions += 5
        except Exception:  # noqa: BLE001 - a slow moment; keep going
            await asyncio.sleep(1.0)
    return actions


def _playwright() -> Any:
    """Playwright's async entry point, or one sentence on what to install."""
    try:
        from playwright.async_api import async_playwright  # optional: a test dependency, only these benches need it
    except ImportError:
        raise LabError("This benchmark drives Chromium through Playwright: pip install playwright (and install the "
                       "system Chromium, e.g. apt-get install chromium).") from None
    if not os.access(CHROMIUM, os.X_OK):
        raise LabError(f"This benchmark needs the system Chromium at {CHROMIUM} (apt-get install chromium).")
    return async_playwright


async def _wait_for_run_end(runs: Path, t0: float, timeout_s: float) -> tuple[dict[str, Any], Path]:
    """The first job in ``runs`` once it has ended, and its folder."""
    while time.perf_counter() - t0 < timeout_s:
        await asyncio.sleep(0.5)
        files = list(runs.glob(f"*/{JOB_FILE}"))
        if files:
            job = json.loads(files[0].read_text())
            if job["status"] not in ACTIVE:
                return job, files[0].parent
    raise LabError(f"The watched run did not end within {timeout_s:.0f} s.")


async def _watch(preset: str, who: str, env: dict[str, str], timeout_s: float, client: str) -> dict[str, Any]:
    async with _playwright()() as p:
        browser = (await p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
                   if client == "browser" else None)
        with tempfile.TemporaryDirectory() as tmp:
            runs = Path(tmp) / "runs"
            proc, base, _ = start_server(runs, Path(tmp) / "server.log", env=env)
            watcher = None
            try:
                if client == "protocol":  # the page's default preset; a student who presses Start, tab left open
                    cpu0, t0 = process_cpu_s(proc.pid), time.perf_counter()  # the client's start-up counts here
                    watcher = await _start_protocol_client(base, who, "--page", "train", "--click", "Start training")
                    job, folder = await _wait_for_run_end(runs, t0, timeout_s)
                    ended = time.perf_counter() - t0
                else:
                    page = await browser.new_page(viewport={"width": 1366, "height": 900})
                    await page.goto(f"{base}/train?who={who}", timeout=PAGE_TIMEOUT_MS)
                    start = page.get_by_role("button", name="Start training")
                    await start.wait_for(timeout=PAGE_TIMEOUT_MS)
                    await page.get_by_text(re.compile(rf"^{re.escape(preset)}\b")).first.click()
                    await asyncio.sleep(2.0)  # the preset's values are drawn
                    cpu0, t0 = process_cpu_s(proc.pid), time.perf_counter()
                    await start.click()
                    job, folder = await _wait_for_run_end(runs, t0, timeout_s)
                    ended = time.perf_counter() - t0
                    # What the student sees: the page says the run ended (it polls every few seconds).
                    await page.get_by_text(re.compile("Finished in|Stopped|Reached the time limit|failed")).first\
                        .wait_for(timeout=PAGE_TIMEOUT_MS)
                sidecar = folder / "checkpoint.json"
                report: dict[str, Any] = {
                    "client": client, "click_to_end_s": round(ended, 2), "status": job["status"],
                    "timings": job.get("timings", {}), "epochs_done": (job.get("history", {}).get("epoch") or [0])[-1],
                    "server_cpu_s": round(process_cpu_s(proc.pid) - cpu0, 2),
                    "test_metrics": json.loads(sidecar.read_text()).get("test_metrics") if sidecar.is_file() else None}
                if watcher is not None:
                    watcher.terminate()
                    out, err = await watcher.communicate()
                    if watcher.returncode != 0:
                        raise LabError(f"The protocol client failed: {err.decode()[-500:]}")
                    report.update(json.loads(out.decode().strip().splitlines()[-1]))
                return report
            finally:
                if watcher is not None and watcher.returncode is None:
                    watcher.kill()
                    await watcher.wait()
                stop_server(proc)
                if browser is not None:
                    await browser.close()


def watch_training(preset: str, who: str = "bench-watch", env: dict[str, str] | None = None,
                   timeout_s: float = 900, client: str = "browser") -> dict[str, Any]:
    """Start a run from the Train page with ``preset`` chosen and watch it until it ends, as a student would (a
    fresh server and runs folder): in Chromium, or (``client="protocol"``) as a protocol-level student who keeps
    the page live without drawing it, which measures the server's side of watching; that one starts the page's
    default preset. Returns the job's status, its phase timings (``loading_s``, ``training_s``, ``scoring_s``,
    measured by the worker), seconds from the click to the end, the server's CPU seconds meanwhile and the run's
    test metrics."""
    if client not in CLIENTS:
        raise LabError(f"The client must be one of {', '.join(CLIENTS)}, not {client!r}.")
    return asyncio.run(_watch(preset, who, env or {}, timeout_s, client))


BROWSER_KINDS = {"renderer": "renderers", "gpu-process": "gpu_process", "": "browser"}  # Chromium's --type=


def chromium_cpu_s() -> dict[int, tuple[str, float]]:
    """The Chromium processes this process started (through Playwright), by pid: each one's kind (its ``--type``,
    '' for the browser process) and the CPU seconds it has used, from /proc."""
    parents: dict[int, int] = {}
    chromium: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            name, parent, cpu = _proc_stat(entry.name)
        except OSError:  # it ended meanwhile
            continue
        parents[int(entry.name)] = parent
        if name.startswith("chrom"):
            chromium[int(entry.name)] = cpu
    me, found = os.getpid(), {}
    for pid, cpu in chromium.items():
        ancestor, hops = parents.get(pid, 0), 0
        while ancestor > 1 and ancestor != me and hops < 64:
            ancestor, hops = parents.get(ancestor, 0), hops + 1
        if ancestor != me:
            continue  # another Chromium on this machine
        try:
            # Chromium rewrites its children's command lines as one string: split at spaces as well
            args = re.split(rb"[\0 ]", Path(f"/proc/{pid}/cmdline").read_bytes())
        except OSError:
            continue
        kind = next((a.split(b"=", 1)[1].decode() for a in args if a.startswith(b"--type=")), "")
        found[pid] = (kind, cpu)
    return found


def browser_cpu_since(before: dict[int, tuple[str, float]]) -> dict[str, float]:
    """CPU seconds the Chromium processes alive now used since ``before`` (:func:`chromium_cpu_s`), by kind:
    ``renderers`` (the pages), ``gpu_process`` (compositing, in software without a GPU), ``browser``, ``other``
    (network service, zygote...), and their ``total``."""
    used = dict.fromkeys([*BROWSER_KINDS.values(), "other"], 0.0)
    for pid, (kind, cpu) in chromium_cpu_s().items():
        used[BROWSER_KINDS.get(kind, "other")] += cpu - before.get(pid, (kind, 0.0))[1]
    used = {kind: round(cpu, 1) for kind, cpu in used.items()}
    return {**used, "total": round(sum(used.values()), 1)}


async def _classes(browser: Any, base: str, proc: subprocess.Popen, sizes: list[int], client: str, label: str,
                   say: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Each class size in turn on the server at ``base``: its latencies, errors, and the server's and browsers'
    CPU time; returns the rows and the last class's open sessions."""
    say(f"{label:>8} {'first render s p50/p95/max':>28} {'slider→image s p50/p95/max':>28} {'errors':>6} "
        f"{'not found':>9} {'server MB':>9} {'CPU s server / browsers / wall':>31}")
    rows: dict[str, Any] = {}
    kept: list[dict[str, Any]] = []
    for n in sizes:
        for r in kept:  # the previous class leaves
            await r["context"].close()
        cpu0, browsers0, wall0 = process_cpu_s(proc.pid), chromium_cpu_s(), time.perf_counter()
        names = [f"load-{n}-{i}" for i in range(n)]
        if client == "protocol":
            results = await _protocol_class(base, names)
        else:
            results = await asyncio.gather(*[_student(browser, base, name) for name in names])
        server_cpu, wall = process_cpu_s(proc.pid) - cpu0, time.perf_counter() - wall0
        browsers_cpu = browser_cpu_since(browsers0)
        kept = [r for r in results if r["error"] is None and "context" in r]
        ok = [r for r in results if r["error"] is None]
        first = percentiles([r["first_render_s"] for r in ok])
        slider = percentiles([s for r in ok for s in r["slider_s"]])
        row = {"first_render_s": first, "slider_to_image_s": slider,
               "errors": [r["error"] for r in results if r["error"]],
               "page_not_found": sum(r["page_not_found"] for r in results),
               "server_rss_mb": round(process_rss_mb(proc.pid), 1),
               "server_cpu_s": round(server_cpu, 2), "browser_cpu_s": browsers_cpu, "wall_s": round(wall, 2)}
        rows[str(n)] = row
        say(f"{n:8d} {first['p50']!s:>8} / {first['p95']!s:>6} / {first['max']!s:>6} "
            f"{slider['p50']!s:>9} / {slider['p95']!s:>6} / {slider['max']!s:>6} "
            f"{len(row['errors']):6d} {row['page_not_found']:9d} {row['server_rss_mb']:9.0f} "
            f"{server_cpu:13.1f} / {browsers_cpu['total']:8.1f} / {wall:5.1f}")
        if client != "protocol":
            say(f"{'':8} browsers' CPU s: renderers {browsers_cpu['renderers']}, GPU process (compositing) "
                f"{browsers_cpu['gpu_process']}, browser process {browsers_cpu['browser']}, other "
                f"{browsers_cpu['other']}")
    return rows, kept


async def _run(sizes: list[int], minutes: float, client: str, baseline: bool, say: Any) -> dict[str, Any]:
    report: dict[str, Any] = {"cpus": os.cpu_count(), "slider_moves": SLIDER_MOVES, "client": client, "sizes": {}}
    async with _playwright()() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        with tempfile.TemporaryDirectory() as tmp:
            # Cold start: from launching the server to the Home page drawn in an open browser; for the protocol
            # client, until the Home page's run ended and its elements arrived (the client's own start-up, a
            # Python process importing streamlit's messages, is not counted: it connects, then its clock runs).
            t0 = time.perf_counter()
            proc, base, startup = start_server(Path(tmp) / "runs", Path(tmp) / "server.log")
            try:
                if client == "protocol":
                    (home_result,) = await _protocol_class(base, ["cold-start"], page="", moves=0)
                    if home_result["error"]:
                        raise LabError(f"The Home page did not draw: {home_result['error']}")
                    report["cold_start_home_s"] = round(startup + home_result["first_render_s"], 2)
                else:
                    await _open_home(browser, base)
                    report["cold_start_home_s"] = round(time.perf_counter() - t0, 2)
                report["server_start_s"] = round(startup, 2)
                report["server_rss_mb_idle"] = round(process_rss_mb(proc.pid), 1)
                await asyncio.sleep(5.0)  # the server warms up its libraries after the first page
                t = time.perf_counter()
                await _open_home(browser, base)  # what a fresh browser spends on a warm server
                report["browser_home_warm_s"] = round(time.perf_counter() - t, 2)
                say(f"cold start ({client}): server answered in {startup:.1f} s, Home page drawn "
                    f"{report['cold_start_home_s']:.1f} s after launch; server {report['server_rss_mb_idle']:.0f} MB. "
                    f"A fresh Chromium page then drew Home from the warm server in "
                    f"{report['browser_home_warm_s']:.1f} s. {os.cpu_count()} CPUs shared by the browsers and the "
                    "server")
                report["sizes"], kept = await _classes(browser, base, proc, sizes, client, "sessions", say)
                if minutes > 0 and kept:
                    samples = [(0.0, process_rss_mb(proc.pid))]
                    start = time.perf_counter()
                    until = start + minutes * 60
                    use = asyncio.gather(*[_keep_using(r["page"], base, f"use-{i}", until) for i, r in enumerate(kept)])
                    task = asyncio.ensure_future(use)
                    next_sample = start + 60
                    while not task.done():
                        await asyncio.sleep(0.5)
                        if time.perf_counter() >= next_sample or task.done():  # once a minute, and at the end
                            next_sample += 60
                            samples.append((round((time.perf_counter() - start) / 60, 1), process_rss_mb(proc.pid)))
                            say(f"  {samples[-1][0]:5.1f} min of use by {len(kept)} sessions: server "
                                f"{samples[-1][1]:.0f} MB")
                    report["use"] = {"minutes": minutes, "sessions": len(kept), "actions": sum(task.result()),
                                     "rss_mb": [[t, round(m, 1)] for t, m in samples]}
                for r in kept:
                    await r["context"].close()
            finally:
                stop_server(proc)
            if baseline:
                report["baseline"] = await _baseline(browser, Path(tmp), sizes, say)
        await browser.close()
    return report


async def _baseline(browser: Any, tmp: Path, sizes: list[int], say: Any) -> dict[str, Any]:
    """The same classes against Streamlit's floor (:data:`BASELINE_APP`) on a fresh server: what Streamlit's page
    alone costs this machine's browsers and server."""
    proc, base, _ = start_server(tmp / "baseline-runs", tmp / "baseline.log", app=BASELINE_APP)
    try:
        warm = await _student(browser, base, "baseline-warm-up")  # the server's first run imports its libraries
        if warm["error"]:
            raise LabError(f"The baseline page did not draw: {warm['error']}")
        await warm["context"].close()
        say(f"baseline: the same classes on a bare Streamlit page ({BASELINE_APP.name}: a title, the slider and "
            "three images; no sidebar, no model)")
        rows, kept = await _classes(browser, base, proc, sizes, "browser", "baseline", say)
        for r in kept:
            await r["context"].close()
        return rows
    finally:
        stop_server(proc)


PAGES = ("", "image-separation", "audio-separation", "music", "effects-map", "latent-explorer", "beta-lab",
         "train", "lessons")  # app.py's
_SETTLED_S = 1.0  # the script must stay finished this long: a page's fragments and reruns come right after it


async def _render_once(browser: Any, base: str, path: str, name: str) -> dict[str, Any]:
    """Open ``path`` in a fresh browser context: seconds until Streamlit's script ended for good (the moment it
    first stopped running, of a stretch of ``_SETTLED_S`` without running again), and what went wrong."""
    context = await browser.new_context(viewport={"width": 1366, "height": 900})
    page = await context.new_page()
    out: dict[str, Any] = {"render_s": None, "problems": []}
    try:
        t0 = time.perf_counter()
        await page.goto(f"{base}/{path}?who={name}", wait_until="commit", timeout=PAGE_TIMEOUT_MS)
        ended = None
        while time.perf_counter() - t0 < PAGE_TIMEOUT_MS / 1000:
            state = await page.evaluate("""() => { const e = document.querySelector('[data-testid="stApp"]');
                                                   return e && e.getAttribute('data-test-script-state'); }""")
            now = time.perf_counter()
            if state == "notRunning":
                ended = ended or now
                if now - ended >= _SETTLED_S:
                    out["render_s"] = ended - t0
                    break
            else:
                ended = None
            await asyncio.sleep(0.05)
        if await page.get_by_text("Page not found").count():
            out["problems"].append("Page not found")
        for box in await page.locator('[data-testid="stException"]').all_inner_texts():
            out["problems"].append("exception: " + box.strip().splitlines()[0][:120])
    finally:
        await context.close()
    return out


async def _pages(paths: list[str], repeats: int, say: Any) -> dict[str, Any]:
    report: dict[str, Any] = {"cpus": os.cpu_count(), "repeats": repeats, "settled_after_s": _SETTLED_S,
                              "pages": {}}
    async with _playwright()() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        with tempfile.TemporaryDirectory() as tmp:
            proc, base, startup = start_server(Path(tmp) / "runs", Path(tmp) / "server.log")
            try:
                report["server_start_s"] = round(startup, 2)
                say(f"Each page opened in a fresh Chromium context on one server, {os.cpu_count()} CPUs shared by "
                    f"browser and server: the first visit (its models load), then {repeats} visits with them cached")
                say(f"{'page':18} {'first s':>8} {'cached s: median':>17} {'min':>6} {'max':>6}  problems")
                for path in paths:
                    runs = [await _render_once(browser, base, path, f"bench-pages-{i}") for i in range(repeats + 1)]
                    times = [r["render_s"] for r in runs]
                    problems = sorted({pr for r in runs for pr in r["problems"]} |
                                      ({"did not settle"} if None in times else set()))
                    warm = [t for t in times[1:] if t is not None]
                    row = {"first_s": round(times[0], 2) if times[0] is not None else None,
                           "cached_median_s": round(statistics.median(warm), 2) if warm else None,
                           "cached_min_s": round(min(warm), 2) if warm else None,
                           "cached_max_s": round(max(warm), 2) if warm else None, "problems": problems}
                    report["pages"][path or "home"] = row
                    say(f"{path or 'home':18} {row['first_s']!s:>8} {row['cached_median_s']!s:>17} "
                        f"{row['cached_min_s']!s:>6} {row['cached_max_s']!s:>6}  {'; '.join(problems)}")
            finally:
                stop_server(proc)
        await browser.close()
    return report


def bench_pages(paths: list[str] | None = None, repeats: int = 5, echo: bool = True) -> dict[str, Any]:
    """Time to first render of each page in Chromium on a fresh server: the first visit, then ``repeats`` visits
    with the page's models cached (median and range)."""
    paths = list(PAGES if not paths else paths)
    unknown = [path for path in paths if path not in PAGES]
    if unknown:
        raise LabError(f"No page {', '.join(map(repr, unknown))}; the pages are "
                       f"{', '.join(repr(p) for p in PAGES)} ('' is Home).")
    say = print if echo else (lambda *a, **k: None)
    return asyncio.run(_pages(paths, repeats, say))


def bench_serve(sizes: list[int], minutes: float = 0.0, client: str = "browser", baseline: bool = False,
                echo: bool = True) -> dict[str, Any]:
    """Measure the app under ``sizes`` concurrent sessions (one fresh server for the whole run), each a Chromium
    page (``client="browser"``) or a protocol-level student (``"protocol"``, :mod:`lab_ui.protocol_client`); with
    ``baseline``, then the same Chromium classes against a bare Streamlit page (:data:`BASELINE_APP`)."""
    if client not in CLIENTS:
        raise LabError(f"The client must be one of {', '.join(CLIENTS)}, not {client!r}.")
    if minutes > 0 and client != "browser":
        raise LabError("--minutes keeps browser sessions using the app; use it with --client browser.")
    if baseline and client != "browser":
        raise LabError("--baseline measures what Streamlit's page costs the browsers; use it with --client browser.")
    say = print if echo else (lambda *a, **k: None)
    return asyncio.run(_run(sizes, minutes, client, baseline, say))


PAD = ".pad"  # lab_ui.latent_pad's drag surface; it records each move's latency in window.__latentPadLatencies
_PAD_LATENCIES = "() => (window.__latentPadLatencies || []).slice()"


async def _drag(path: str, moves: int, repeats: int, say: Any) -> dict[str, Any]:
    report: dict[str, Any] = {"cpus": os.cpu_count(), "path": path, "moves": moves, "repeats": repeats, "drags": []}
    async with _playwright()() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        with tempfile.TemporaryDirectory() as tmp:
            proc, base, _ = start_server(Path(tmp) / "runs", Path(tmp) / "server.log")
            try:
                page = await browser.new_page(viewport={"width": 1366, "height": 900})
                await page.goto(f"{base}/{path}", timeout=PAGE_TIMEOUT_MS)
                pad = page.locator(f'{PAD}[data-ready="1"]').first
                await pad.wait_for(timeout=PAGE_TIMEOUT_MS)
                await pad.scroll_into_view_if_needed()
                await asyncio.sleep(1.0)  # the page settles: its last fragments and reruns
                sliders = page.locator('[data-testid="stSliderThumbValue"]')
                for r in range(repeats):
                    box = await pad.bounding_box()
                    before = len(await page.evaluate(_PAD_LATENCIES))
                    values = await sliders.all_inner_texts()
                    # A loop around the plane's middle, a different radius each repeat: every move lands on a
                    # new grid point now and then, as a student's hand does.
                    cx, cy, radius = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2, \
                        box["width"] * (0.2 + 0.2 * r / max(1, repeats - 1))
                    await page.mouse.move(cx + radius, cy)
                    await page.mouse.down()
                    for k in range(1, moves + 1):
                        angle = 2 * math.pi * k / moves
                        await page.mouse.move(cx + radius * math.cos(angle), cy + radius * math.sin(angle))
                    t = time.perf_counter()
                    await page.mouse.up()
                    while await sliders.all_inner_texts() == values:  # the exact point, decoded by the server
                        if time.perf_counter() - t > PAGE_TIMEOUT_MS / 1000:
                            raise LabError("The sliders never moved after the drag ended.")
                        await asyncio.sleep(0.01)
                    release = time.perf_counter() - t
                    await asyncio.sleep(0.5)
                    latencies = (await page.evaluate(_PAD_LATENCIES))[before:]
                    drag = {"move_ms": percentiles(latencies), "release_to_sliders_s": round(release, 3)}
                    report["drags"].append(drag)
                    say(f"drag {r + 1} of {repeats}: {len(latencies)} moves, pointer to picture median "
                        f"{drag['move_ms']['p50']} ms, p95 {drag['move_ms']['p95']} ms, max "
                        f"{drag['move_ms']['max']} ms; release to sliders {release:.2f} s")
                problems = await page.locator('[data-testid="stException"]').count()
                report["exceptions"] = problems
            finally:
                stop_server(proc)
        await browser.close()
    every = [d["move_ms"] for d in report["drags"]]
    report["move_ms_p50_range"] = [min(m["p50"] for m in every), max(m["p50"] for m in every)]
    report["move_ms_p95_max"] = max(m["p95"] for m in every)
    report["move_ms_max"] = max(m["max"] for m in every)
    report["release_to_sliders_s"] = percentiles([d["release_to_sliders_s"] for d in report["drags"]])
    say(f"pointer move to picture drawn, {repeats} drags of {moves} moves: median {report['move_ms_p50_range']} ms "
        f"(range over drags), p95 at most {report['move_ms_p95_max']} ms, slowest {report['move_ms_max']} ms; "
        f"release to sliders median {report['release_to_sliders_s']['p50']} s")
    return report


def drag_latent_pad(path: str, moves: int = 100, repeats: int = 3, echo: bool = True) -> dict[str, Any]:
    """Open ``path`` (a page with a latent pad) on a fresh server in Chromium and drag the pad's marker ``repeats``
    times in a loop of ``moves`` pointer moves: each move's time from the pointer event to the picture drawn
    (the page's own record, taken after the next frame), and from letting go to the sliders showing the point."""
    say = print if echo else (lambda *a, **k: None)
    return asyncio.run(_drag(path, moves, repeats, say))
