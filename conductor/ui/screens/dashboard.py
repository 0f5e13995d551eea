"""The dashboard: every pane as a card in a grid that fills the terminal, under the top bar,
or (`v`) as one line each in a sortable table.

Cards are created when panes become known and never remounted: a resize changes only the
grid's shape and each card's column span (rows of 4, 3, 3 for ten panes), so their logs
and state survive any number of re-layouts. Arrows, hjkl and Tab move the selection across
the grid as it is laid out (up and down the table's rows in the table).
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Container
from textual.events import Resize
from textual.screen import Screen

from conductor.ui import keys
from conductor.ui.layout import grid_columns, neighbour, row_counts
from conductor.ui.widgets.key_bar import KeyBar
from conductor.ui.widgets.pane_card import PaneCard
from conductor.ui.widgets.pane_table import PaneTable
from conductor.ui.widgets.top_bar import TopBar

MIN_CARD_LINES = 2  # a card shows its state and its best at least, or the table takes over
CHROME_LINES = 4  # the top bar's three lines and the key bar


class DashboardScreen(Screen):
    BINDINGS = keys.bindings("dashboard")
    DEFAULT_CSS = """
    DashboardScreen { layout: vertical; }
    DashboardScreen > #grid { layout: grid; grid-gutter: 0; height: 1fr; }
    DashboardScreen > #grid > #empty { color: $text-muted; padding: 1 2; }
    DashboardScreen > #table { display: none; }
    DashboardScreen.-table > #table { display: block; }
    DashboardScreen.-table > #grid { display: none; }
    """
    scope = "dashboard"

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.cards: dict[str, PaneCard] = {}
        self._layout_version = -1
        self._grid_shape: tuple[int, ...] | None = None
        self._topbar: TopBar | None = None
        self._grid: Container | None = None
        self.table = PaneTable(id="table")
        self.table_chosen = False  # the researcher's choice (v); the table also shows where cards cannot
        self.cards_too_small = False

    def compose(self) -> ComposeResult:
        self._topbar = TopBar(id="topbar")
        self._grid = Container(id="grid")
        yield self._topbar
        yield self._grid
        yield self.table
        yield KeyBar(self.scope, id="keybar")

    @property
    def table_view(self) -> bool:
        return self.has_class("-table")

    def _show_table(self, on: bool) -> None:
        if on != self.table_view:
            self.set_class(on, "-table")
            if on:  # filled as it appears, not at the next tick
                self.table.show(self.run, self.app.clock())
            else:
                self._grid_shape = None
                self.call_after_refresh(self._relayout)

    @property
    def _ready(self) -> bool:
        """Composed and mounted: a tick can come earlier, and must then wait."""
        return self._grid is not None and self._grid.is_mounted and self._topbar.is_mounted

    @property
    def run(self):
        return self.app.model

    # ------------------------------------------------------------ cards and layout

    def _sync_cards(self) -> None:
        if self.run.layout_version == self._layout_version:
            return
        self._layout_version = self.run.layout_version
        new = [PaneCard(p.name, id=f"pane-{p.index}") for p in self.run.ordered if p.name not in self.cards]
        if new:
            for card in new:
                self.cards[card.pane] = card
            self._grid.mount_all(new)
            self._grid_shape = None
            self.call_after_refresh(self._relayout)

    def on_resize(self, event: Resize) -> None:
        self._relayout()

    def _relayout(self) -> None:
        grid = self._grid
        n = len(self.cards)
        if not n or not self._ready:
            return
        # the screen's size less the bars, not the grid's: the grid is hidden under the table and
        # half laid out while the app starts, and neither must decide whether cards fit
        width, height = self.size.width, max(1, self.size.height - CHROME_LINES)
        if not width:
            return
        counts = row_counts(n, width, height)
        too_small = height // len(counts) - 2 < MIN_CARD_LINES  # inside the border
        if too_small != self.cards_too_small:
            self.cards_too_small = too_small
            self._show_table(too_small or self.table_chosen)
        shape = tuple(counts)
        if shape == self._grid_shape:
            return
        self._grid_shape = shape
        cols = grid_columns(counts)
        grid.styles.grid_size_columns = cols
        grid.styles.grid_size_rows = len(counts)
        ordered = [self.cards[p.name] for p in self.run.ordered if p.name in self.cards]
        i = 0
        for count in counts:
            for card in ordered[i : i + count]:
                card.styles.column_span = cols // count
            i += count

    # ------------------------------------------------------------ drawing

    def refresh_view(self, now: float, slow: bool = True) -> None:
        """Bring the cards and top bar up to date; without `slow`, only what changed state."""
        if not self._ready:
            return  # a tick can come before the screen is composed
        self._sync_cards()
        if slow:
            self._topbar.show(self.run, now)
        if self.table_view:
            self.table.show(self.run, now)
            return
        selected = self.run.selected
        for name, card in self.cards.items():
            pane = self.run.panes.get(name)
            if pane is not None:
                card.show(pane, self.run, now, selected=name == selected, slow=slow)

    def refresh_card(self, name: str, now: float, slow: bool = True) -> None:
        if self.table_view:
            self.table.show(self.run, now)
            return
        card, pane = self.cards.get(name), self.run.panes.get(name)
        if card is not None and pane is not None:
            card.show(pane, self.run, now, selected=name == self.run.selected, slow=slow)

    # ------------------------------------------------------------ actions

    def action_focus_pane(self, index: int) -> None:
        self.app.select_pane_by_index(index)

    def action_move(self, direction: str) -> None:
        """Select the pane that lies in `direction` (left, right, up, down, next, previous)."""
        if self.table_view:
            order = self.table.order or [p.name for p in self.run.ordered]
            step = {"up": -1, "previous": -1, "down": 1, "next": 1}.get(direction)
            if step is None or self.run.selected not in order:
                return
            self.app.select_pane(order[(order.index(self.run.selected) + step) % len(order)])
            return
        ordered = self.run.ordered
        counts = list(self._grid_shape or [len(ordered)])
        index = next((i for i, p in enumerate(ordered) if p.name == self.run.selected), None)
        if index is None or sum(counts) != len(ordered):
            return
        self.app.select_pane(ordered[neighbour(counts, index, direction)].name)

    def action_toggle_table(self) -> None:
        if self.cards_too_small:
            self.app.notify("the cards do not fit in this terminal: the table shows every pane", severity="warning")
            return
        self.table_chosen = not self.table_chosen
        self._show_table(self.table_chosen)
        self.app.draw()

    def action_sort_table(self) -> None:
        if not self.table_view:
            self.app.notify("s sorts the table view (v)", severity="warning")
            return
        self.table.next_sort()  # its header marks the column
        self.app.draw()

    async def action_detach(self) -> None:
        await self.app.detach()

    def action_zoom(self) -> None:
        self.app.zoom()
