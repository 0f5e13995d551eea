"""One pane, all of it: full activity log, the experiments table from the ledger, and for the
selected experiment its commit's diff against its parent, the tail of its log, and the
program.md in use, and the workspace's board (what every pane of it tried). Git and file reads run in a thread; the table follows the ledger live.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Log, Static, TabbedContent, TabPane

from conductor.core.history import commit_diff, log_tail
from conductor.core.record import Status, delta
from conductor.ui import format as f
from conductor.ui import keys, lines
from conductor.ui.widgets.key_bar import KeyBar

ZOOM_LOG_LINES = 5000
TABS = ("diff", "log", "program", "board")


def diff_markup(text: str) -> str:
    """Colour a `git show` text: additions, removals, hunk headers, file headers."""
    out = []
    for line in text.splitlines():
        safe = f.esc(line)
        if line.startswith(("+++", "---", "diff --git", "index ")):
            out.append(f"[b]{safe}[/]")
        elif line.startswith("+"):
            out.append(f"[$keep]{safe}[/]")
        elif line.startswith("-"):
            out.append(f"[$crash]{safe}[/]")
        elif line.startswith("@@"):
            out.append(f"[$cool]{safe}[/]")
        elif line.startswith("commit "):
            out.append(f"[$accent]{safe}[/]")
        else:
            out.append(safe)
    return "\n".join(out)


class ZoomScreen(Screen):
    BINDINGS = keys.bindings("zoom")
    DEFAULT_CSS = """
    ZoomScreen { layout: vertical; }
    ZoomScreen > #head { height: 2; padding: 0 1; background: $panel; }
    ZoomScreen > #head > Static { height: 1; text-wrap: nowrap; text-overflow: ellipsis; }
    ZoomScreen > #body { height: 1fr; }
    ZoomScreen #left { width: 45%; }
    ZoomScreen #experiments { height: 1fr; border: round $panel-lighten-2; border-title-align: left; }
    ZoomScreen #zoom-activity { height: 1fr; border: round $panel-lighten-2; border-title-align: left; }
    ZoomScreen #detail { width: 1fr; }
    ZoomScreen #detail VerticalScroll { height: 1fr; }
    ZoomScreen .detail-text { width: auto; min-width: 100%; }
    """
    scope = "zoom"

    def __init__(self, pane: str, **kwargs):
        super().__init__(**kwargs)
        self.pane = pane
        self._shown: dict[str, str] = {}
        self._activity_seq = 0
        self._experiments_version = -1
        self._rows: dict[str, object] = {}
        self._best_before: float | None = None
        self._detail_for: str | None = None
        self._ready = False
        self.loaded = asyncio.Event()  # set once the experiments table has been read
        self.detail_shown: str | None = None  # row key whose diff and log are on screen

    def compose(self) -> ComposeResult:
        with Vertical(id="head"):
            yield Static(id="head-title")
            yield Static(id="head-state")
        with Horizontal(id="body"):
            with Vertical(id="left"):
                table = DataTable(id="experiments", cursor_type="row", zebra_stripes=True)
                table.border_title = "experiments"
                yield table
                log = Log(max_lines=ZOOM_LOG_LINES, id="zoom-activity")
                log.border_title = "activity"
                yield log
            with TabbedContent(id="detail", initial="diff"):
                with TabPane("diff", id="diff"), VerticalScroll():
                    yield Static("[$muted]select an experiment[/]", id="diff-text", classes="detail-text")
                with TabPane("log", id="log"), VerticalScroll():
                    yield Static("", id="log-text", classes="detail-text", markup=False)
                with TabPane("program.md", id="program"), VerticalScroll():
                    yield Static("", id="program-text", classes="detail-text", markup=False)
                with TabPane("board", id="board"), VerticalScroll():
                    yield Static("", id="board-text", classes="detail-text", markup=False)
        yield KeyBar(self.scope, id="keybar")

    @property
    def model(self):
        return self.app.model.panes[self.pane]

    def on_mount(self) -> None:
        p = self.model
        table = self.query_one(DataTable)
        table.add_column("#", key="seq")
        table.add_column("status", key="status")
        table.add_column(p.metric or "metric", key="metric")
        table.add_column("Δ best", key="delta")
        table.add_column("time", key="time")
        table.add_column("description", key="description")
        self.load_program()
        self._ready = True
        self.refresh_view(self.app.clock())
        table.focus()

    # ------------------------------------------------------------ live view

    def refresh_view(self, now: float, slow: bool = True) -> None:
        if not self._ready:
            return  # the app's timer can fire between push and mount
        p = self.model
        run = self.app.model
        self._set("head-title", f"{lines.title(p, True, p.attention(run.stuck_after))}  [$muted]{f.esc(p.branch)}[/]")
        self._set(
            "head-state",
            f"{lines.state_line(p, run, now)}  [$muted]|[/]  {lines.best_line(p)}  [$muted]|[/]  "
            f"{lines.counts_line(p, now)}  [$muted]|[/]  {lines.meters_line(p, now)}",
        )
        new = p.new_activity(self._activity_seq)
        if new:
            self._activity_seq = new[-1].seq
            self.query_one("#zoom-activity", Log).write_lines(
                [lines.activity_text(line, full=True, clock=True) for line in new]
            )
        if p.experiments_version != self._experiments_version:
            self._experiments_version = p.experiments_version
            self.load_experiments()

    def _set(self, widget_id: str, text: str) -> None:
        if self._shown.get(widget_id) != text:
            self._shown[widget_id] = text
            self.query_one(f"#{widget_id}", Static).update(text, layout=False)

    # ------------------------------------------------------------ experiments table

    @work(group="experiments", exclusive=True)
    async def load_experiments(self) -> None:
        ledger = getattr(self.app.engine, "ledger", None)
        if ledger is None:
            self.loaded.set()
            return
        rows = await asyncio.to_thread(ledger.experiments, self.pane)
        table = self.query_one(DataTable)
        follow = table.row_count == 0 or table.cursor_row >= table.row_count - 1
        added = False
        for row in rows:
            key = str(row.seq)
            if key in self._rows:
                continue
            self._rows[key] = row
            table.add_row(*self._cells(row, self._best_before), key=key)
            if row.status == Status.KEEP and row.metric is not None:
                self._best_before = row.metric
            added = True
        if added and follow:
            table.move_cursor(row=table.row_count - 1)
        self.loaded.set()

    def _cells(self, row, best_before: float | None) -> tuple:
        """One table row as rich Text (never markup: descriptions may hold brackets)."""
        from rich.text import Text

        colours = self.app.theme_variables
        status = ("base" if row.is_baseline else row.status) + (" starved" if row.starved else "")
        style = colours.get("cool" if row.is_baseline else row.status, "")
        muted = colours.get("muted", "")
        change = delta(row.metric, best_before)
        why = (
            f"  [{row.reason}]"
            if row.status in (Status.CRASH, Status.REJECTED, Status.INTERRUPTED) and row.reason
            else ""
        )
        return (
            Text(str(row.seq)),
            Text(status, style=style),
            Text(
                f.metric(row.metric) if row.metric is not None else "-", style="" if row.metric is not None else muted
            ),
            Text("" if row.is_baseline or change is None else f.delta(change)),
            Text(f"{row.duration_s:.1f}s"),
            Text(row.description + why),
        )

    @on(DataTable.RowHighlighted, "#experiments")
    def _row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        key = event.row_key.value if event.row_key is not None else None
        if key is not None and key != self._detail_for:
            self._detail_for = key
            self.load_detail(key)

    @work(group="detail", exclusive=True)
    async def load_detail(self, key: str) -> None:
        row = self._rows.get(key)
        if row is None:
            return
        p = self.model
        if row.is_baseline:
            diff = f"[$cool]baseline[/]: the unmodified workspace at {row.commit[:12]}; no diff to show"
        elif row.status == Status.REJECTED:
            diff = f"[$rejected]rejected[/]: {f.esc(row.reason)}\nnothing was committed; the worktree was reset"
        else:
            text = await asyncio.to_thread(commit_diff, p.worktree, row.commit)
            diff = diff_markup(text)
        tail = await asyncio.to_thread(log_tail, row.log_path, 80)
        if self._detail_for != key:
            return
        self.query_one("#diff-text", Static).update(diff)
        header = f"{row.log_path}\n\n" if row.log_path else "no log for this experiment\n"
        self.query_one("#log-text", Static).update(header + tail)
        self.detail_shown = key

    def load_program(self) -> None:
        path = self.model.program
        try:
            text = Path(path).read_text(encoding="utf-8") if path else ""
        except OSError as exc:
            text = f"cannot read {path}: {exc.strerror}"
        self.query_one("#program-text", Static).update(f"{path}\n\n{text}" if path else "no program file")

    # ------------------------------------------------------------ actions

    def action_unzoom(self) -> None:
        self.app.pop_screen()

    def action_show_tab(self, tab: str) -> None:
        if tab in TABS:
            if tab == "program":
                self.load_program()
            if tab == "board":
                self.load_board()
            self.query_one(TabbedContent).active = tab

    @work(exclusive=True, group="board")
    async def load_board(self) -> None:
        """The workspace's board (every pane's best, ideas in flight, the latest entries), read
        from the ledger in a thread."""
        from conductor.status import render_board

        ledger = getattr(self.app.engine, "ledger", None)
        if ledger is None:
            text = "the board is read from the ledger: not available in this view"
        else:
            text = await asyncio.to_thread(render_board, ledger, 40, self.model.workspace)
        self.query_one("#board-text", Static).update(text or "nothing on the board yet")
