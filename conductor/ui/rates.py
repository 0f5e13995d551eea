"""Token and dollar rates the screen shows, from usage events: sums over a sliding window."""

from __future__ import annotations

from collections import deque

RATE_WINDOW_S = 60.0


class RollingRate:
    """Sums over a sliding window: tokens per second and dollars per hour from usage events."""

    def __init__(self, window_s: float = RATE_WINDOW_S):
        self.window_s = window_s
        self._items: deque[tuple[float, float, float, float]] = deque()
        self.first_ts: float | None = None

    def add(self, ts: float, tokens_in: float, tokens_out: float, usd: float) -> None:
        if self.first_ts is None:
            self.first_ts = ts
        self._items.append((ts, tokens_in, tokens_out, usd))

    def rates(self, now: float) -> tuple[float, float, float] | None:
        """(in/s, out/s, usd/h), or None when nothing was ever counted."""
        if self.first_ts is None:
            return None
        while self._items and self._items[0][0] < now - self.window_s:
            self._items.popleft()
        span = max(1.0, min(self.window_s, now - self.first_ts))
        tin = sum(i[1] for i in self._items)
        tout = sum(i[2] for i in self._items)
        cost = sum(i[3] for i in self._items)
        return tin / span, tout / span, cost / span * 3600
