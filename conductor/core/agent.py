"""What the engine needs of an agent, and what an agent may use of its pane.

The engine never imports an agent: the composition root (the CLI) hands the orchestra a
factory, `AgentConfig -> Agent`, and the pane calls `run(session)` with itself as the
`PaneSession`. Every member an agent uses of its session is declared here, so no agent
probes the session with getattr. What only some agents can do (hand their session to the
researcher, take `conductor exp` requests) are capability protocols, found on the pane's
running agent with isinstance.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from conductor.core.secrets import is_secret_name
from conductor.errors import ConductorError

if TYPE_CHECKING:
    from conductor.config import AgentConfig, Price, WorkspaceConfig
    from conductor.core.board import BoardView
    from conductor.core.ledger import UsageTotals
    from conductor.core.observe import Observer
    from conductor.core.outcome import Outcome
    from conductor.core.record import ExperimentRecord
    from conductor.core.slots import Slot


class PaneSession(Protocol):
    """The pane as its agent sees it: the agent never touches git, slots or the ledger itself."""

    name: str
    workspace: WorkspaceConfig
    agent_config: AgentConfig
    worktree_path: Path
    agent_dir: Path  # private, persistent state for the agent (study, session ids)
    shared_dir: Path  # persistent state the agents of this workspace's panes share (one study)
    program_path: Path  # this pane's program.md (outside the worktree, editable by the researcher)
    branch: str
    base_commit: str  # where the pane's branch started
    best: float | None
    baseline: float | None
    best_commit: str

    @property
    def paused(self) -> bool: ...
    def history(self) -> list[ExperimentRecord]: ...
    def board(self) -> BoardView: ...  # every pane's experiments on this workspace
    def recent_history(self, limit: int) -> list[ExperimentRecord]: ...
    def program_text(self) -> str: ...
    def agents_text(self) -> str: ...
    async def run_experiment(self, description: str, agent_ref: str = "") -> Outcome: ...
    def activity(self, kind: str, text: str) -> None: ...
    def redact(self, text: str) -> str: ...  # secrets masked, as in everything conductor records
    def set_state(self, state: str, detail: str = "", deadline: float | None = None) -> None: ...
    def alert(self, level: str, message: str) -> None: ...
    def quota(
        self, account: str, window: str, utilization: float | None, resets_at: float | None, status: str = ...
    ) -> None: ...
    def record_usage(
        self,
        model: str,
        *,
        input: int = 0,
        output: int = 0,
        cache_write_5m: int = 0,
        cache_write_1h: int = 0,
        cache_read: int = 0,
        request_id: str = "",
        source: str = "",
    ) -> float: ...  # the cost in USD
    def price(self, model: str) -> Price | None: ...
    def slot_kind(self) -> str: ...  # "gpu" | "cpu" when every slot is of that kind, else "any"
    async def checkpoint(self) -> list[str]: ...
    def take_program_reload(self) -> bool: ...
    def pause(self, reason: str = ...) -> None: ...  # takes effect at the next checkpoint
    def usage_totals(self) -> UsageTotals: ...
    def slot_lease(self) -> AbstractAsyncContextManager[Slot]: ...  # for an agent that runs experiments itself
    def observer(self) -> Observer: ...  # observed mode: records the rows the agent logs itself


@runtime_checkable
class Agent(Protocol):
    kind: str

    async def run(self, session: PaneSession) -> None:
        """Propose experiments until cancelled (or the pane is finished)."""


# ---------------------------------------------------------------- capabilities


@dataclass
class TakeOver:
    """What the TUI runs in the foreground while a pane's headless agent is stopped. `env`
    is the whole environment (the CLI's credentials included) in the orchestra's process;
    what crosses the control socket is only `handover_env` of it."""

    argv: list[str]
    cwd: Path
    env: dict[str, str]


def handover_env(env: Mapping[str, str], inherited: Mapping[str, str]) -> dict[str, str]:
    """The variables conductor set or changed for the CLI (CONDUCTOR_PANE, the PATH with the
    `conductor` shim, ...) against the environment it inherited, none named like a secret:
    an attached TUI runs the CLI in its own environment plus these."""
    return {name: value for name, value in env.items() if inherited.get(name) != value and not is_secret_name(name)}


@runtime_checkable
class TakesOver(Protocol):
    """An agent whose session the researcher can take over interactively (Claude Code, Codex)."""

    def can_take_over(self) -> bool:
        """A headless session runs now."""

    async def begin_takeover(self) -> TakeOver:
        """Stop the headless process; the interactive command on the same session."""

    def end_takeover(self) -> None:
        """The researcher is done: the headless loop resumes the session."""


@runtime_checkable
class TakesExperiments(Protocol):
    """An agent that runs its experiments through `conductor exp` (served by core/control.py)."""

    def takes_experiments(self) -> bool:
        """It runs now, in managed mode."""

    async def take_experiment(self, description: str) -> Outcome:
        """Run one `conductor exp` request for this pane; raises PaneFinished or ConductorError."""


class HasAgent(Protocol):
    name: str
    agent: Agent | None


def takeover_agent(pane: HasAgent) -> TakesOver | None:
    """The pane's running agent, if its session can be taken over now."""
    agent = pane.agent
    return agent if isinstance(agent, TakesOver) and agent.can_take_over() else None


@contextlib.asynccontextmanager
async def take_over(pane: HasAgent) -> AsyncIterator[TakeOver]:
    """Stop the pane's headless agent, yield the interactive command on its session, and
    restart the headless loop (resumed) when the block exits. Usage in the TUI:

        async with take_over(pane) as t:
            with app.suspend():
                subprocess.run(t.argv, cwd=t.cwd, env=t.env)
    """
    agent = takeover_agent(pane)
    if agent is None:
        raise ConductorError(f"pane {pane.name} has no external agent running to take over")
    handover = await agent.begin_takeover()
    try:
        yield handover
    finally:
        agent.end_takeover()
