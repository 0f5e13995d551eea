"""What the TUI needs of a resumed run's history, read in a few queries whatever its length.

A card shows a pane's counts, best, baseline, its last RECENT_EXPERIMENTS results and a
sparkline of its running best over the last BEST_SERIES; the top bar the run's rate over the
last hour. Folding every row of a week's history into the model for that took tens of
seconds at 50,000 experiments. Here the counts come from the standings (the fold the
orchestra keeps, core/standings_checkpoint.py) and only each pane's last rows are read;
all of it on a read-only connection of its own, in one read transaction, so the counts and
the rows agree to the row (the model skips the results it has read, by seq).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from conductor.core.ledger import Ledger
from conductor.core.record import ExperimentRecord
from conductor.core.standings import Tally
from conductor.core.standings_sql import standings_from_ledger

HOUR_S = 3600.0


@dataclass(frozen=True)
class PaneSeed:
    total: Tally  # every row's standings
    tail: list[ExperimentRecord]  # the last rows, oldest first
    best_before: float | None  # the running best just before the tail
    baseline_before: float | None  # the last baseline's metric before the tail
    usd: float


@dataclass(frozen=True)
class HistorySeed:
    panes: dict[str, PaneSeed]
    finished_last_hour: list[float]


def read_seed(ledger_path: Path, panes: list[str] | None, window: int, now: float | None = None) -> HistorySeed:
    """Blocking (a worker thread): each pane's standings and its last `window` rows (`panes`:
    those, or every pane the ledger has)."""
    now = time.time() if now is None else now
    ledger = Ledger(ledger_path, readonly=True)
    try:
        with ledger.snapshot():
            standings = {s.name: s for s in standings_from_ledger(ledger)}
            out = {}
            for name in standings if panes is None else panes:
                s = standings.get(name)
                if s is None:
                    continue
                tail = ledger.recent_experiments(name, window)
                first = tail[0].seq if tail else 1 << 62
                out[name] = PaneSeed(
                    s.total,
                    tail,
                    _last_metric(ledger, name, "status = 'keep'", first),
                    _last_metric(ledger, name, "is_baseline = 1", first),
                    s.total.usage.usd,
                )
            hour = [
                t
                for (t,) in ledger.select("SELECT finished_at FROM experiments WHERE finished_at >= ?", (now - HOUR_S,))
            ]
        return HistorySeed(out, hour)
    finally:
        ledger.close()


def _last_metric(ledger: Ledger, pane: str, which: str, before_seq: int) -> float | None:
    rows = ledger.select(
        f"SELECT metric FROM experiments WHERE pane = ? AND {which} AND metric IS NOT NULL AND seq < ?"
        " ORDER BY seq DESC LIMIT 1",
        (pane, before_seq),
    )
    return rows[0][0] if rows else None
