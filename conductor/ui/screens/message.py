"""The input line for a message to one pane's agent; delivered at its next turn boundary."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from conductor.ui import format as f


class MessageScreen(ModalScreen[str | None]):
    BINDINGS = [Binding("escape", "cancel", "cancel", show=False)]
    DEFAULT_CSS = """
    MessageScreen { align: center bottom; }
    MessageScreen > Vertical {
        width: 90%; height: auto; border: round $accent; background: $surface; padding: 0 1; margin-bottom: 2;
    }
    MessageScreen Static { color: $text-muted; }
    """

    def __init__(self, pane: str, agent: str, **kwargs):
        super().__init__(**kwargs)
        self.pane, self.agent = pane, agent

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(
                f"message for [b]{f.esc(self.pane)}[/] ({f.esc(self.agent) or 'agent'}); "
                "it reads it at its next turn. Enter sends, Esc cancels."
            )
            field = Input(placeholder="try a smaller learning rate...", id="message")
            field.cursor_blink = False
            yield field

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        self.dismiss(text or None)

    def action_cancel(self) -> None:
        self.dismiss(None)
