"""The headless view: one readable line (or one JSON object) per engine event.

Used by `conductor run` and `conductor demo --headless`. It is just another subscriber of
the event bus, like the TUI; high-rate meters are left out of the text form.
"""

from __future__ import annotations

import json
import sys
import time
from typing import TextIO

from conductor.core.events import (
    AgentActivity,
    Alert,
    Event,
    ExperimentFinished,
    ExperimentStarted,
    HostSample,
    PaneDone,
    RunFinished,
    RunStarted,
    SlotSample,
)
from conductor.core.record import Status

_QUIET_TYPES = {"token_rates", "slot_sample", "host_sample", "token_usage", "pane_state"}
SAMPLE_EVERY_S = 10.0  # --json: a slot's or the host's sample when it changed, else this often


class Printer:
    def __init__(self, out: TextIO | None = None, as_json: bool = False):
        self.out = out or sys.stdout
        self.as_json = as_json
        self._samples: dict[str, tuple[float, tuple]] = {}  # slot ("" = host) -> (when printed, what)
        self._failed: dict[str, str] = {}  # pane -> the error it failed with, printed once

    def __call__(self, event: Event) -> None:
        if getattr(event, "replayed", False):
            return  # printed when it happened, by the conductor that ran then
        if self.as_json:
            if not self._thinned(event):
                self._emit(json.dumps(event.to_dict(), default=str))
            return
        if event.type in _QUIET_TYPES:
            return
        line = self.format(event)
        if isinstance(event, Alert) and event.level == "error" and event.pane:
            self._failed[event.pane] = event.message
        if isinstance(event, PaneDone) and self._failed.get(event.pane) == event.reason:
            line = f"[{event.pane}] stopped by the error above"
        if line:
            self._emit(f"{time.strftime('%H:%M:%S', time.localtime(event.ts))} {line}")

    def _thinned(self, e: Event) -> bool:
        """A 1 Hz meter sample that says nothing new: left out of --json."""
        if isinstance(e, SlotSample):
            key, what = e.slot, (e.busy, e.pane, None if e.util is None else round(e.util, -1))
        elif isinstance(e, HostSample):
            key, what = "", (round(e.cpu_percent, -1),)
        else:
            return False
        last = self._samples.get(key)
        if last is not None and last[1] == what and e.ts - last[0] < SAMPLE_EVERY_S:
            return True
        self._samples[key] = (e.ts, what)
        return False

    def _emit(self, line: str) -> None:
        self.out.write(line + "\n")
        self.out.flush()

    @staticmethod
    def format(e: Event) -> str | None:
        if isinstance(e, RunStarted):
            verb = "resuming" if e.resumed else "starting"
            names = ", ".join(p["name"] for p in e.panes)
            return f"{verb} run {e.run} in {e.run_dir}: {len(e.panes)} pane(s) [{names}] on {len(e.slots)} slot(s)"
        if isinstance(e, ExperimentStarted):
            return f"[{e.pane}] #{e.seq} running {e.commit[:7]} on {e.slot}: {e.description}"
        if isinstance(e, ExperimentFinished):
            metric = f"{e.metric_name} {e.metric:.6f}" if e.metric is not None else f"{e.metric_name} -"
            delta = f" ({e.delta:+.6f})" if e.delta is not None else ""
            best = f"  best {e.best:.6f}" if e.best is not None else ""
            tag = "baseline" if e.is_baseline else e.status
            why = f"  [{e.reason}]" if e.status in (Status.CRASH, Status.REJECTED, Status.INTERRUPTED) else ""
            return (
                f"[{e.pane}] #{e.seq} {tag:<8} {metric}{delta}{best}  {e.duration_s:.1f}s  {e.commit[:7]}"
                f"  {e.description}{why}"
            )
        if isinstance(e, Alert):
            where = f"[{e.pane}] " if e.pane else ""
            return f"{where}{e.level}: {e.message}"
        if isinstance(e, AgentActivity) and e.kind in ("info", "error", "researcher"):
            return f"[{e.pane}] {e.kind}: {e.text}"
        if isinstance(e, PaneDone):
            return f"[{e.pane}] done: {e.reason}"
        if isinstance(e, RunFinished):
            return f"run finished: {e.reason}"
        return None
