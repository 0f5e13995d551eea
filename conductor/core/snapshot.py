"""What a client that attaches mid-run needs to draw the same screen: a compact replay.

A bus subscriber that keeps, per pane, the latest state, recent experiments, recent
activity, meters, and per slot the latest sample, plus recent alerts and pauses (what an
attached TUI's "while you were away" counts). `events()` returns
them as ordinary engine events (RunStarted first), so an attached TUI builds its state the
same way a local one does: by consuming events. Memory is bounded by the deque sizes.
"""

from __future__ import annotations

from collections import deque

from conductor.core.events import (
    AgentActivity,
    Alert,
    Event,
    ExperimentFinished,
    ExperimentStarted,
    HostSample,
    PaneDone,
    PaneState,
    QuotaSample,
    RunStarted,
    SlotSample,
    TokenRates,
    TokenUsage,
)

EXPERIMENTS_PER_PANE = 50
ACTIVITY_PER_PANE = 200
ALERTS = 50


class Snapshot:
    def __init__(self) -> None:
        self.run: RunStarted | None = None
        self.states: dict[str, PaneState] = {}
        self.running: dict[str, ExperimentStarted] = {}
        self.experiments: dict[str, deque] = {}
        self.activity: dict[str, deque] = {}
        self.usage: dict[str, TokenUsage] = {}
        self.rates: dict[str, TokenRates] = {}
        self.slots: dict[str, SlotSample] = {}
        self.host: HostSample | None = None
        self.alerts: deque = deque(maxlen=ALERTS)
        self.pauses: deque = deque(maxlen=ALERTS)  # pane states paused and error, as they happened
        self.done: dict[str, PaneDone] = {}
        self.quota: dict[tuple[str, str], QuotaSample] = {}

    def __call__(self, e: Event) -> None:
        if isinstance(e, RunStarted):
            self.run = e
        elif isinstance(e, PaneState):
            self.states[e.pane] = e
            if e.state in ("paused", "error"):
                self.pauses.append(e)
        elif isinstance(e, ExperimentStarted):
            self.running[e.pane] = e
        elif isinstance(e, ExperimentFinished):
            self.running.pop(e.pane, None)
            self.experiments.setdefault(e.pane, deque(maxlen=EXPERIMENTS_PER_PANE)).append(e)
        elif isinstance(e, AgentActivity):
            self.activity.setdefault(e.pane, deque(maxlen=ACTIVITY_PER_PANE)).append(e)
        elif isinstance(e, TokenUsage):
            self.usage[e.pane] = e
        elif isinstance(e, TokenRates):
            self.rates[e.pane] = e
        elif isinstance(e, SlotSample):
            self.slots[e.slot] = e
        elif isinstance(e, HostSample):
            self.host = e
        elif isinstance(e, Alert):
            self.alerts.append(e)
        elif isinstance(e, PaneDone):
            self.done[e.pane] = e
        elif isinstance(e, QuotaSample):
            self.quota[(e.account, e.window)] = e

    def events(self) -> list[Event]:
        """The replay: RunStarted first, then everything kept in the order it happened."""
        kept: list[Event] = []
        for group in (*self.experiments.values(), *self.activity.values(), self.alerts, self.pauses):
            kept += list(group)
        kept += [*self.usage.values(), *self.rates.values(), *self.slots.values(), *self.running.values()]
        kept += list(self.quota.values())
        kept += [*self.done.values(), *self.states.values()]
        if self.host:
            kept.append(self.host)
        kept.sort(key=lambda e: e.ts)
        return ([self.run] if self.run else []) + kept
