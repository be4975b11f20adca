"""The app's websocket protocol from the outside: simulated students for ``python -m vae_core bench serve
--client protocol``, without browsers.

Each student speaks Streamlit's own protocol (the protobuf messages the page's JavaScript sends and receives): it
asks for a page, reads every element the server sends until the run ends, and downloads the page's images over
HTTP, as a browser would; then it moves a slider as an arrow key would (the widget's new value, sent as a rerun of
the slider's fragment). What it measures is the server's side of a class whose browsers run on the students' own
machines. It lives here, not in ``vae_core``, because only the app's side may import streamlit.

    python -m lab_ui.protocol_client http://127.0.0.1:8501 --page image-separation \
        --slider "Mixing weight w of the digit" --moves 3 ada bob

prints one JSON list (one result per student) as its last line. With ``--click "Start training" --page train``
it is instead one student who presses the button and then keeps the page live as an open tab does (each fragment
that asked for it rerun at its interval) until SIGTERM, then prints how many fragment reruns it made:
``bench watch-quick --client protocol``.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import signal
import time
import urllib.request
from typing import Any, Sequence

from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ClientState_pb2 import ClientState
from streamlit.proto.Common_pb2 import DoubleArray
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState, WidgetStates
from websockets.asyncio.client import connect  # installed with streamlit's server

TIMEOUT_S = 300.0


def _fetch(url: str) -> int:
    with urllib.request.urlopen(url, timeout=TIMEOUT_S) as r:
        return len(r.read())


class ProtocolStudent:
    """One student's session with the server."""

    def __init__(self, base: str, page: str, query: str):
        self.base, self.page, self.query = base, page, query
        self.page_hash = ""
        self.sliders: dict[str, Any] = {}  # label -> (the slider element as last drawn, its fragment id)
        self.values: dict[str, float] = {}  # label -> the value this student set (the element keeps its default)
        self.buttons: dict[str, str] = {}  # label -> widget id
        self.auto: dict[str, float] = {}  # fragment id -> seconds between the reruns it asked for (run_every)
        self.auto_reruns = 0
        self.images: list[str] = []
        self.page_not_found = False
        self.ws: Any = None

    async def _run(self, widgets: Sequence[WidgetState] = (), fragment_id: str = "", auto: bool = False) -> None:
        """Send one rerun request, read the server's messages until the run (or fragment run) has ended, then
        fetch the images it drew."""
        state = ClientState(query_string=self.query, page_script_hash=self.page_hash,
                            page_name="" if self.page_hash else self.page,
                            widget_states=WidgetStates(widgets=list(widgets)), fragment_id=fragment_id,
                            is_auto_rerun=auto)
        await self.ws.send(BackMsg(rerun_script=state).SerializeToString())
        self.images = []
        full = not fragment_id
        while True:
            msg = ForwardMsg.FromString(await self.ws.recv())
            kind = msg.WhichOneof("type")
            if kind == "new_session":  # every run starts with one, fragment runs too
                self.page_hash = msg.new_session.page_script_hash
                if full:  # a full run's fragments ask for their reruns anew
                    self.auto.clear()
            elif kind == "auto_rerun":
                self.auto[msg.auto_rerun.fragment_id] = msg.auto_rerun.interval
            elif kind == "stop_auto_rerun":
                for fragment in msg.stop_auto_rerun.fragment_ids:
                    self.auto.pop(fragment, None)
            elif kind == "page_not_found":
                self.page_not_found = True
            elif kind == "delta" and msg.delta.WhichOneof("type") == "new_element":
                element = msg.delta.new_element
                what = element.WhichOneof("type")
                if what == "slider":
                    self.sliders[element.slider.label] = (element.slider, msg.delta.fragment_id)
                elif what == "button":
                    self.buttons[element.button.label] = element.button.id
                elif what == "imgs":
                    self.images += [img.url for img in element.imgs.imgs]
            elif kind == "script_finished":
                if msg.script_finished != ForwardMsg.FINISHED_EARLY_FOR_RERUN:
                    break
                full = True  # st.rerun(): the server starts a full run itself
        await asyncio.gather(*[asyncio.to_thread(_fetch, self.base + url) for url in self.images
                               if url.startswith("/")])

    async def open(self) -> float:
        """Connect and draw the page; returns the seconds it took."""
        t0 = time.perf_counter()
        url = self.base.replace("http://", "ws://", 1) + "/_stcore/stream"
        self.ws = await connect(url, subprotocols=["streamlit"], max_size=None, open_timeout=TIMEOUT_S)
        await self._run()
        return time.perf_counter() - t0

    async def move_slider(self, label: str) -> float:
        """Move slider ``label`` one step right (left at its end); returns the seconds until the rerun's images
        arrived."""
        slider, fragment = self.sliders[label]
        value = self.values.get(label, (list(slider.value) if slider.set_value else list(slider.default))[0])
        value = value + slider.step if value + slider.step <= slider.max + 1e-9 else value - slider.step
        self.values[label] = value
        before = set(self.images)
        t0 = time.perf_counter()
        await self._run([WidgetState(id=slider.id, double_array_value=DoubleArray(data=[value]))], fragment)
        if not set(self.images) - before:  # images are addressed by their content: a new value draws new ones
            raise RuntimeError("the slider move drew no new image")
        return time.perf_counter() - t0

    async def click(self, label: str) -> None:
        """Press button ``label`` and wait for the run it starts."""
        await self._run([WidgetState(id=self.buttons[label], trigger_value=True)])

    async def follow(self) -> None:
        """Stay on the page as an open browser tab does: rerun each fragment that asked for it (``run_every``)
        every time its interval has passed, until cancelled."""
        due: dict[str, float] = {}
        while True:
            now = time.monotonic()
            for fragment in list(due):
                if fragment not in self.auto:
                    del due[fragment]
            for fragment, interval in self.auto.items():
                due.setdefault(fragment, now + interval)
            ready = [f for f, t in due.items() if t <= now]
            if not ready:
                await asyncio.sleep(min([t - now for t in due.values()] or [0.5]))
                continue
            for fragment in ready:
                due[fragment] = now + self.auto.get(fragment, 0.0)
                await self._run(fragment_id=fragment, auto=True)
                self.auto_reruns += 1

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()


