"""Every pane's news in one stream (`f`): new bests, crashes, rejected and interrupted runs,
alerts, pauses and failures, oldest first, following live; and the "while you were away"
summary an attached TUI opens with."""

from __future__ import annotations

import time

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

from conductor.ui import format as f
from conductor.ui import keys
from conductor.ui.feed import FeedLine
from conductor.ui.widgets.key_bar import KeyBar

SHOWN = 500


def feed_text(lines: list[FeedLine]) -> str:
    if not lines:
        return "[$muted]nothing yet: new bests, crashes, alerts and pauses of every pane appear here[/]"
    out = []
    for line in lines[-SHOWN:]:
        stamp = time.strftime("%H:%M:%S", time.localtime(line.ts))
        out.append(f"[$muted]{stamp}[/] [b]{f.esc(line.pane or 'run'):<14}[/] {line.text}")
    return "\n".join(out)


class FeedScreen(Screen):
    BINDINGS = keys.bindings("feed")
    DEFAULT_CSS = """
    FeedScreen { layout: vertical; }
    FeedScreen > VerticalScroll { height: 1fr; border: round $panel-lighten-2; border-title-align: left; padding: 0 1; }
    FeedScreen #feed-text { width: auto; min-width: 100%; text-wrap: nowrap; }
    """
    scope = "feed"

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._version = -1

    def compose(self) -> ComposeResult:
        box = VerticalScroll(id="feed")
        box.border_title = "every pane's news"
        with box:
            yield Static(id="feed-text")
        yield KeyBar(self.scope, id="keybar")

    def on_mount(self) -> None:
        self.refresh_view(self.app.clock())

    def refresh_view(self, now: float, slow: bool = True) -> None:
        run = self.app.model
        if run.feed_version == self._version or not self.is_mounted:
            return
        self._version = run.feed_version
        self.query_one("#feed-text", Static).update(feed_text(list(run.feed)))
        self.query_one(VerticalScroll).scroll_end(animate=False)

    def action_back(self) -> None:
        self.app.pop_screen()


class AwayScreen(ModalScreen[None]):
    """What happened since the last time a TUI looked at this run, per pane."""

    BINDINGS = [Binding("escape,enter,space", "dismiss", "close", show=False)]
    DEFAULT_CSS = """
    AwayScreen { align: center middle; }
    AwayScreen > VerticalScroll {
        width: 110; max-width: 95%; height: auto; max-height: 80%;
        border: round $accent; border-title-align: center; background: $surface; padding: 1 2;
    }
    """

    def __init__(self, since: float, now: float, lines: list[str], **kwargs):
        super().__init__(**kwargs)
        self.since, self.now, self.lines = since, now, lines

    def compose(self) -> ComposeResult:
        box = VerticalScroll()
        box.border_title = f"while you were away ({f.age(self.now - self.since)})"
        box.border_subtitle = "esc closes · f: the whole stream"
        with box:
            yield Static("\n".join(self.lines) or "[$muted]nothing new: no best, crash, alert or pause[/]", id="away")
