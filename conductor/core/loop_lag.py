"""How late the orchestra's event loop wakes: measured inside the process that hands off slots.

Every hand-off, record and stop waits for this loop, so its lag is the delay a slot can sit
idle for reasons of our own. A detached orchestra (the one `conductor up` attaches to) has no
bench beside it in the process, so it keeps this figure itself and answers it in the control
socket's `hello` (bench/scale.py reads it from there). A short sleep that wakes late says by
how much: stalls shorter than the tick are missed by at most the tick.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque

TICK_S = 0.02
WINDOW_S = 60.0  # "recent": the worst of the last minute
KEPT = 4096  # lags past NOTED_S kept for the window; older ones fall off first
NOTED_S = 0.005


class LoopLag:
    def __init__(self) -> None:
        self.worst_s = 0.0
        self.started = time.time()
        self.ticks = 0
        self._recent: deque[tuple[float, float]] = deque(maxlen=KEPT)  # (when, lag)

    def note(self, lag_s: float, now: float | None = None) -> None:
        self.ticks += 1
        if lag_s > self.worst_s:
            self.worst_s = lag_s
        if lag_s > NOTED_S:
            self._recent.append((time.time() if now is None else now, lag_s))

    def recent_worst_s(self, now: float | None = None) -> float:
        since = (time.time() if now is None else now) - WINDOW_S
        return max((lag for when, lag in self._recent if when >= since), default=0.0)

    def report(self) -> dict:
        """What `hello` answers: the worst lag since the start and over the last minute, in ms."""
        return {
            "worst_ms": round(self.worst_s * 1000, 1),
            "last_minute_ms": round(self.recent_worst_s() * 1000, 1),
            "since": round(self.started, 3),
            "ticks": self.ticks,
        }

    async def run(self) -> None:
        self.started = time.time()
        while True:
            before = time.perf_counter()
            await asyncio.sleep(TICK_S)
            self.note(max(0.0, time.perf_counter() - before - TICK_S))
