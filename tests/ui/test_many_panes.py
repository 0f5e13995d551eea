"""Ten to twenty-four panes: every pane has a key, arrows / hjkl / Tab move the focus across
the grid as laid out, and `v` shows a compact table that `s` sorts (Pilot, fake engine)."""

from __future__ import annotations

import pytest
from conftest import make_app, settle

from conductor.ui.layout import neighbour
from conductor.ui.model import PANE_KEYS

pytestmark = pytest.mark.timeout(60)


def test_neighbours_follow_the_rows_as_laid_out():
    rows = [4, 3, 3]  # ten panes
    assert [neighbour(rows, i, "down") for i in range(10)] == [4, 5, 5, 6, 7, 8, 9, 7, 8, 9]
    assert [neighbour(rows, i, "up") for i in range(4)] == [0, 1, 2, 3]  # the top row stays
    assert neighbour(rows, 9, "right") == 0 and neighbour(rows, 0, "left") == 9  # reading order wraps
    assert neighbour(rows, 3, "next") == 4 and neighbour(rows, 4, "previous") == 3


async def test_every_one_of_24_panes_has_a_key():
    app, _ = make_app(24)
    async with app.run_test(size=(200, 50)) as pilot:
        await settle(pilot)
        assert [p.key for p in app.model.ordered] == list(PANE_KEYS)
        await pilot.press("A")
        assert app.model.selected == "tinygpt-11"
        await pilot.press("N")
        assert app.model.selected == "tinygpt-24"


async def test_arrows_hjkl_and_tab_move_the_focus_across_the_grid():
    app, _ = make_app(12)
    async with app.run_test(size=(200, 50)) as pilot:
        await settle(pilot)
        rows = list(app.dashboard._grid_shape)
        assert sum(rows) == 12 and len(rows) > 1
        await pilot.press("right")
        assert app.model.selected == "tinygpt-2"
        await pilot.press("l", "h", "h")
        assert app.model.selected == "tinygpt-1"
        await pilot.press("down")
        assert app.model.selected == f"tinygpt-{rows[0] + 1}"
        await pilot.press("k")
        assert app.model.selected == "tinygpt-1"
        await pilot.press("j", "up")
        assert app.model.selected == "tinygpt-1"
        await pilot.press("tab", "tab")
        assert app.model.selected == "tinygpt-3"
        await pilot.press("shift+tab")
        assert app.model.selected == "tinygpt-2"
        assert app.dashboard.cards["tinygpt-2"].has_class("-selected")


async def test_v_shows_one_line_a_pane_and_s_sorts_it():
    app, _ = make_app(12)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("v")
        await settle(pilot)
        table = app.dashboard.table
        assert app.dashboard.table_view and table.display and table.row_count == 12
        assert table.order == [f"tinygpt-{i + 1}" for i in range(12)]
        await pilot.press("s", "s")  # by key, then pane, then state
        await settle(pilot)
        assert table.sort_column == "state"
        await pilot.press("s")  # best: the most improved over its baseline first
        await settle(pilot)
        panes = app.model.panes
        gains = [(panes[n].baseline - panes[n].best) / panes[n].baseline for n in table.order]
        assert gains == sorted(gains, reverse=True)
        top = table.order[0]
        await pilot.press("down")
        assert app.model.selected == table.order[table.order.index("tinygpt-1") + 1]
        await pilot.press("v")
        await settle(pilot)
        assert not app.dashboard.table_view and app.dashboard.cards[top].display
