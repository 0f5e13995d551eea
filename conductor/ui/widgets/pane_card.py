"""One research loop on the dashboard: state, best, counts, sparkline, experiments, activity.

The card is told to show a pane at a given instant and touches a child only when the text
it would show differs from what it shows; the activity log gets only lines it has not had,
in one `write_lines` batch. A short card drops lines by `layout.card_plan`. Nothing that
changes often lives in the border: repainting a border repaints the whole card.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.events import Resize
from textual.widgets import Log, Sparkline, Static

from conductor.ui import lines
from conductor.ui.layout import CardPlan, card_plan
from conductor.ui.model import PaneModel, RunModel

CARD_LOG_LINES = 200


class TailLog(Log, can_focus=False):
    """A log that always shows its newest lines: after every write and every resize (a plain
    Log stops following once a resize has left it short of the end)."""

    def write_lines(self, lines, scroll_end: bool | None = None) -> TailLog:
        super().write_lines(lines, scroll_end=False)
        self.scroll_end(animate=False, immediate=True, x_axis=False)
        return self

    def on_resize(self) -> None:
        self.scroll_end(animate=False, immediate=True, x_axis=False)


class PaneCard(Vertical):
    DEFAULT_CSS = """
    PaneCard {
        border: round $panel-lighten-2;
        border-title-align: left;
        padding: 0 1;
        height: 1fr;
        width: 1fr;
        background: $surface;
    }
    PaneCard.-attention { border: round $warm; }
    PaneCard.-selected { border: heavy $selected; }
    PaneCard > #summary { height: 4; text-wrap: nowrap; text-overflow: ellipsis; }
    PaneCard > #rows { height: 3; text-wrap: nowrap; text-overflow: ellipsis; }
    PaneCard > Sparkline { height: 1; margin: 0; }
    PaneCard > Sparkline > .sparkline--max-color { color: $keep; }
    PaneCard > Sparkline > .sparkline--min-color { color: $discard; }
    PaneCard > Log { height: 1fr; scrollbar-size: 0 0; background: $surface; color: $text-muted; }
    """

    def __init__(self, pane: str, **kwargs):
        super().__init__(**kwargs)
        self.pane = pane
        self._shown: dict[str, str] = {}
        self._series_version = -1
        self._activity_seq = 0
        self._plan: CardPlan | None = None
        self._ready = False
        self._last: tuple | None = None
        self._experiments_shown: tuple | None = None
        self._best = ""
        self._prompt_shown: tuple | None = None

    def compose(self) -> ComposeResult:
        yield Static(id="summary", markup=True)  # state, best, counts, meters: one widget, one repaint
        yield Sparkline([], id="spark", summary_function=max)
        yield Static(id="rows", markup=True)
        yield TailLog(max_lines=CARD_LOG_LINES, id="activity")

    def on_mount(self) -> None:
        self._widgets = {w.id: w for w in self.query(Static)}  # no DOM queries on the hot path
        self._log = self.query_one(TailLog)
        self._spark = self.query_one(Sparkline)
        self._ready = True

    # ------------------------------------------------------------ layout

    def on_resize(self, event: Resize) -> None:
        if self._last is not None:
            self.show(*self._last)

    def _apply_plan(self) -> CardPlan:
        """Fit the lines to the card's height; checked on every show, as a Resize can arrive
        before the first layout settles."""
        plan = card_plan(self.content_region.height)
        if plan == self._plan:
            return plan
        self._plan = plan
        # the widgets held since mount, not queried: a tick during the app's teardown finds
        # the children already gone from the DOM
        self._widgets["summary"].styles.height = 2 + plan.counts + plan.meters
        self._spark.display = plan.sparkline
        rows = self._widgets["rows"]
        rows.display = plan.rows > 0
        rows.styles.height = max(1, plan.rows)
        self._log.display = plan.activity > 0
        self._shown.pop("rows", None)
        self._shown.pop("summary", None)
        return plan

    # ------------------------------------------------------------ content

    def _set(self, key: str, value: str, widget_id: str | None = None) -> bool:
        if self._shown.get(key) == value:
            return False
        self._shown[key] = value
        if widget_id is not None:
            self._widgets[widget_id].update(value, layout=False)  # fixed-size lines: repaint only
        return True

    def show(self, p: PaneModel, run: RunModel, now: float, selected: bool, slow: bool = True) -> None:
        """Bring the card up to date with the model; unchanged parts are not touched. State changes
        and results show at once; ages, meters and the activity tail only when `slow` is due."""
        if not self._ready:
            return
        self._last = (p, run, now, selected)
        attention = p.attention(run.stuck_after)
        if self._set("title", lines.title(p, selected, attention)):
            self.border_title = self._shown["title"]
        if self._set("classes", f"{selected}{bool(attention)}"):
            self.set_class(selected, "-selected")
            self.set_class(bool(attention) and not selected, "-attention")
        plan = self._apply_plan()
        experiments = (p.experiments_version, p.baseline, plan.rows)
        if experiments != self._experiments_shown:  # best and rows change only with experiments
            self._experiments_shown = experiments
            self._best = lines.best_line(p)
            if plan.rows:
                self._set("rows", lines.experiment_rows(p, plan.rows), "rows")
        prompt = (p.state, p.since, p.detail, p.pause_requested, p.experiments_version, plan)
        if slow or prompt != self._prompt_shown:
            self._prompt_shown = prompt
            summary = [lines.state_line(p, run, now), self._best]
            if plan.counts:
                summary.append(lines.counts_line(p, now))
            if plan.meters:
                summary.append(lines.meters_line(p, now))
            self._set("summary", "\n".join(summary), "summary")
        if plan.sparkline and p.series_version != self._series_version:
            self._series_version = p.series_version
            series = p.best_series if p.goal == "max" else [-v for v in p.best_series]
            self._spark.data = list(series)
        if plan.activity and slow:
            self._write_activity(p)

    def _write_activity(self, p: PaneModel) -> None:
        new = p.new_activity(self._activity_seq)
        if not new:
            return
        self._activity_seq = new[-1].seq
        self._log.write_lines([lines.activity_text(line) for line in new[-CARD_LOG_LINES:]])

    def on_unmount(self) -> None:
        self._ready = False

    def on_click(self) -> None:
        select = getattr(self.app, "select_pane", None)
        if select is not None:
            select(self.pane)