async def student(base: str, page: str, slider: str, moves: int, name: str) -> dict[str, Any]:
    """Open ``page`` as student ``name``, then move ``slider`` ``moves`` times; the latencies."""
    result: dict[str, Any] = {"first_render_s": None, "slider_s": [], "page_not_found": False, "error": None}
    s = ProtocolStudent(base, page, f"who={name}")
    try:
        result["first_render_s"] = await asyncio.wait_for(s.open(), TIMEOUT_S)
        result["page_not_found"] = s.page_not_found
        for _ in range(moves):
            result["slider_s"].append(await asyncio.wait_for(s.move_slider(slider), TIMEOUT_S))
    except Exception as exc:  # noqa: BLE001 - one student's failure is a number of the report, not a crash
        result["error"] = f"{type(exc).__name__}: {exc}"
    finally:
        await s.close()
    return result


async def watcher(base: str, page: str, button: str, name: str) -> dict[str, Any]:
    """Open ``page`` as ``name``, press ``button``, then keep the page live until SIGTERM; returns how many
    fragment reruns it made."""
    s = ProtocolStudent(base, page, f"who={name}")
    task = asyncio.current_task()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    try:
        await s.open()
        await s.click(button)
        await s.follow()
    except asyncio.CancelledError:
        pass
    finally:
        await s.close()
    return {"fragment_reruns": s.auto_reruns}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m lab_ui.protocol_client", description=__doc__.split("\n")[0])
    parser.add_argument("base", help="the app's address, e.g. http://127.0.0.1:8501")
    parser.add_argument("names", nargs="+", help="one student name per simulated session")
    parser.add_argument("--page", default="image-separation")
    parser.add_argument("--slider", default="Mixing weight w of the digit")
    parser.add_argument("--moves", type=int, default=3)
    parser.add_argument("--click", default=None, help="instead: press this button, then keep the page live (as an "
                                                      "open tab) until stopped; one student")
    args = parser.parse_args(argv)
    if args.click:
        print(json.dumps(asyncio.run(watcher(args.base, args.page, args.click, args.names[0]))))
        return

    async def everyone() -> list[dict[str, Any]]:
        return await asyncio.gather(*[student(args.base, args.page, args.slider, args.moves, n) for n in args.names])

    print(json.dumps(asyncio.run(everyone())))


if __name__ == "__main__":
    main()
