"""A latent plane you drag on: the manifold figure with a marker, and beside it what the decoder draws under the
marker, redrawn in the browser on every pointer move (no round trip to the server while dragging).

Every picture the pad can show is decoded in advance on a fine grid of the plane and sent once as one tiled PNG
(the atlas); a move only copies one tile. Releasing the marker reports the point to Python, which moves the sliders
and decodes that exact point. Each move's latency (pointer event to the next frame) is kept in
``window.__latentPadLatencies`` so a benchmark can read what a student waits.
"""
from __future__ import annotations

import base64
import io
from collections.abc import Callable

import numpy as np
import streamlit as st
from PIL import Image

ATLAS_LEVELS = 32  # grey levels kept in the atlas: a third of the bytes of 256, no banding visible at 6x
LATENCY_KEEP = 2000  # latencies the page keeps (a long drag must not grow the page's memory without bound)

_HTML = """
<div class="pad-wrap">
  <div class="pad-col">
    <div class="pad" tabindex="0" role="slider" aria-label="Latent plane: drag the marker">
      <img class="bg" alt="What the decoder draws over the plane" draggable="false">
      <div class="ghost"></div>
      <div class="marker"></div>
    </div>
    <div class="xlabel"></div>
  </div>
  <div class="side">
    <canvas class="decoded" width="28" height="28"></canvas>
    <div class="readout"></div>
    <div class="hint"></div>
  </div>
</div>
"""

_CSS = """
.pad-wrap { display: flex; gap: 1rem; align-items: flex-start; font-family: var(--st-font);
            color: var(--st-text-color); }
.pad { position: relative; cursor: crosshair; touch-action: none; outline: none; user-select: none; }
.pad:focus-visible { box-shadow: 0 0 0 3px var(--st-primary-color); }
.pad .bg { position: absolute; inset: 0; width: 100%; height: 100%; image-rendering: auto; pointer-events: none; }
.marker, .ghost { position: absolute; width: 22px; height: 22px; margin: -13px 0 0 -13px; border-radius: 50%;
                  pointer-events: none; }
.marker { border: 3px solid var(--st-primary-color); box-shadow: 0 0 0 2px white; }
.ghost { border: 2px dashed #ffd54f; display: none; }
.xlabel { font-size: 0.85rem; opacity: 0.75; margin-top: 0.3rem; }
.side { display: flex; flex-direction: column; gap: 0.4rem; }
.decoded { image-rendering: auto; border-radius: 0.5rem; background: black; }
.readout { font-variant-numeric: tabular-nums; font-size: 1rem; }
.hint { font-size: 0.85rem; opacity: 0.75; max-width: 14rem; }
.large .readout { font-size: 1.5rem; }
.large .hint, .large .xlabel { font-size: 1.2rem; max-width: 20rem; }
"""

