"""The naive per-event drawing bench/tui_load.py compares the app against still draws."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from conftest import make_app, settle
from fakes import NOW
from textual.widgets import Log

from conductor.core.events import AgentActivity

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from tui_naive import per_event  # noqa: E402

pytestmark = pytest.mark.timeout(60)


async def test_per_event_drawing_draws_each_event_at_once():
    """No timer needed: the event's card shows it before the next tick."""
    app, engine = make_app(2, refresh_hz=0.01)
    per_event(app)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        log = app.dashboard.cards["tinygpt-2"].query_one(Log)
        engine.emit(AgentActivity(pane="tinygpt-2", kind="text", text="drawn now", ts=NOW))
        assert log.lines[-1] == "· drawn now"
        assert len(engine.bus._subs) == 2  # the bridge and the drawer survived every event
