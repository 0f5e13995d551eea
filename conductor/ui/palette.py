"""The command palette's conductor entries: the actions of the app and of the screen, and each pane.

Which actions belong in the palette is a column of the keys table (`keys.py`), so the
palette, the key bar and the help screen never disagree; the app adds Textual's own entries.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from textual.app import SystemCommand
from textual.screen import Screen

from conductor.core.commands import AddPane, Command, PauseAll, RemovePane, ResumeAll, SetLimit
from conductor.errors import ConductorError
from conductor.ui import keys

MORE_EXPERIMENTS = 10  # the palette's "more experiments" step; `conductor live set` takes any value

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
    yield from live_commands(app)


def live_commands(app: ConductorApp) -> Iterator[SystemCommand]:
    """Changes to the live run (core/live.py), as `conductor live` makes them over the socket."""
    yield SystemCommand("Pause all panes", "every pane pauses at its next turn", lambda: _live(app, PauseAll()))
    yield SystemCommand("Resume all panes", "every paused pane goes on", lambda: _live(app, ResumeAll()))
    for ws in dict.fromkeys(p.workspace for p in app.model.ordered if p.workspace):
        yield SystemCommand(
            f"Add a pane to {ws}", f"one more loop on workspace {ws}", lambda w=ws: _live(app, AddPane(workspace=w))
        )
        done = max((p.tally.experiments for p in app.model.ordered if p.workspace == ws), default=0)
        limit = done + MORE_EXPERIMENTS
        yield SystemCommand(
            f"Allow {ws} {MORE_EXPERIMENTS} more experiments",
            f"max_experiments of {ws} = {limit}",
            lambda w=ws, n=limit: _live(app, SetLimit(key="max_experiments", value=n, workspace=w)),
        )
    for p in app.model.ordered:
        yield SystemCommand(
            f"Remove {p.name}",
            f"stop pane {p.name} for good (its history stays)",
            lambda n=p.name: _live(app, RemovePane(pane=n)),
        )


def _live(app: ConductorApp, command: Command) -> None:
    try:
        done = app.engine.command(command)
    except (ConductorError, OSError) as exc:
        app.notify(str(exc), severity="error")
        return
    app.notify(done or "done")
