"""Rolling token and cost meters, per pane and for the whole orchestra.

The meters listen to `TokenUsage` events (exact counts from the API, cost from the price
table) and turn them into what a pane shows: tokens/s in and out and dollars per hour over
the last minute, plus dollars so far. `due()` returns `TokenRates` events only for meters
whose shown values changed, so a publisher calling it once a second never floods the bus.
Pane "" is the orchestra total. "In" counts every input token the model read: uncached
input, cache writes and cache reads.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

from conductor.core.events import Event, TokenRates, TokenUsage

WINDOW_S = 60.0
TOTAL = ""  # the orchestra's meter


class RollingMeter:
    """Sums over a sliding window of (time, tokens in, tokens out, usd) samples."""

    def __init__(self, window_s: float = WINDOW_S, usd_total: float = 0.0):
        self.window_s = window_s
        self.usd_total = usd_total
        self._samples: deque[tuple[float, int, int, float]] = deque()

    def add(self, t: float, tokens_in: int, tokens_out: int, usd: float) -> None:
        self._samples.append((t, tokens_in, tokens_out, usd))
        self.usd_total += usd

    def rates(self, now: float) -> tuple[float, float, float]:
        """(tokens in per second, tokens out per second, usd per hour) over the window."""
        while self._samples and self._samples[0][0] <= now - self.window_s:
            self._samples.popleft()
        tin = sum(s[1] for s in self._samples)
        tout = sum(s[2] for s in self._samples)
        usd = sum(s[3] for s in self._samples)
        return tin / self.window_s, tout / self.window_s, usd * 3600.0 / self.window_s


class TokenMeters:
    """One meter per pane plus the total; a cheap, non-blocking bus subscriber."""

    def __init__(
        self,
        window_s: float = WINDOW_S,
        usd_totals: dict[str, float] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.window_s = window_s
        self.clock = clock
        self.meters: dict[str, RollingMeter] = {}
        for pane, usd in (usd_totals or {}).items():
            self._meter(pane).usd_total = usd
        self._meter(TOTAL).usd_total = sum((usd_totals or {}).values())
        self._shown: dict[str, tuple] = {}

    def _meter(self, pane: str) -> RollingMeter:
        meter = self.meters.get(pane)
        if meter is None:
            meter = self.meters[pane] = RollingMeter(self.window_s)
        return meter

    def observe(self, event: Event) -> None:
        if not isinstance(event, TokenUsage):
            return
        now = self.clock()
        tokens_in = event.input + event.cache_write + event.cache_read
        self._meter(event.pane).add(now, tokens_in, event.output, event.usd)
        self._meter(TOTAL).add(now, tokens_in, event.output, event.usd)

    def due(self) -> list[TokenRates]:
        """Rates events for every meter whose displayed values changed since the last call."""
        now = self.clock()
        out = []
        for pane, meter in self.meters.items():
            tin, tout, usd_h = meter.rates(now)
            shown = (round(tin, 1), round(tout, 1), round(usd_h, 4), round(meter.usd_total, 6))
            if self._shown.get(pane) == shown:
                continue
            if pane not in self._shown and not any(shown):
                continue  # nothing to say yet
            self._shown[pane] = shown
            out.append(
                TokenRates(pane=pane, in_per_s=shown[0], out_per_s=shown[1], usd_per_h=shown[2], usd_total=shown[3])
            )
        return out
