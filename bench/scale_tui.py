"""bench/scale.py's child: the TUI over an in-process orchestra on a run dir with history.

What `conductor up` does (the app and the orchestra on one event loop), on Textual's headless
driver. Prints one JSON line of wall-clock stamps (time.time()): first paint (the app's first
refresh), history on screen (every pane's experiment count in the model at least the
ledger's, and the app's next tick, which draws it, done; and the process's CPU seconds by then), the first new experiment recorded, and the worst event-loop lag seen from first paint to
two seconds after that experiment (a 10 ms sleep that woke late, by how much).

    python bench/scale_tui.py CONFIG EXPECTED_ROWS
    SCALE_TUI_STACKS=1 python bench/scale_tui.py ...   # and print what held the loop past 0.3 s
    (SCALE_TUI_STALL_S=0.08 sets that threshold)
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import threading
import time
import traceback
from pathlib import Path

import psutil

TICK_S = 0.01
TIMEOUT_S = 120.0
STALL_S = float(os.environ.get("SCALE_TUI_STALL_S", "0.3"))  # SCALE_TUI_STACKS prints stalls past this


async def lag_monitor(worst: list[float], beat: list[float]) -> None:
    while True:
        t = time.perf_counter()
        await asyncio.sleep(TICK_S)
        beat[0] = time.perf_counter()
        lag = beat[0] - t - TICK_S
        worst[0] = max(worst[0], lag)
        if lag > STALL_S and os.environ.get("SCALE_TUI_STACKS"):
            print(f"^^^ the loop was held {lag * 1000:.0f} ms\n", file=sys.stderr, flush=True)


def print_stalls(beat: list[float], loop_thread: int) -> None:
    """A watchdog thread: the loop's stack whenever it has not ticked for STALL_S."""
    shown = 0.0
    while True:
        time.sleep(STALL_S / 3)
        if beat[0] and time.perf_counter() - beat[0] > STALL_S and beat[0] != shown:
            shown = beat[0]
            frame = sys._current_frames().get(loop_thread)
            print("".join(traceback.format_stack(frame)[-12:]), file=sys.stderr, flush=True)


async def main(cfg_path: Path, expected: int) -> dict:
    worst = [0.0]
    from conductor.agents.base import create_agent
    from conductor.config import load_config
    from conductor.core.events import ExperimentFinished
    from conductor.core.orchestra import Orchestra
    from conductor.ui.app import ConductorApp

    orch = Orchestra(load_config(cfg_path), agent_factory=create_agent)
    orch.open()
    stamps: dict[str, float | None] = {"first_paint": None, "history": None, "history_cpu": None}
    stamps["first_experiment"] = None

    def on_event(event) -> None:
        if isinstance(event, ExperimentFinished) and stamps["first_experiment"] is None:
            stamps["first_experiment"] = time.time()

    orch.bus.subscribe(on_event)
    app = ConductorApp(engine=orch)
    try:
        async with app.run_test(size=(200, 50)) as pilot:
            stamps["first_paint"] = time.time()
            beat = [0.0]
            monitor = asyncio.create_task(lag_monitor(worst, beat))
            if os.environ.get("SCALE_TUI_STACKS"):
                args = (beat, threading.get_ident())
                threading.Thread(target=print_stalls, args=args, daemon=True).start()
            deadline = time.monotonic() + TIMEOUT_S
            while time.monotonic() < deadline:
                shown = sum(p.tally.experiments for p in app.model.panes.values())
                if stamps["history"] is None and app.model.panes and shown >= expected:
                    ticks = app._ticks
                    while app._ticks == ticks:  # the app's next tick draws it (pilot.pause() would
                        await asyncio.sleep(0.005)  # wait for the whole start's messages to drain)
                    await asyncio.sleep(0)
                    stamps["history"] = time.time()
                    stamps["history_cpu"] = time.process_time()
                first = stamps["first_experiment"]
                if stamps["history"] and first and time.time() > first + 2:
                    break
                await asyncio.sleep(0.02)
            monitor.cancel()  # the window ends here: what a stop does is not the steady state
            orch.stop()
            await pilot.pause()
    finally:
        orch.close()
    return {**stamps, "worst_lag_ms": worst[0] * 1000, "rss_mib": psutil.Process().memory_info().rss / 2**20}


if __name__ == "__main__":
    result = asyncio.run(main(Path(sys.argv[1]), int(sys.argv[2])))
    print(json.dumps(result))
