"""The quota in command: how much of each agent account's limit windows the run uses.

The token twin of GPU utilisation. Agents report each window they learn about
(`PaneSession.quota`: Claude Code's `rate_limit_event`, the Messages API's
`anthropic-ratelimit-*` headers); the book keeps the latest per account and window, saves
them in the ledger's meta (`quota`, for `conductor status --json`) and raises two alerts:
a window nearly spent, and a long window whose use lags far behind the time gone by while
panes could run (paused or done panes, idle slots): quota that will reset unused.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from conductor.core.bus import EventBus
from conductor.core.events import Alert, Event, QuotaSample

WINDOW_S = {"five_hour": 5 * 3600.0, "seven_day": 7 * 86400.0}  # seven_day_opus etc. share the length
SHORT = {"five_hour": "5h", "seven_day": "7d"}
NEARLY_SPENT = 0.9
UNUSED_AFTER = 0.25  # judge a window's pace once this much of it has gone by
UNUSED_PACE = 0.5  # ... and call it unused below this fraction of the pace
UNUSED_REPEAT_S = 1800.0
PERSIST_EVERY_S = 5.0


def window_length(window: str) -> float | None:
    for prefix, length in WINDOW_S.items():
        if window.startswith(prefix):
            return length
    return None


def short_name(window: str) -> str:
    for prefix, short in SHORT.items():
        if window.startswith(prefix):
            return short + window[len(prefix) :].replace("_", " ")
    return window


class QuotaBook:
    def __init__(self, bus: EventBus, save: Callable[[str], None], clock: Callable[[], float] = time.time):
        self.bus = bus
        self.save = save
        self.clock = clock
        self.latest: dict[tuple[str, str], QuotaSample] = {}
        self._dirty = False
        self._saved_at = 0.0
        self._told: dict[str, float] = {}

    def observe(self, event: Event) -> None:
        if not isinstance(event, QuotaSample):
            return
        self.latest[(event.account, event.window)] = event
        self._dirty = True
        u = event.utilization
        if u is not None and u >= NEARLY_SPENT and window_length(event.window):
            self._tell_once(
                f"spent:{event.account}:{event.window}:{event.resets_at}",
                "warning",
                f"quota {event.account} {short_name(event.window)}: {u:.0%} spent, resets {_hhmm(event.resets_at)}",
            )

    def tick(self, could_run: str) -> None:
        """Once a second: save what changed; `could_run` says what could use more quota ("" = nothing)."""
        now = self.clock()
        if self._dirty and now - self._saved_at >= PERSIST_EVERY_S:
            self.save(json.dumps(self.as_list()))
            self._dirty, self._saved_at = False, now
        if not could_run:
            return
        for (account, window), q in self.latest.items():
            length = window_length(window)
            if length is None or q.utilization is None or q.resets_at is None or q.resets_at <= now:
                continue
            gone = 1.0 - (q.resets_at - now) / length
            if gone >= UNUSED_AFTER and q.utilization < gone * UNUSED_PACE:
                key = f"unused:{account}:{window}"
                if now - self._told.get(key, 0.0) >= UNUSED_REPEAT_S:
                    self._told[key] = now
                    self.bus.publish(
                        Alert(
                            pane=None,
                            level="info",
                            message=f"quota {account} {short_name(window)}: {q.utilization:.0%} used with "
                            f"{gone:.0%} of the window gone while {could_run}: room for more panes",
                        )
                    )

    def as_list(self) -> list[dict]:
        return [
            {
                "account": q.account,
                "window": q.window,
                "utilization": q.utilization,
                "resets_at": q.resets_at,
                "status": q.status,
                "updated_at": q.ts,
            }
            for q in self.latest.values()
        ]

    def flush(self) -> None:
        if self._dirty:
            self.save(json.dumps(self.as_list()))
            self._dirty = False

    def _tell_once(self, key: str, level: str, message: str) -> None:
        if key not in self._told:
            self._told[key] = self.clock()
            self.bus.publish(Alert(pane=None, level=level, message=message))


def headline(samples: list[QuotaSample]) -> QuotaSample | None:
    """The window to show first: the most used of the long windows, else the most used of any."""
    known = [q for q in samples if q.utilization is not None]
    long = [q for q in known if window_length(q.window)]
    pool = long or known
    return max(pool, key=lambda q: q.utilization or 0.0) if pool else None


def _hhmm(ts: float | None) -> str:
    return time.strftime("%H:%M", time.localtime(ts)) if ts else "?"
