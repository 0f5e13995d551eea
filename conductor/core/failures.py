"""One line for the researcher about a pane that failed unexpectedly (the ledger, an agent).

A failed git command is a `GitError` (core/gitsafe.py), a ConductorError with its own line.
"""

from __future__ import annotations

import sqlite3

from conductor.errors import AgentFatal


def describe_failure(exc: Exception) -> str:
    if isinstance(exc, AgentFatal):
        return str(exc)
    if isinstance(exc, sqlite3.Error):
        return f"the ledger cannot be written ({exc}): this pane stops; everything recorded so far is kept"
    return f"{exc.__class__.__name__}: {exc}"
