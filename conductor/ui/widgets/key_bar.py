"""One line of key hints at the bottom of a screen, generated from the key table."""

from __future__ import annotations

from textual.widgets import Static

from conductor.ui import keys


class KeyBar(Static):
    DEFAULT_CSS = """
    KeyBar { height: 1; padding: 0 1; background: $panel; text-wrap: nowrap; text-overflow: ellipsis; }
    """

    def __init__(self, scope: str, **kwargs):
        super().__init__(keys.key_bar(scope), **kwargs)
        self.scope = scope

    def on_mount(self) -> None:
        if getattr(self.app.engine, "remote", False):
            self.update(keys.key_bar(self.scope, attached=True))
