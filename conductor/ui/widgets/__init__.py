"""Widgets of the conductor TUI: pane cards, the top bar, the key bar."""
