"""The composition of agents: which module builds each kind.

Imported by the composition root (the CLI) only, which hands `create_agent` to the
orchestra; each agent module is imported only when a pane asks for its kind, so the engine
stays free of heavy imports (the Anthropic SDK, Optuna).
"""

from __future__ import annotations

from conductor.config import AgentConfig
from conductor.core.agent import Agent
from conductor.errors import AgentFatal


def create_agent(config: AgentConfig) -> Agent:
    kind = config.kind
    if kind == "optuna":
        from conductor.agents.optuna import OptunaAgent

        return OptunaAgent(config)
    if kind == "anthropic":
        from conductor.agents.anthropic import AnthropicAgent

        return AnthropicAgent(config)
    if kind in ("claude-code", "codex", "command"):
        from conductor.agents.flavours import create_cli_agent

        return create_cli_agent(config)
    raise AgentFatal(f"unknown agent kind '{kind}'")
