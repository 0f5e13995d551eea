"""The orchestra at a glance: throughput and cost, slots and host, and what needs attention.

Three lines in one widget: they change together every tick, and one repaint is cheaper than three.
"""

from __future__ import annotations

from textual.widgets import Static

from conductor.ui import lines
from conductor.ui.model import RunModel

STOPPING = "[$warm]stopping: experiments in flight are killed and recorded...[/]"


class TopBar(Static):
    DEFAULT_CSS = """
    TopBar { height: 3; padding: 0 1; background: $panel; text-wrap: nowrap; text-overflow: ellipsis; }
    """

    def __init__(self, **kwargs):
        super().__init__("", **kwargs)
        self._shown = ""
        self.stopping = False

    def show(self, run: RunModel, now: float) -> None:
        alerts = STOPPING if self.stopping else lines.alerts_line(run, now)
        text = "\n".join((lines.top_line(run, now), lines.slots_text(run), alerts))
        if text != self._shown and self.is_mounted:
            self._shown = text
            self.update(text, layout=False)
