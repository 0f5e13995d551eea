"""Engine events into the UI without ever rendering per event.

The bridge is an EventBus subscriber: it only appends the event to a buffer (activity to a
bounded per-pane deque, everything else to one low-rate queue) and returns. The app's
refresh timer calls `drain()`, which folds the buffered events into the RunModel; widgets
are drawn afterwards, once, inside a batch update (bench/tui_load.py measures this against
folding and drawing on every event).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from conductor.core.events import AgentActivity, Event, ExperimentFinished, RunStarted
from conductor.ui.model import RunModel

ACTIVITY_BUFFER = 2000


class Bridge:
    def __init__(self, model: RunModel, on_run_started: Callable[[RunStarted], None] | None = None):
        self.model = model
        self.on_run_started = on_run_started
        self._facts: deque[Event] = deque()
        self._activity: dict[str, deque[AgentActivity]] = {}
        self._held: deque[Event] = deque()  # results that wait for the history to be loaded first
        self.holding = False

    def hold(self) -> None:
        """Keep new results back while the ledger's history is folded in (in pieces), so each
        pane's standings fold in order."""
        self.holding = True

    def release(self) -> None:
        self.holding = False
        self._facts.extendleft(reversed(self._held))
        self._held.clear()

    def __call__(self, event: Event) -> None:
        """The bus subscriber: cheap, non-blocking, no widget work. A pane's activity beyond
        ACTIVITY_BUFFER lines between two drains drops its oldest lines."""
        if isinstance(event, AgentActivity):
            buf = self._activity.get(event.pane)
            if buf is None:
                buf = self._activity[event.pane] = deque(maxlen=ACTIVITY_BUFFER)
            buf.append(event)
        else:
            self._facts.append(event)

    @property
    def pending(self) -> bool:
        return bool(self._facts) or any(self._activity.values())

    def drain(self) -> bool:
        """Fold everything buffered into the model. True when anything arrived."""
        if not self.pending:
            return False
        facts = self._facts
        while facts:
            event = facts.popleft()
            if self.holding and (self._held or isinstance(event, ExperimentFinished)):
                self._held.append(event)  # and what follows it, so no pane's events change order
                continue
            self.model.apply(event)
            if isinstance(event, RunStarted) and self.on_run_started is not None:
                self.on_run_started(event)
        for buf in self._activity.values():
            while buf:
                self.model.apply(buf.popleft())
        return True
