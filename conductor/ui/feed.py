"""What happened, across every pane, in one stream: the feed behind the `f` screen and the
"while you were away" summary an attached TUI shows first.

A feed line is made from an engine event before the model folds it (so a state is news only
when it changes): new bests, crashes, rejected and interrupted runs, alerts, pauses, failures
and finished panes. Rows read from the ledger make none; an attached TUI's replay (the
orchestra's recent events) does, which is what its "while you were away" counts. Pure:
events and the model in, lines out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from conductor.core.events import Alert, Event, ExperimentFinished, PaneDone, PaneState
from conductor.core.record import Status
from conductor.ui import format as f

if TYPE_CHECKING:
    from conductor.ui.model import RunModel

FEED_LINES = 2000
NEWS_STATES = {"paused": "pause", "error": "failure"}


@dataclass(frozen=True)
class FeedLine:
    ts: float
    pane: str  # "" for the whole run
    kind: str  # best | crash | rejected | interrupted | alert | pause | failure | done
    text: str  # content markup


def feed_line(run: RunModel, e: Event) -> FeedLine | None:
    """The line an event adds to the feed, or None when it is no news."""
    if isinstance(e, ExperimentFinished):
        desc = f" [$muted]{f.esc(e.description)}[/]" if e.description else ""
        if e.status == Status.KEEP and not e.is_baseline:
            change = f" [$keep]{f.delta(e.delta)}[/]" if e.delta is not None else ""
            return FeedLine(e.ts, e.pane, "best", f"[$keep]new best[/] {f.metric(e.metric)}{change}{desc}")
        if e.status in (Status.CRASH, Status.REJECTED, Status.INTERRUPTED):
            why = f" [$muted]({f.esc(e.reason)})[/]" if e.reason else ""
            style = {"crash": "$crash", "rejected": "$rejected"}.get(str(e.status), "$muted")
            return FeedLine(e.ts, e.pane, str(e.status), f"[{style}]{e.status}[/]{desc}{why}")
        return None
    if isinstance(e, Alert) and e.level in ("warning", "error"):
        style = "$crash" if e.level == "error" else "$warm"
        return FeedLine(e.ts, e.pane or "", "alert", f"[{style}]{e.level}[/] {f.esc(e.message)}")
    if isinstance(e, PaneState) and e.state in NEWS_STATES:
        p = run.panes.get(e.pane)
        if p is not None and p.state == e.state:
            return None
        detail = f" [$muted]{f.esc(e.detail)}[/]" if e.detail else ""
        return FeedLine(e.ts, e.pane, NEWS_STATES[e.state], f"[$warm]{e.state}[/]{detail}")
    if isinstance(e, PaneDone):
        return FeedLine(e.ts, e.pane, "done", f"[$muted]done: {f.esc(e.reason)}[/]")
    return None


AWAY_KINDS = (("best", "new best", "new bests"), ("crash", "crash", "crashes"), ("alert", "alert", "alerts"))


def away_summary(lines: list[FeedLine], since: float, order: list[str]) -> list[str]:
    """Per pane (in `order`), what happened after `since`: new bests, crashes, alerts, pauses."""
    out = []
    for pane in [*order, ""]:
        mine = [line for line in lines if line.pane == pane and line.ts > since]
        parts = []
        for kind, one, many in (*AWAY_KINDS, ("pause", "pause", "pauses"), ("failure", "failure", "failures")):
            n = sum(line.kind == kind for line in mine)
            if n:
                parts.append(f"{n} {one if n == 1 else many}")
        if parts:
            best = next((line for line in reversed(mine) if line.kind == "best"), None)
            latest = f"  [$muted]last:[/] {best.text}" if best is not None else ""
            out.append(f"[b]{f.esc(pane or 'run')}[/]: {', '.join(parts)}{latest}")
    return out
