"""One line for the researcher about a pane that failed unexpectedly (git, the ledger, an agent)."""

from __future__ import annotations

import sqlite3

import git

from conductor.errors import AgentFatal


def describe_failure(exc: Exception) -> str:
    if isinstance(exc, AgentFatal):
        return str(exc)
    if isinstance(exc, git.GitCommandError):
        lines = [ln.strip() for ln in str(exc.stderr or exc).splitlines() if ln.strip()]
        return f"git failed in the worktree: {lines[-1] if lines else exc}"
    if isinstance(exc, sqlite3.Error):
        return f"the ledger cannot be written ({exc}): this pane stops; everything recorded so far is kept"
    return f"{exc.__class__.__name__}: {exc}"
