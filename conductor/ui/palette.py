"""The command palette's conductor entries: the actions of the app and of the screen, and each pane.

Which actions belong in the palette is a column of the keys table (`keys.py`), so the
palette, the key bar and the help screen never disagree; the app adds Textual's own entries.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from textual.app import SystemCommand
from textual.screen import Screen

from conductor.ui import keys

if TYPE_CHECKING:
    from conductor.ui.app import ConductorApp


def commands(app: ConductorApp, screen: Screen) -> Iterator[SystemCommand]:
    scope = getattr(screen, "scope", "dashboard")
    for spec in keys.KEYS:
        if not spec.palette or spec.scope not in ("app", scope):
            continue
        namespace = app if spec.scope == "app" else screen
        yield SystemCommand(
            f"{spec.title.capitalize()} ({spec.label})",
            spec.help,
            lambda action=spec.action, ns=namespace: app.run_action(action, ns),
        )
    for p in app.model.ordered:
        yield SystemCommand(
            f"Focus {p.name}", f"select pane {p.key or p.index + 1}", lambda n=p.name: app.select_pane(n), False
        )
        yield SystemCommand(f"Zoom {p.name}", f"open pane {p.name} full screen", lambda n=p.name: app.zoom(n), False)
