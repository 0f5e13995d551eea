"""Every pane on one line, as in htop: the dashboard's compact view for ten to twenty-four panes.

State, best, change against the baseline, K D C R I, last keep, tokens per second, slot and
its utilisation; sorted by one column (`s` moves to the next, a click on a header picks it).
Cells are rich Text, never markup (a pane's detail may hold brackets). The rows are rebuilt
only when what they would show changed; the cursor is the selected pane.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rich.text import Text
from textual.widgets import DataTable

from conductor.core.record import improvement
from conductor.ui import format as f
from conductor.ui.model import PaneModel, RunModel

BIG = float("inf")
DASH = "-"  # plain: cells are Text, not markup


def _gain(p: PaneModel) -> float:
    """How much better than its baseline, relative: better first whatever the goal."""
    if p.best is None or p.baseline is None:
        return -BIG
    return improvement(p.goal, p.baseline, p.best) / (abs(p.baseline) or 1.0)


def _tok(p: PaneModel, now: float) -> float | None:
    rates = p.rates(now)
    return rates[0] + rates[1] if rates else None


def _util(p: PaneModel, run: RunModel) -> float | None:
    slot = p.running.slot if p.running is not None else ""
    sample = p.slot_sample or (run.slot_samples.get(slot) if slot else None)
    return sample.util if sample is not None and p.running is not None else None


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    sort: Callable[[PaneModel, RunModel, float], object]  # ascending puts the row first


COLUMNS = (
    Column("key", "#", lambda p, r, n: p.index),
    Column("pane", "pane", lambda p, r, n: p.name),
    Column("state", "state", lambda p, r, n: (p.attention(r.stuck_after) is None, p.state)),
    Column("best", "best", lambda p, r, n: -_gain(p)),
    Column("delta", "Δ base", lambda p, r, n: -_gain(p)),
    Column("counts", "K D C R I", lambda p, r, n: (-p.tally.keeps, p.tally.crashes)),
    Column("kept", "kept", lambda p, r, n: -(p.last_keep_ts or 0.0)),
    Column("tok", "tok/s", lambda p, r, n: -(_tok(p, n) or 0.0)),
    Column("slot", "slot", lambda p, r, n: p.running.slot if p.running is not None else "~"),
    Column("util", "GPU%", lambda p, r, n: -(_util(p, r) or -1.0)),
)


def _cells(p: PaneModel, run: RunModel, now: float, styles: dict[str, str]) -> tuple[Text, ...]:
    attention = p.attention(run.stuck_after)
    state = attention or p.state
    state_style = styles.get("crash" if attention in ("failed", "crash") else "warm" if attention else "", "")
    change = "" if p.best is None or p.baseline is None else f.delta(p.best - p.baseline)
    improved = _gain(p) > 0
    c = p.counts
    counts = f"{c['keep']} {c['discard']} {c['crash']} {c['rejected']} {c['interrupted']}"
    kept = f.age(now - p.last_keep_ts) if p.last_keep_ts is not None else DASH
    tok = _tok(p, now)
    util = _util(p, run)
    return (
        Text(p.key or "·", style="bold"),
        Text(p.name),
        Text(state, style=state_style),
        Text(f.metric(p.best) if p.best is not None else DASH),
        Text(change, style=styles.get("keep", "") if improved else styles.get("muted", "")),
        Text(counts),
        Text(kept),
        Text(f.si(tok) if tok is not None else DASH),
        Text(p.running.slot if p.running is not None and p.running.slot else DASH),
        Text(f.percent(util) if util is not None else DASH),
    )


class PaneTable(DataTable, can_focus=False):
    """The panes as rows; `sort_by` picks the column, `show` brings it up to date."""

    DEFAULT_CSS = """
    PaneTable { height: 1fr; background: $surface; }
    """

    def __init__(self, **kwargs):
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self.sort_column = "key"
        self._shown: tuple | None = None
        self.order: list[str] = []  # pane names top to bottom

    def on_mount(self) -> None:
        for column in COLUMNS:
            self.add_column(self._label(column), key=column.key)

    def _label(self, column: Column) -> Text:
        """The header: the sorted column marked, every label one cell wider to leave it room."""
        return Text(column.label + ("▾" if column.key == self.sort_column else " "))

    def next_sort(self) -> str:
        keys = [c.key for c in COLUMNS]
        self.sort_by(keys[(keys.index(self.sort_column) + 1) % len(keys)])
        return self.sort_column

    def sort_by(self, key: str) -> None:
        if key in {c.key for c in COLUMNS}:
            self.sort_column = key
            self._shown = None

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        self.sort_by(str(event.column_key.value))
        show = getattr(self.app, "draw", None)
        if show is not None:
            show()

    def show(self, run: RunModel, now: float) -> None:
        column = next(c for c in COLUMNS if c.key == self.sort_column)
        panes = sorted(run.ordered, key=lambda p: (column.sort(p, run, now), p.index))
        styles = getattr(self.app, "theme_variables", {})
        rows = tuple(_cells(p, run, now, styles) for p in panes)
        shown = (self.sort_column, run.selected, tuple(tuple(c.plain for c in row) for row in rows))
        if shown == self._shown:
            return
        self._shown = shown
        self.order = [p.name for p in panes]
        self.clear()
        for c in COLUMNS:
            self.columns[c.key].label = self._label(c)
        for p, row in zip(panes, rows, strict=True):
            self.add_row(*row, key=p.name)
        if run.selected in self.order:
            self.move_cursor(row=self.order.index(run.selected), animate=False)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        select = getattr(self.app, "select_pane", None)
        if select is not None and event.row_key.value:
            select(str(event.row_key.value))
