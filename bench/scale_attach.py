"""bench/scale.py's child: `conductor up` as it runs by default, the orchestra in a process of
its own and the TUI attached to it over the control socket, on a run dir with history.

It starts the orchestra the way `up` does (conductor/detach.py), runs the attached app on
Textual's headless driver, and prints one JSON line: wall-clock stamps (time.time()) of the
first paint, of history on screen (every pane's count in the model at least the ledger's,
and the app's next tick done), of the first new experiment the stream brings; the worst lag
of the TUI's own loop from first paint to two seconds after that experiment; and the worst
lag of the orchestra's loop over the same run, as the orchestra measured it itself
(core/loop_lag.py, from the socket's hello). Then it stops the orchestra.

    python bench/scale_attach.py CONFIG EXPECTED_ROWS
    SCALE_TUI_STACKS=1 SCALE_TUI_STALL_S=0.08 python bench/scale_attach.py ...  # what held the TUI
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import threading
import time
from pathlib import Path

import psutil
from scale_tui import TIMEOUT_S, lag_monitor, print_stalls


async def main(cfg_path: Path, expected: int) -> dict:
    from conductor.config import load_config
    from conductor.core.control_client import request
    from conductor.core.events import ExperimentFinished
    from conductor.core.remote import RemoteOrchestra
    from conductor.detach import cmd_stop, start_detached
    from conductor.ui.app import ConductorApp

    run_dir = load_config(cfg_path).runs_dir
    stamps: dict[str, float | None] = {"start": time.time(), "first_paint": None, "history": None}
    stamps["first_experiment"] = None
    await asyncio.to_thread(start_detached, cfg_path, run_dir, None, True)
    stamps["answered"] = time.time()
    remote = RemoteOrchestra(run_dir)
    remote.open()

    def on_event(event) -> None:
        if isinstance(event, ExperimentFinished) and remote.caught_up and stamps["first_experiment"] is None:
            stamps["first_experiment"] = time.time()

    remote.bus.subscribe(on_event)
    app = ConductorApp(engine=remote)
    worst = [0.0]
    lag: dict = {}
    try:
        async with app.run_test(size=(200, 50)) as pilot:
            stamps["first_paint"] = time.time()
            beat = [0.0]
            monitor = asyncio.create_task(lag_monitor(worst, beat))
            if os.environ.get("SCALE_TUI_STACKS"):  # what held the TUI's loop
                threading.Thread(target=print_stalls, args=(beat, threading.get_ident()), daemon=True).start()
            deadline = time.monotonic() + TIMEOUT_S
            while time.monotonic() < deadline:
                shown = sum(p.tally.experiments for p in app.model.panes.values())
                if stamps["history"] is None and app.model.panes and shown >= expected:
                    ticks = app._ticks
                    while app._ticks == ticks:
                        await asyncio.sleep(0.005)
                    stamps["history"] = time.time()
                first = stamps["first_experiment"]
                if stamps["history"] and first and time.time() > first + 2:
                    break
                await asyncio.sleep(0.02)
            monitor.cancel()
            lag = (await asyncio.to_thread(request, run_dir, {"type": "hello"}))["loop_lag"]
            remote.stop()  # detach; the orchestra is stopped below, as `conductor stop` does
            await pilot.pause()
    finally:
        remote.close()
        await asyncio.to_thread(cmd_stop, run_dir)
    return {
        **stamps,
        "tui_worst_lag_ms": worst[0] * 1000,
        "orchestra_worst_lag_ms": lag.get("worst_ms"),
        "orchestra_lag_ticks": lag.get("ticks"),
        "rss_mib": psutil.Process().memory_info().rss / 2**20,
    }


if __name__ == "__main__":
    result = asyncio.run(main(Path(sys.argv[1]), int(sys.argv[2])))
    print(json.dumps(result))
