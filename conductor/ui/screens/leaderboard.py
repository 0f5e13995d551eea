"""Which program.md is winning: the leaderboard of program variants and of panes, on `b`.

The numbers come from `conductor.leaderboard` (the same as `conductor status` and the report),
read from the ledger in a thread and re-read every few seconds while the screen is open. A
pane whose program.md was edited shows the versions it ran, oldest first; each program row
counts only the experiments that ran under that version.
"""

from __future__ import annotations

import asyncio

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Static

from conductor.leaderboard import Leaderboard, hours_unit, leaderboard_from_ledger
from conductor.leaderboard import fmt_num as num
from conductor.ui import format as f
from conductor.ui import keys
from conductor.ui.widgets.key_bar import KeyBar

REFRESH_S = 5.0

PROGRAM_COLUMNS = (
    "#", "workspace", "program", "panes", "improve", "%", "keeps", "rate",
    "exp/h", "/slot-h", "slot-h", "/usd", "usd", "tok/exp",
)  # fmt: skip
PANE_COLUMNS = (
    "pane", "workspace", "program", "agent", "best", "improve", "exp", "K", "D", "C", "R",
    "rate", "exp/h", "/slot-h", "usd", "tok/exp",
)  # fmt: skip


def program_rows(board: Leaderboard) -> list[tuple[str, ...]]:
    return [
        (
            str(p.rank),
            p.workspace,
            f"{p.program_sha[:7]} {p.program_title}",
            str(len(p.panes)),
            num(p.improvement),
            num(p.improvement_pct, "+.2f"),
            str(p.keeps),
            num(p.keep_rate, ".0%"),
            num(p.experiments_per_hour),
            num(p.improvement_per_slot_hour),
            f"{num(p.slot_hours)} {hours_unit(p.slot_kind)}" if p.slot_hours else "-",
            num(p.improvement_per_usd),
            f"${p.usd:.2f}" if p.usd else "-",
            num(p.tokens_per_experiment, ".0f"),
        )
        for p in board.programs
    ]


def pane_rows(board: Leaderboard) -> list[tuple[str, ...]]:
    return [
        (
            s.pane,
            s.workspace,
            f"{'→'.join(sha[:7] for sha in s.programs) or s.program_sha[:7]} {s.program_title}",
            s.agent,
            num(s.best),
            num(s.improvement),
            str(s.experiments),
            str(s.keeps),
            str(s.discards),
            str(s.crashes),
            str(s.rejected),
            num(s.keep_rate, ".0%"),
            num(s.experiments_per_hour),
            num(s.improvement_per_slot_hour),
            f"${s.usd:.2f}" if s.usd else "-",
            num(s.tokens_per_experiment, ".0f"),
        )
        for s in board.panes
    ]


class LeaderboardScreen(Screen):
    BINDINGS = keys.bindings("leaderboard")
    DEFAULT_CSS = """
    LeaderboardScreen { layout: vertical; }
    LeaderboardScreen > #lb-head { height: 2; padding: 0 1; background: $panel; }
    LeaderboardScreen > #lb-body { height: 1fr; }
    LeaderboardScreen DataTable { height: auto; max-height: 50%; border: round $panel-lighten-2; }
    LeaderboardScreen #lb-note { padding: 0 1; color: $text-muted; }
    """
    scope = "leaderboard"

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.board: Leaderboard | None = None
        self.loaded = asyncio.Event()

    def action_back(self) -> None:
        self.dismiss()

    def compose(self) -> ComposeResult:
        yield Static("[b]leaderboard[/]: program.md variants by workspace, best mean improvement first", id="lb-head")
        with Vertical(id="lb-body"):
            programs = DataTable(id="lb-programs", cursor_type="row", zebra_stripes=True)
            programs.border_title = "programs"
            yield programs
            panes = DataTable(id="lb-panes", cursor_type="row", zebra_stripes=True)
            panes.border_title = "panes"
            yield panes
            yield Static(
                "improve: better than the baseline, in the metric's units, whatever the goal · "
                "slot-h: experiment time on slots (GPU-h on GPUs) · - : not measured",
                id="lb-note",
            )
        yield KeyBar(self.scope)

    def on_mount(self) -> None:
        self.query_one("#lb-programs", DataTable).add_columns(*PROGRAM_COLUMNS)
        self.query_one("#lb-panes", DataTable).add_columns(*PANE_COLUMNS)
        self.run_worker(self.reload(), exclusive=True, group="leaderboard")
        self.set_interval(REFRESH_S, lambda: self.run_worker(self.reload(), exclusive=True, group="leaderboard"))

    async def reload(self) -> None:
        ledger = getattr(self.app.engine, "ledger", None)
        head = self.query_one("#lb-head", Static)
        if ledger is None:
            head.update("[b]leaderboard[/]: no ledger to read yet")
            self.loaded.set()
            return
        try:
            board = await asyncio.to_thread(leaderboard_from_ledger, ledger)
        except Exception as exc:  # a busy or damaged ledger shows as a line, the run goes on
            head.update(f"[b]leaderboard[/]: could not read the ledger: {f.esc(str(exc))}")
            self.loaded.set()
            return
        self.board = board
        self._fill("#lb-programs", program_rows(board))
        self._fill("#lb-panes", pane_rows(board))
        metrics = sorted({f"{p.metric} ({p.goal})" for p in board.programs})
        head.update(
            "[b]leaderboard[/]: program.md variants by workspace, best mean improvement first\n"
            f"[$muted]{len(board.programs)} program(s), {len(board.panes)} pane(s); metric {f.esc(', '.join(metrics))}[/]"
        )
        self.loaded.set()

    def _fill(self, selector: str, rows: list[tuple[str, ...]]) -> None:
        table = self.query_one(selector, DataTable)
        cursor = table.cursor_row
        table.clear()
        for row in rows:
            table.add_row(*(f.esc(c) for c in row))
        if rows:
            table.move_cursor(row=min(cursor, len(rows) - 1))
