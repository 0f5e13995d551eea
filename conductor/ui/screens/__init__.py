"""Screens of the conductor TUI: dashboard, zoom, help, and the small dialogs."""
