"""The naive way bench/tui_load.py measures the app against: fold and draw on every event.

The app's bridge only buffers events, and one timer drains them into a single batch update.
`per_event(app)` adds a second bus subscriber, after the bridge, that drains it at once and
redraws the event's card and the top bar for each event (any other event: every visible
screen), with no batching: the cost the timer exists to avoid.
"""

from __future__ import annotations

from conductor.ui.widgets.top_bar import TopBar


class PerEventDrawer:
    def __init__(self, app):
        self.app = app
        self._topbar: TopBar | None = None

    def __call__(self, event) -> None:
        app = self.app
        app.bridge.drain()
        if not app.is_running or app.screen is not app.dashboard:
            return
        now = app.clock()
        pane = getattr(event, "pane", None)
        if pane and pane in app.dashboard.cards:
            if self._topbar is None:
                self._topbar = app.dashboard.query_one(TopBar)
            self._topbar.show(app.model, now)
            app.dashboard.refresh_card(pane, now)
        else:
            app.draw(now)


def per_event(app) -> None:
    """Make `app` draw every event at once (call before it runs; the bridge subscribed first)."""
    app.engine.bus.subscribe(PerEventDrawer(app))
