"""Which engine events the researcher hears about, in one line each.

Kinds (the `[notify] events` names): new_best, paused (a crash streak or a budget: not
the researcher's own pause), stuck (a plateau, a pane stopped on an error), rate_limited (a pane
waiting on a usage limit for longer than `rate_limited_after_s`), quota (the quota alerts)
and finished.
"""

from __future__ import annotations

from dataclasses import dataclass

from conductor.core.events import Alert, Event, ExperimentFinished, PaneState, RunFinished

QUOTA_PREFIX = "quota "  # the quota alerts' messages start so (core/quota.py)


@dataclass(frozen=True)
class Notice:
    kind: str
    text: str


class NoticeWatch:
    """Events in, notices out; `due(now)` gives the notices that only time makes (rate_limited)."""

    def __init__(self, wanted: tuple[str, ...], rate_limited_after_s: float):
        self.wanted = set(wanted)
        self.rate_limited_after_s = rate_limited_after_s
        self._waiting: dict[str, tuple[float, str, bool]] = {}  # pane -> (since, detail, told)

    def observe(self, event: Event) -> list[Notice]:
        notices = self._notices(event)
        return [n for n in notices if n.kind in self.wanted]

    def due(self, now: float) -> list[Notice]:
        out = []
        for pane, (since, detail, told) in list(self._waiting.items()):
            if not told and now - since >= self.rate_limited_after_s:
                self._waiting[pane] = (since, detail, True)
                out.append(Notice("rate_limited", f"{pane} has waited {(now - since) / 60:.0f} min: {detail}"))
        return [n for n in out if n.kind in self.wanted]

    def _notices(self, event: Event) -> list[Notice]:
        if isinstance(event, ExperimentFinished) and event.status == "keep" and not event.is_baseline:
            delta = f" ({event.delta:+.4g})" if event.delta is not None else ""
            best = f"{event.best:.6g}" if event.best is not None else "?"
            return [
                Notice(
                    "new_best",
                    f"{event.pane}: new best {event.metric_name} {best}{delta} #{event.seq} {event.description}",
                )
            ]
        if isinstance(event, PaneState):
            return self._pane_state(event)
        if isinstance(event, Alert):
            return self._alert(event)
        if isinstance(event, RunFinished):
            return [Notice("finished", f"run finished: {event.reason}")]
        return []

    def _alert(self, event: Alert) -> list[Notice]:
        line = event.message.split("\n", 1)[0]
        where = f"{event.pane}: " if event.pane else ""
        if "crashes in a row: paused" in line or line.startswith(("budget reached", "orchestra budget reached")):
            return [Notice("paused", where + line)]
        if line.startswith("plateau"):
            return [Notice("stuck", where + line)]
        if line.startswith(QUOTA_PREFIX):
            return [Notice("quota", line)]
        return []

    def _pane_state(self, event: PaneState) -> list[Notice]:
        if event.state == "waiting" and "usage limit" in event.detail:
            since, _, told = self._waiting.get(event.pane, (event.since, "", False))
            self._waiting[event.pane] = (since, event.detail, told)
            return []
        self._waiting.pop(event.pane, None)
        if event.state == "error":
            return [Notice("stuck", f"{event.pane} stopped: {event.detail}")]
        return []
