"""The external agent CLIs conductor knows: how to start each, feed it and read it.

Claude Code takes every user turn on stdin in one long process; Codex runs one turn per
process and continues its thread with `resume`; any other command gets its prompt in
$CONDUCTOR_PROMPT_FILE and messages as stdin lines. Their JSON streams are parsed by
`streams.py` and `codex_stream.py`; everything else is the supervisor's.
"""

from __future__ import annotations

import json
import time

from conductor.agents.codex_stream import CodexStream, CodexTotals
from conductor.agents.prompts import keep_going
from conductor.agents.ratelimit import codex_backoff_s, looks_rate_limited
from conductor.agents.streams import ClaudeStream, PlainStream, TurnEnded, Usage
from conductor.agents.supervisor import CliAgent
from conductor.config import AgentConfig


def create_cli_agent(config: AgentConfig) -> CliAgent:
    flavours = {"claude-code": ClaudeCodeAgent, "codex": CodexAgent, "command": CommandAgent}
    return flavours[config.kind](config)


def _has_flag(args: list[str], *flags: str) -> bool:
    return any(a == f or a.startswith(f + "=") for a in args for f in flags)


class ClaudeCodeAgent(CliAgent):
    """`claude -p --output-format stream-json --verbose --include-partial-messages
    --input-format stream-json`: one process takes every user turn on stdin."""

    kind = "claude-code"
    label = "claude"
    default_command = "claude"

    def __init__(self, config: AgentConfig):
        super().__init__(config)
        self._outstanding = 0  # user messages written whose turn has not ended
        self._nudge_at: float | None = None

    def install_hint(self) -> str:
        return "install Claude Code: npm install -g @anthropic-ai/claude-code, then run `claude` once to log in"

    def argv(self, prompt: str, resume: str) -> list[str]:
        args = list(self.config.args)
        argv = [
            *self.exe,
            "-p",
            "--output-format",
            "stream-json",
            "--verbose",
            "--include-partial-messages",
            "--input-format",
            "stream-json",
        ]
        if not _has_flag(args, "--model") and self.config.model:
            argv += ["--model", self.config.model]
        if self.managed and not _has_flag(args, "--allowedTools", "--allowed-tools"):
            argv += ["--allowedTools", "Bash(conductor exp:*)"]
        if resume:
            argv += ["--resume", resume]
        return argv + args

    def new_parser(self) -> ClaudeStream:
        return ClaudeStream()

    def env(self) -> dict[str, str]:
        env = super().env()
        if self.managed:  # `conductor exp` waits for a slot and a whole run: longer than Bash's default 2 min
            wait_ms = str(int((4 * self.session.workspace.timeout_s + 300) * 1000))
            env.setdefault("BASH_DEFAULT_TIMEOUT_MS", wait_ms)
            env.setdefault("BASH_MAX_TIMEOUT_MS", wait_ms)
        return env

    @staticmethod
    def user_line(text: str) -> bytes:
        message = {"type": "user", "message": {"role": "user", "content": text}}
        return json.dumps(message).encode() + b"\n"

    async def begin(self, prompt: str) -> None:
        self._outstanding = 0
        self._nudge_at = None
        if await self.write_stdin(self.user_line(prompt)):
            self._outstanding = 1

    def message_line(self, text: str) -> bytes | None:
        self._outstanding += 1
        return self.user_line(text)

    def on_turn_end(self, turn: TurnEnded) -> None:
        self._outstanding = max(0, self._outstanding - 1)
        productive = self.experiments.end_turn()
        if self._outstanding > 0:
            return  # the next queued message starts the next turn
        if not (turn.ok and productive) and not self.usage_limit.limited():
            self.note_failure(
                f"turn ended {('with an error: ' + turn.detail) if not turn.ok else 'without an experiment'}"
            )
        self._nudge_at = max(time.monotonic(), self._start_at)

    async def tick(self) -> None:
        if self._nudge_at is None or time.monotonic() < self._nudge_at or self.usage_limit.limited():
            return
        self._nudge_at = None
        text = self.with_messages(keep_going(self.managed))
        if await self.write_stdin(self.user_line(text)):
            self._outstanding += 1
            self.session.set_state("thinking", "continuing")


class CodexAgent(CliAgent):
    """`codex exec --json PROMPT`, one turn per process; `codex exec --json resume ID PROMPT`
    continues the thread. Messages wait for the next prompt."""

    kind = "codex"
    label = "codex"
    default_command = "codex"
    stdin_open = False

    def install_hint(self) -> str:
        return "install Codex: npm install -g @openai/codex, then `codex login`"

    @property
    def model(self) -> str:
        model = self.config.model
        return model if model and not model.startswith("claude") else ""

    def argv(self, prompt: str, resume: str) -> list[str]:
        args = list(self.config.args)
        argv = [*self.exe, "exec", "--json"]
        if self.model and not _has_flag(args, "-m", "--model"):
            argv += ["-m", self.model]
        argv += args
        return argv + (["resume", resume, prompt] if resume else [prompt])

    def new_parser(self) -> CodexStream:
        totals = {k: CodexTotals.from_list(v) for k, v in (self.state.get("totals") or {}).items()}
        return _PersistingCodexStream(self, self.model or "codex", totals)

    def on_turn_end(self, turn: TurnEnded) -> None:
        self.experiments.end_turn()
        if not turn.ok and looks_rate_limited(turn.detail):
            hits = int(self.state.get("limit_hits", 0))
            self.state["limit_hits"] = hits + 1
            self.usage_limit.reject_for(codex_backoff_s(hits), "codex")
        elif turn.ok:
            self.state.pop("limit_hits", None)


class _PersistingCodexStream(CodexStream):
    """Keeps each thread's last cumulative usage in the agent dir, for differencing after a
    conductor restart as well."""

    def __init__(self, agent: CodexAgent, model: str, totals: dict[str, CodexTotals]):
        super().__init__(model, totals)
        self.agent = agent

    def feed(self, line: str):
        out = super().feed(line)
        if any(isinstance(item, Usage) for item in out) or '"turn.completed"' in line:
            self.agent.state["totals"] = {k: v.to_list() for k, v in self.totals.items()}
            self.agent.save_state()
        return out


class CommandAgent(CliAgent):
    """Any executable: its output lines are the pane's activity, messages are stdin lines,
    the prompt is in $CONDUCTOR_PROMPT_FILE. No sessions, no token accounting."""

    kind = "command"
    label = "command"

    def argv(self, prompt: str, resume: str) -> list[str]:
        return [*self.exe, *self.config.args]

    def new_parser(self) -> PlainStream:
        return PlainStream()

    def message_line(self, text: str) -> bytes | None:
        return (" ".join(text.split()) + "\n").encode()

    def resume_id(self) -> str:
        return ""
