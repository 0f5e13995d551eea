"""The Agent protocol, the session an agent works through, and the factory.

Every kind of agent gets the same `PaneSession`: its worktree, its program, the results so
far, `run_experiment(description)` (DESIGN.md steps 4-9, whose result is an Outcome), and
ways to report activity, tokens and alerts. The engine never needs to know which kind it
is talking to, and an agent never touches git, slots or the ledger directly.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from conductor.errors import AgentFatal

if TYPE_CHECKING:
    from conductor.config import AgentConfig, Price, WorkspaceConfig
    from conductor.core.ledger import UsageTotals
    from conductor.core.outcome import Outcome
    from conductor.core.record import ExperimentRecord


class PaneSession(Protocol):
    name: str
    workspace: WorkspaceConfig
    agent_config: AgentConfig
    worktree_path: Path
    agent_dir: Path  # private, persistent state for the agent (study, session ids)
    program_path: Path  # this pane's program.md (outside the worktree, editable by the researcher)
    best: float | None
    baseline: float | None
    best_commit: str

    def history(self) -> list[ExperimentRecord]: ...
    def program_text(self) -> str: ...
    def agents_text(self) -> str: ...
    async def run_experiment(self, description: str, agent_ref: str = "") -> Outcome: ...
    def activity(self, kind: str, text: str) -> None: ...
    def set_state(self, state: str, detail: str = "", deadline: float | None = None) -> None: ...
    def alert(self, level: str, message: str) -> None: ...
    def record_usage(self, model: str, **counts) -> None: ...
    def price(self, model: str) -> Price | None: ...
    async def checkpoint(self) -> list[str]: ...
    def take_program_reload(self) -> bool: ...
    def pause(self, reason: str = ...) -> None: ...  # takes effect at the next checkpoint
    def usage_totals(self) -> UsageTotals: ...


class Agent(Protocol):
    kind: str

    async def run(self, session: PaneSession) -> None:
        """Propose experiments until cancelled. Never returns on its own."""


def create_agent(config: AgentConfig) -> Agent:
    """Import the agent's module only now: the engine itself stays free of heavy imports."""
    kind = config.kind
    if kind == "optuna":
        from conductor.agents.optuna import OptunaAgent

        return OptunaAgent(config)
    if kind == "anthropic":
        from conductor.agents.anthropic import AnthropicAgent

        return AnthropicAgent(config)
    if kind in ("claude-code", "codex", "command"):
        from conductor.agents.cli import create_cli_agent

        return create_cli_agent(config)
    raise AgentFatal(f"unknown agent kind '{kind}'")
