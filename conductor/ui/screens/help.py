"""Every key, generated from the key table, and what the marks on a pane card mean."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from conductor.ui import keys
from conductor.ui.lines import ACTIVITY_GLYPHS

LEGEND = (
    "[b]On a pane[/]\n"
    "  [$keep]K[/] kept  [$discard]D[/] discarded  [$crash]C[/] crashed  [$rejected]R[/] rejected, "
    "then the keep rate and the time since the last keep\n"
    "  sparkline: the running best, higher is better whatever the goal; ↓/↑ says which way the metric improves\n"
    "  [$selected]▶[/] the focused pane   ● needs you: failed, crash, rejected, rate limit, stuck, new best\n"
    "  activity: " + "  ".join(f"{glyph} {kind}" for kind, glyph in ACTIVITY_GLYPHS.items()) + "\n"
    "  [$muted]-[/] not measured (no token stream, no GPU): never a guessed number"
)


def help_text() -> str:
    out = []
    for scope in ("dashboard", "zoom", "leaderboard", "feed", "app"):
        out.append(f"[b]{keys.SCOPE_TITLES[scope]}[/]")
        for spec in keys.specs(scope):
            out.append(f"  [b $accent]{spec.label:>6}[/]  {spec.help}")
        out.append("")
    out.append("  [b $accent]    ^p[/]  Command palette: every action, and focus or zoom any pane by name")
    out.append("")
    out.append(LEGEND)
    return "\n".join(out)


class HelpScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape", "dismiss", "close", show=False),
        Binding("question_mark", "dismiss", "close", show=False),
        Binding("q", "dismiss", "close", show=False),
    ]
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 100; max-width: 95%; height: auto; max-height: 90%;
        border: round $accent; border-title-align: center; background: $surface; padding: 1 2;
    }
    """

    def compose(self) -> ComposeResult:
        box = VerticalScroll()
        box.border_title = "conductor: keys"
        box.border_subtitle = "esc closes"
        with box:
            yield Static(help_text(), id="help-text")
