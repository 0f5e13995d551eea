"""A yes/no question that must be answered before something irreversible (quitting a run)."""

from __future__ import annotations

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static


class ConfirmScreen(ModalScreen[bool | None]):
    """Answers True (yes key), False (no key) or None (escape: neither)."""

    BINDINGS = [Binding("escape", "answer(None)", "cancel", show=False)]
    DEFAULT_CSS = """
    ConfirmScreen { align: center middle; }
    ConfirmScreen > Vertical {
        width: 64; height: auto; border: round $warning; background: $surface; padding: 1 2;
    }
    ConfirmScreen #question { margin-bottom: 1; }
    ConfirmScreen Horizontal { height: auto; align-horizontal: right; }
    ConfirmScreen Button { margin-left: 2; }
    """

    def __init__(
        self, question: str, yes: str = "yes (y)", no: str = "no (n)", yes_key: str = "y", no_key: str = "n", **kwargs
    ):
        super().__init__(**kwargs)
        self.question = question
        self.yes, self.no = yes, no
        self.keys = {yes_key: True, no_key: False}

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self.question, id="question")
            with Horizontal():
                yield Button(self.no, id="no")
                yield Button(self.yes, id="yes", variant="warning")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def on_key(self, event: events.Key) -> None:
        if event.key in self.keys:
            event.stop()
            self.dismiss(self.keys[event.key])

    def action_answer(self, yes: bool | None) -> None:
        self.dismiss(yes)
