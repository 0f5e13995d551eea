"""What the engine needs of an agent: the protocol every kind implements.

The engine never imports an agent: the composition root (the CLI) hands the orchestra a
factory, `AgentConfig -> Agent`, and the pane calls `run(session)` with itself as the
session. What some agents can do beyond that (take-over, `conductor exp`) are protocols
here too, checked with isinstance, never probed with getattr.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class Agent(Protocol):
    kind: str

    async def run(self, session: Any) -> None:
        """Propose experiments until cancelled (or the pane is finished)."""
