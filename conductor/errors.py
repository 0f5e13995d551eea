"""One exception type for everything a user can get wrong.

The CLI prints it as a single line (`conductor: FILE:LINE: what is wrong`) and exits 2;
anything else escaping is a bug in conductor, and only then is a traceback shown.
"""

from __future__ import annotations

from pathlib import Path


class ConductorError(Exception):
    """A user-facing error: bad config, bad usage, missing tool. Never a traceback."""

    exit_code = 2

    def __init__(self, message: str, file: str | Path | None = None, line: int | None = None):
        super().__init__(message)
        self.message = message
        self.file = str(file) if file is not None else None
        self.line = line

    def __str__(self) -> str:
        where = ""
        if self.file:
            where = f"{self.file}:{self.line}: " if self.line else f"{self.file}: "
        return f"{where}{self.message}"


class AgentFatal(Exception):
    """The agent cannot go on (bad key, missing executable): the pane shows it and stops.

    Defined here, not with the agents, so the engine can tell it apart without importing one."""