_JS = """
export default function (component) {
  const { data, parentElement, setTriggerValue } = component;
  const root = parentElement.querySelector(".pad-wrap");
  const pad = root.querySelector(".pad"), bg = root.querySelector(".bg");
  const marker = root.querySelector(".marker"), ghost = root.querySelector(".ghost");
  const canvas = root.querySelector(".decoded"), ctx = canvas.getContext("2d");
  const readout = root.querySelector(".readout");
  const s = root.__pad || (root.__pad = { atlas: new Image(), dragging: false });
  root.classList.toggle("large", Boolean(data.large));
  const { n, span, size, preview, names } = data;
  pad.style.width = pad.style.height = size + "px";
  canvas.style.width = canvas.style.height = preview + "px";
  root.querySelector(".xlabel").textContent =
    `${names[0]} from −${span} (left) to ${span} (right), ${names[1]} from −${span} (bottom) to ${span} (top)`;
  root.querySelector(".hint").textContent = data.hint;
  if (bg.getAttribute("src") !== data.background) bg.src = data.background;
  const latencies = window.__latentPadLatencies || (window.__latentPadLatencies = []);

  // The grid point nearest to a pixel of the pad: column i (first dimension), row j from the top.
  const cell = (px, py) => {
    const clamp = (v) => Math.min(n - 1, Math.max(0, Math.round(v)));
    return [clamp((px / size) * (n - 1)), clamp((py / size) * (n - 1))];
  };
  const value = (k) => -span + (2 * span * k) / (n - 1);
  const place = (el, i, j) => {
    el.style.left = ((i / (n - 1)) * size) + "px";
    el.style.top = ((j / (n - 1)) * size) + "px";
  };
  const show = (i, j) => {
    if (s.atlas.complete && s.atlas.naturalWidth) {
      ctx.drawImage(s.atlas, i * 28, j * 28, 28, 28, 0, 0, 28, 28);
    }
    const za = value(i), zb = value(n - 1 - j);
    readout.textContent = `${names[0]} = ${za.toFixed(2)}, ${names[1]} = ${zb.toFixed(2)}`;
    pad.dataset.point = `${za.toFixed(2)},${zb.toFixed(2)}`;
    pad.setAttribute("aria-valuetext", readout.textContent);
  };
  const fromPoint = (p) => [Math.round(((p[0] + span) / (2 * span)) * (n - 1)),
                            Math.round(((span - p[1]) / (2 * span)) * (n - 1))];
  const clampCell = ([i, j]) => [Math.min(n - 1, Math.max(0, i)), Math.min(n - 1, Math.max(0, j))];
  const timed = (event, draw) => {
    draw();
    // Read after the next frame's paint: the rAF callback runs before it, a task queued there runs after it.
    requestAnimationFrame(() => setTimeout(() => {
      latencies.push(performance.now() - event.timeStamp);
      if (latencies.length > %(keep)d) latencies.shift();
    }, 0));
  };
  const showCommitted = () => { const [i, j] = s.cell; place(marker, i, j); show(i, j); };
  const commit = () => {
    const [i, j] = s.cell;
    setTriggerValue("picked", [value(i), value(n - 1 - j)]);
  };

  if (!s.cell || !s.dragging) s.cell = clampCell(fromPoint(data.point));
  if (s.atlasSrc !== data.atlas) {
    s.atlasSrc = data.atlas;
    pad.dataset.ready = "0";
    s.atlas.src = data.atlas;
    // Decoded before the first move: drawn from undecoded, the first tile waits on the whole atlas (~0.7 s)
    s.atlas.decode().then(() => {
      if (s.atlasSrc !== data.atlas) return;
      pad.dataset.ready = "1";
      if (!s.dragging) showCommitted();
    }).catch(() => {});
  }
  showCommitted();

  // The listeners are added once but must use this render's size, names and atlas: they call through s.ui.
  const at = (e) => { const r = pad.getBoundingClientRect(); return cell(e.clientX - r.left, e.clientY - r.top); };
  s.ui = { at, show, place, showCommitted, commit, clampCell, timed };
  if (!s.bound) {
    s.bound = true;
    const ui = () => s.ui;
    pad.addEventListener("pointerdown", (e) => {
      s.dragging = true; pad.setPointerCapture(e.pointerId); ghost.style.display = "none";
      ui().timed(e, () => { s.cell = ui().at(e); ui().showCommitted(); });
    });
    pad.addEventListener("pointermove", (e) => {
      const { at, show, place, showCommitted, timed } = ui();
      if (s.dragging) { timed(e, () => { s.cell = at(e); showCommitted(); }); return; }
      timed(e, () => { const [i, j] = at(e); ghost.style.display = "block"; place(ghost, i, j); show(i, j); });
    });
    const release = () => { if (s.dragging) { s.dragging = false; ui().commit(); } };
    pad.addEventListener("pointerup", release);
    pad.addEventListener("pointercancel", release);
    pad.addEventListener("pointerleave", () => {
      if (!s.dragging) { ghost.style.display = "none"; ui().showCommitted(); }
    });
    pad.addEventListener("keydown", (e) => {
      const step = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] }[e.key];
      if (!step) return;
      e.preventDefault();
      const { clampCell, showCommitted, commit, timed } = ui();
      timed(e, () => { s.cell = clampCell([s.cell[0] + step[0], s.cell[1] + step[1]]); showCommitted(); });
      commit();
    });
  }
}
""" % {"keep": LATENCY_KEEP}

_pad = st.components.v2.component("vae_lab.latent_pad", html=_HTML, css=_CSS, js=_JS)


def atlas_url(pictures: np.ndarray, levels: int = ATLAS_LEVELS) -> str:
    """Pictures ``(rows, cols, h, w)`` in [0, 1] tiled without gaps into one grey PNG data URL."""
    rows, cols, h, w = pictures.shape
    tiled = np.clip(pictures, 0, 1).transpose(0, 2, 1, 3).reshape(rows * h, cols * w)
    step = 256 // levels
    pixels = (np.round(tiled * 255 / step) * step).clip(0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def latent_pad(atlas: str, background: str, n: int, span: float, point: tuple[float, float],
               names: tuple[str, str], key: str, on_pick: Callable[[tuple[float, float]], None],
               size: int = 400, preview: int = 168, hint: str = "", large: bool = False) -> None:
    """Mount the pad. ``atlas`` holds the ``n × n`` pictures of the plane (:func:`atlas_url`, top row = the
    second dimension at ``span``), ``background`` the picture under the marker, ``point`` the marker's start;
    ``on_pick`` gets the point where the student let go (before the page reruns); ``large`` sets its text for a
    projector."""
    def picked() -> None:
        value = st.session_state.get(key, {}).get("picked")
        if value is not None and len(value) == 2:
            on_pick((float(value[0]), float(value[1])))

    _pad(key=key, data={"atlas": atlas, "background": background, "n": n, "span": span, "size": size,
                        "preview": preview, "point": [float(point[0]), float(point[1])], "names": list(names),
                        "hint": hint, "large": large},
         on_picked_change=picked, width="content")


__all__ = ["ATLAS_LEVELS", "atlas_url", "latent_pad"]
