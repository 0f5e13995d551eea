"""The one table of keys: bindings, the help screen, the key bar and the palette come from it.

To add a key, add a row here and an `action_<name>` method on the class that owns its scope
(app: ConductorApp, dashboard: DashboardScreen, zoom: ZoomScreen, leaderboard:
LeaderboardScreen). Help, palette and key bar follow by themselves.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.binding import Binding

from conductor.ui.model import PANE_KEYS


@dataclass(frozen=True)
class KeySpec:
    keys: tuple[str, ...]  # Textual key names; several keys may share one row (1-9, 0)
    label: str  # how help and the key bar spell the key
    action: str  # action name; "{i}" is replaced by the key's position for multi-key rows
    title: str  # palette title and key bar word
    help: str  # one line in the help screen and the palette
    scope: str  # "app" (everywhere), "dashboard" or "zoom"
    palette: bool = True  # offer it in the command palette
    bar: bool = True  # show it in the key bar
    attached_only: bool = False  # only means something in a TUI attached to another process


KEYS: tuple[KeySpec, ...] = (
    KeySpec(
        PANE_KEYS, "1-9 0 A-N", "focus_pane({i})", "pane", "Focus pane 1-10, A-N 11-24", "dashboard", palette=False
    ),
    KeySpec(("left", "h"), "← h", "move('left')", "left", "Focus the pane to the left", "dashboard", bar=False),
    KeySpec(("right", "l"), "→ l", "move('right')", "right", "Focus the pane to the right", "dashboard", bar=False),
    KeySpec(
        ("up", "k"),
        "↑ k",
        "move('up')",
        "up",
        "Focus the pane above (the row above in the table)",
        "dashboard",
        bar=False,
    ),
    KeySpec(
        ("down", "j"),
        "↓ j",
        "move('down')",
        "down",
        "Focus the pane below (the row below in the table)",
        "dashboard",
        bar=False,
    ),
    KeySpec(("tab",), "tab", "move('next')", "next pane", "Focus the next pane", "dashboard", bar=False),
    KeySpec(
        ("shift+tab",), "⇧tab", "move('previous')", "previous pane", "Focus the previous pane", "dashboard", bar=False
    ),
    KeySpec(("v",), "v", "toggle_table", "table", "Cards or a compact table, one line a pane", "dashboard"),
    KeySpec(("s",), "s", "sort_table", "sort", "Sort the table by its next column", "dashboard", bar=False),
    KeySpec(("enter",), "⏎", "zoom", "zoom", "Zoom: activity, experiments, diff, log, program", "dashboard"),
    KeySpec(
        ("d",),
        "d",
        "detach",
        "detach",
        "Detach (attached TUI): leave, the orchestra runs on",
        "dashboard",
        attached_only=True,
    ),
    KeySpec(("escape",), "esc", "unzoom", "back", "Leave zoom, back to the dashboard", "zoom"),
    KeySpec(("d",), "d", "show_tab('diff')", "diff", "Show the selected experiment's diff", "zoom"),
    KeySpec(("o",), "o", "show_tab('log')", "log", "Show the selected experiment's log tail", "zoom"),
    KeySpec(("r",), "r", "show_tab('program')", "program", "Show the program.md in use", "zoom"),
    KeySpec(
        ("w",), "w", "show_tab('board')", "board", "Show the workspace board: every pane's best and latest", "zoom"
    ),
    KeySpec(("m",), "m", "message", "msg", "Message the focused pane's agent", "app"),
    KeySpec(("p",), "p", "pause_resume", "pause", "Pause / resume the pane (a running experiment finishes)", "app"),
    KeySpec(("e",), "e", "edit_program", "edit", "Edit the pane's program.md in $EDITOR; reloads next turn", "app"),
    KeySpec(
        ("a",),
        "a",
        "take_over",
        "take over",
        "Take over the pane's Claude Code / Codex session here; its loop resumes after",
        "app",
    ),
    KeySpec(("b",), "b", "leaderboard", "board", "Leaderboard: program.md variants and panes", "app"),
    KeySpec(("escape", "b"), "esc", "back", "back", "Back to the previous screen", "leaderboard", palette=False),
    KeySpec(
        ("f",), "f", "feed", "feed", "Feed: every pane's new bests, crashes, alerts and pauses in one stream", "app"
    ),
    KeySpec(("escape", "f"), "esc", "back", "back", "Back to the previous screen", "feed", palette=False),
    KeySpec(("n",), "n", "next_attention", "next", "Next pane needing attention (crash, stuck, new best...)", "app"),
    KeySpec(("t",), "t", "next_theme", "theme", "Next theme", "app"),
    KeySpec(("question_mark",), "?", "help", "help", "Help: every key", "app"),
    KeySpec(("q",), "q", "quit", "quit", "Quit (asks first while loops run)", "app"),
)

PRIORITY = frozenset({"tab", "shift+tab"})  # else Textual's focus chain takes them first

SCOPE_TITLES = {
    "dashboard": "Dashboard",
    "zoom": "Zoom",
    "leaderboard": "Leaderboard",
    "feed": "Feed",
    "app": "Everywhere",
}


def bindings(scope: str) -> list[Binding]:
    out = []
    for spec in KEYS:
        if spec.scope != scope:
            continue
        for i, key in enumerate(spec.keys):
            action = spec.action.replace("{i}", str(i))
            out.append(Binding(key, action, spec.title, show=False, priority=key in PRIORITY))
    return out


def specs(scope: str | None = None) -> list[KeySpec]:
    return [s for s in KEYS if scope is None or s.scope == scope]


def key_bar(scope: str, attached: bool = False) -> str:
    """The one-line key hint for a screen: its own keys, then the app-wide ones."""
    shown = [s for s in KEYS if s.bar and s.scope in (scope, "app") and (attached or not s.attached_only)]
    shown.sort(key=lambda s: s.scope == "app")
    parts = [f"[b $accent]{s.label}[/] {s.title}" for s in shown]
    parts.append("[b $accent]^p[/] palette")
    return "  ".join(parts)
