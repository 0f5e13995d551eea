"""Fan-out of engine events to whoever listens (printer, TUI buffer, socket clients).

Subscribers must be cheap and non-blocking: they append to a buffer or write a line. One
that raises is dropped from the bus rather than allowed to stop the engine.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from conductor.core.events import Event

log = logging.getLogger(__name__)
Subscriber = Callable[[Event], None]


class EventBus:
    def __init__(self) -> None:
        self._subs: list[Subscriber] = []

    def subscribe(self, fn: Subscriber) -> Callable[[], None]:
        self._subs.append(fn)
        return lambda: self._subs.remove(fn) if fn in self._subs else None

    def publish(self, event: Event) -> None:
        for fn in list(self._subs):
            try:
                fn(event)
            except Exception:  # a broken listener must never stop a research loop
                log.exception("event subscriber failed; dropping it")
                if fn in self._subs:
                    self._subs.remove(fn)
