"""Agent activity survives a restart: lines go to the ledger in batches, and come back.

A bus subscriber buffers every activity line and a task writes the buffer once a second in
one transaction (a chatty agent costs one insert batch a second, not one per line); the
table is trimmed to the last lines of each pane every 10 minutes or 20,000 lines, so a
week-long run keeps it small. Both run in a worker thread, never on the event loop that
hands slots over and draws the TUI. At start the orchestra replays each pane's last lines as `replayed` events, so the
TUI, an attached client and the zoom view show what the agents were doing before.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
import time

from conductor.core.events import AgentActivity, Event
from conductor.core.ledger import Ledger

FLUSH_S = 1.0
TRIM_S = 600.0
TRIM_ROWS = 20_000  # a chatty agent trims sooner: the table stays a few MB at most
KEEP_PER_PANE = 2000
REPLAY_PER_PANE = 200
TEXT_LIMIT = 2000


class ActivityRecorder:
    def __init__(self, ledger: Ledger):
        self.ledger = ledger
        self._buffer: list[tuple[str, float, str, str]] = []
        self._lock = threading.Lock()  # the bus may call from worker threads
        self.since_trim = 0

    def __call__(self, event: Event) -> None:
        if isinstance(event, AgentActivity) and not event.replayed:
            with self._lock:
                self._buffer.append((event.pane, event.ts, event.kind, event.text[:TEXT_LIMIT]))

    def flush(self) -> None:
        with self._lock:
            rows, self._buffer = self._buffer, []
        self.ledger.record_activity(rows)
        self.since_trim += len(rows)

    async def run(self) -> None:
        """Flush every FLUSH_S and trim every TRIM_S until cancelled; flush once more then."""
        last_trim = time.monotonic()
        try:
            while True:
                await asyncio.sleep(FLUSH_S)
                with contextlib.suppress(sqlite3.Error):  # a full disk loses these lines, not the run
                    await asyncio.to_thread(self.flush)  # the ledger's work stays off the event loop
                    if self.since_trim > TRIM_ROWS or time.monotonic() - last_trim > TRIM_S:
                        last_trim, self.since_trim = time.monotonic(), 0
                        await asyncio.to_thread(self.ledger.trim_activity, KEEP_PER_PANE)
        finally:
            with contextlib.suppress(Exception):  # a stop must not fail on the last batch
                self.flush()


def replay(ledger: Ledger, panes: list[str]) -> list[AgentActivity]:
    """Each pane's last lines from before this start, as events marked `replayed`."""
    out = []
    for pane in panes:
        for ts, kind, text in ledger.recent_activity(pane, REPLAY_PER_PANE):
            out.append(AgentActivity(pane=pane, kind=kind, text=text, replayed=True, ts=ts))
    return out
