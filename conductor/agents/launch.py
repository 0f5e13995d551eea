"""How an external agent CLI is launched: which executable, with which environment, and
which command the researcher runs to take its session over interactively.

The agent inherits conductor's environment (it needs its own credentials), plus what tells
it where it runs (`CONDUCTOR_PANE`, `CONDUCTOR_WORKTREE`, ...) and a PATH on which
`conductor` is this very installation.
"""

from __future__ import annotations

import os
import shlex
import shutil
from pathlib import Path

from conductor.agents.agent_dir import AgentDir
from conductor.core.agent import PaneSession
from conductor.errors import AgentFatal, ConductorError


def resolve_command(command: str, default: str, kind: str, label: str, install_hint: str) -> list[str]:
    """The configured command (else the flavour's default) as argv words, its executable checked."""
    words = shlex.split(command) if command.strip() else []
    words = words or ([default] if default else [])
    if not words:
        raise AgentFatal(f'agent kind "{kind}" needs a command: set agent = {{ command = "..." }}')
    exe = words[0]
    if shutil.which(exe) is None and not (os.sep in exe and os.access(exe, os.X_OK)):
        raise AgentFatal(f"{label}: '{exe}' was not found on PATH ({install_hint})")
    return words


def agent_env(session: PaneSession, agent_dir: AgentDir, *, managed: bool, slot_env: dict[str, str]) -> dict[str, str]:
    ws = session.workspace
    env = {k: v for k, v in os.environ.items() if k != "CONDUCTOR_EXPERIMENT"}
    env.update(slot_env)
    if not managed:  # the agent runs the experiments itself: give them the run's settings
        env.setdefault("OPENBLAS_NUM_THREADS", "1")
        env["TIME_BUDGET"] = f"{ws.time_budget_s:g}"
    env["PATH"] = f"{agent_dir.bin_dir}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONUNBUFFERED"] = "1"
    env["CONDUCTOR_PANE"] = session.name
    env["CONDUCTOR_RUN_DIR"] = str(Path(session.worktree_path).parent.parent)
    env["CONDUCTOR_WORKTREE"] = str(session.worktree_path)
    env["CONDUCTOR_PROMPT_FILE"] = str(agent_dir.prompt_path)
    return env


def takeover_argv(kind: str, command: str = "", session_id: str = "") -> list[str]:
    """The interactive CLI on a pane's session: `claude --resume ID`, `codex resume ID`
    (a fresh interactive session when none is known yet)."""
    if kind == "claude-code":
        exe = shlex.split(command) or ["claude"]
        return [*exe, "--resume", session_id] if session_id else exe
    if kind == "codex":
        exe = shlex.split(command) or ["codex"]
        return [*exe, "resume", session_id] if session_id else exe
    raise ConductorError(f"a '{kind}' agent has no interactive session to take over")
