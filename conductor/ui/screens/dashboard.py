"""The dashboard: every pane as a card in a grid that fills the terminal, under the top bar.

Cards are created when panes become known and never remounted: a resize changes only the
grid's shape and each card's column span (rows of 4, 3, 3 for ten panes), so their logs
and state survive any number of re-layouts.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Container
from textual.events import Resize
from textual.screen import Screen

from conductor.ui import keys
from conductor.ui.layout import grid_columns, row_counts
from conductor.ui.widgets.key_bar import KeyBar
from conductor.ui.widgets.pane_card import PaneCard
from conductor.ui.widgets.top_bar import TopBar


class DashboardScreen(Screen):
    BINDINGS = keys.bindings("dashboard")
    DEFAULT_CSS = """
    DashboardScreen { layout: vertical; }
    DashboardScreen > #grid { layout: grid; grid-gutter: 0; height: 1fr; }
    DashboardScreen > #grid > #empty { color: $text-muted; padding: 1 2; }
    """
    scope = "dashboard"

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.cards: dict[str, PaneCard] = {}
        self._layout_version = -1
        self._grid_shape: tuple[int, ...] | None = None
        self._topbar: TopBar | None = None
        self._grid: Container | None = None

    def compose(self) -> ComposeResult:
        self._topbar = TopBar(id="topbar")
        self._grid = Container(id="grid")
        yield self._topbar
        yield self._grid
        yield KeyBar(self.scope, id="keybar")

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
        size = grid.size
        counts = row_counts(n, size.width or self.size.width, size.height or max(1, self.size.height - 4))
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
        selected = self.run.selected
        for name, card in self.cards.items():
            pane = self.run.panes.get(name)
            if pane is not None:
                card.show(pane, self.run, now, selected=name == selected, slow=slow)

    def refresh_card(self, name: str, now: float, slow: bool = True) -> None:
        card, pane = self.cards.get(name), self.run.panes.get(name)
        if card is not None and pane is not None:
            card.show(pane, self.run, now, selected=name == self.run.selected, slow=slow)

    # ------------------------------------------------------------ actions

    def action_focus_pane(self, index: int) -> None:
        self.app.select_pane_by_index(index)

    async def action_detach(self) -> None:
        await self.app.detach()

    def action_zoom(self) -> None:
        self.app.zoom()
