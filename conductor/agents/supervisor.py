"""Keeps an external agent CLI going all night: what every flavour (Claude Code, Codex, any
command) shares.

"Never stop" is conductor's job: an agent process that exits is restarted with its
session resumed and a prompt to continue. Exits and empty turns that come three times
within a minute put the pane in an error state with the last output, instead of a
restart storm; a rejected usage limit waits for its reset instead. The researcher's
messages reach the agent at once where the CLI can take them (on stdin) and in the next
prompt otherwise. Pausing the pane stops the agent's process group (SIGSTOP) until it is
resumed; a reached budget pauses it too.

Take-over (the TUI's `a` key): `begin_takeover` stops the headless process and hands back
the argv of the interactive CLI on the same session (`claude --resume ID`, `codex resume
ID`); `end_takeover` lets the headless loop go on, resumed.

Everything the agent prints passes through the redactor before it reaches activity, alerts
or the transcript.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from pathlib import Path
from typing import Any

from conductor.agents.agent_dir import AgentDir
from conductor.agents.budget import Budget, PriceKeys
from conductor.agents.experiments import Experiments
from conductor.agents.launch import agent_env, resolve_command, takeover_argv
from conductor.agents.process import AgentProcess, Parser, Transcript
from conductor.agents.prompts import cli_continue, cli_opening, labelled
from conductor.agents.ratelimit import UsageLimit
from conductor.agents.streams import Activity, RateLimit, SessionStarted, Signal, TurnEnded, Usage
from conductor.config import AgentConfig
from conductor.core.agent import PaneSession, TakeOver
from conductor.core.outcome import NOTE_PREFIX, Outcome, PaneFinished
from conductor.errors import AgentFatal, ConductorError

STORM_EXITS = 3  # failures (exits, empty or failed turns) within the window -> pane error
STORM_WINDOW_S = 60.0
POLL_S = 0.25
FINISH_GRACE_S = 2.0  # a finished pane lets the turn in progress end (and report its tokens) for this long


class CliAgent:
    """The supervisor shared by every flavour; subclasses say how to start and talk to one.
    Takes over (`TakesOver`) and takes `conductor exp` requests (`TakesExperiments`)."""

    kind = ""
    label = "agent"
    default_command = ""
    stdin_open = True  # the process reads the researcher's messages on stdin

    def __init__(self, config: AgentConfig):
        self.config = config
        self.session: PaneSession | None = None
        self.budget = Budget(config.max_usd, config.max_tokens)
        self.managed = True
        self.proc: AgentProcess | None = None
        self.state: dict[str, Any] = {}  # what resuming needs, kept in the agent dir
        self.messages: list[str] = []  # whole texts for the next prompt (no process takes them now)
        self._running = False
        self._terminal: BaseException | None = None
        self._stop_by = 0.0  # when the process of a finished pane is stopped at the latest
        self._takeover = False
        self._taken_over = False  # a take-over ended the current process: not a failure
        self._takeover_done = asyncio.Event()
        self._failures: deque[float] = deque()
        self._turn_end: TurnEnded | None = None
        self._start_at = 0.0
        self._usd_process = 0.0
        self._spoke = False  # the current process printed a session id
        self._resumed = ""  # the session the current process was asked to resume
        self._slot_env: dict[str, str] = {}

    # ------------------------------------------------------------ flavour hooks

    def argv(self, prompt: str, resume: str) -> list[str]:
        raise NotImplementedError

    def new_parser(self) -> Parser:
        raise NotImplementedError

    async def begin(self, prompt: str) -> None:
        """Hand the prompt to a process that has just started (when argv did not)."""

    def message_line(self, text: str) -> bytes | None:
        """A researcher's message as a stdin line for the running process; None: next prompt."""
        return None

    def resume_id(self) -> str:
        return str(self.state.get("session_id") or "")

    def on_turn_end(self, turn: TurnEnded) -> None:
        """A turn is over (the process may live on)."""

    async def tick(self) -> None:
        """Flavour-specific work on every poll (Claude: a due continue message)."""

    def install_hint(self) -> str:
        return 'set agent = { command = "/path/to/it" }'

    # ------------------------------------------------------------ setup

    def command_argv(self) -> list[str]:
        return resolve_command(self.config.command, self.default_command, self.kind, self.label, self.install_hint())

    def save_state(self) -> None:
        self.dir.save_state(self.state)

    def env(self) -> dict[str, str]:
        return agent_env(self.session, self.dir, managed=self.managed, slot_env=self._slot_env)

    def _prepare_dir(self) -> Transcript:
        reaped = self.dir.prepare()
        transcript = Transcript(self.dir.transcript_path, self.session.redact)
        if reaped:
            transcript.last.append("killed an agent process left running by a previous conductor")
        return transcript

    # ------------------------------------------------------------ prompts

    def opening_prompt(self) -> str:
        return self.with_messages(cli_opening(self.session, self.managed))

    def continue_prompt(self, why: str) -> str:
        return self.with_messages(cli_continue(self.session, self.managed, why))

    def with_messages(self, text: str) -> str:
        """`text` and the messages waiting for the next prompt (which are then delivered)."""
        messages = list(self.messages)
        self.messages.clear()
        return "\n\n".join([text, *messages])

    # ------------------------------------------------------------ run

    async def run(self, session: PaneSession) -> None:
        self.session = session
        self.managed = session.workspace.experiments != "observed"
        self._takeover_done = asyncio.Event()
        self.exe = self.command_argv()
        self.dir = AgentDir(session.agent_dir, self.kind)
        self.state = await asyncio.to_thread(self.dir.load_state)
        self.transcript = await asyncio.to_thread(self._prepare_dir)
        self.usage_limit = UsageLimit(session)
        self.prices = PriceKeys(session, self.config.model, self.label)
        self.experiments = Experiments(
            session, self.label, agent_ref=self.resume_id, stop_with=self._stop_with, tell=self.messages.append
        )
        self._running = True
        try:
            lease = contextlib.nullcontext(None) if self.managed else session.slot_lease()
            async with lease as slot:
                self._slot_env = dict(slot.env) if slot is not None else {}
                if not self.managed:
                    self.experiments.watch()
                await self._supervise()
        finally:
            self._running = False
            await self.experiments.close()
            await self._terminate()
            self.transcript.close()

    async def _supervise(self) -> None:
        resume = self.resume_id()
        prompt = self.continue_prompt("conductor was restarted; your session is resumed.") if resume else None
        prompt = prompt or self.opening_prompt()
        while True:
            await self._hold()
            code = await self._run_process(prompt, resume)
            self._raise_terminal()
            await self.experiments.poll()  # rows logged just before the exit count for it
            if self._taken_over:
                self._taken_over = False
                await self._hold()
                why = "The researcher took over this session interactively and has handed it back."
            else:
                why = self._judge_exit(code)
            resume = self.resume_id()
            prompt = self.continue_prompt(why) if resume else self.opening_prompt()

    def _judge_exit(self, code: int | None) -> str:
        """Why the next start happens; counts the exit against the storm guard unless it was a
        clean exit after real work, or a usage limit that will clear by itself."""
        detail = f"status {code}" if code is not None and code >= 0 else f"signal {-(code or 0)}"
        worked = self.experiments.in_process > 0
        if code == 0 and worked:
            self._start_at = time.monotonic() + 0.2
            return f"Your process finished (exit {detail}); it was restarted with your session resumed."
        if self.usage_limit.limited():
            return "Your process stopped at a usage limit; the limit has reset."
        what = f"exited with {detail}" + ("" if worked else " without running an experiment")
        if self._resumed and not self._spoke and self.state.get("session_id") == self._resumed:
            self.state.pop("session_id", None)  # gone or unreadable: the next start is a new session
            self.save_state()
            what += f" (could not resume session {self._resumed}; the next start is a new session)"
        self.note_failure(what)
        return f"Your process {what} and was restarted with your session resumed."

    def note_failure(self, what: str) -> None:
        """An exit, an empty or a failed turn: back off, and give up on the third within a minute."""
        now = time.monotonic()
        self._failures.append(now)
        while self._failures and now - self._failures[0] > STORM_WINDOW_S:
            self._failures.popleft()
        self.session.activity("error", f"{self.label} {what}")
        if len(self._failures) >= STORM_EXITS:
            raise AgentFatal(
                f"{self.label} {what}: {len(self._failures)} failures within {STORM_WINDOW_S:.0f} s, not restarting "
                f"it. Last output:\n{self.transcript.last_output()}"
            )
        self._start_at = now + 0.5 * 2 ** (len(self._failures) - 1)

    async def _hold(self) -> None:
        """Before a (re)start: wait out take-over, pause, usage limits and the backoff."""
        s = self.session
        while True:
            self._raise_terminal()
            if self._takeover:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(POLL_S * 4):
                        await self._takeover_done.wait()
                continue
            paused = s.paused
            self.messages += [labelled(m) for m in await s.checkpoint()]
            if paused:
                continue
            if self.usage_limit.limited():
                await asyncio.sleep(min(POLL_S * 4, self.usage_limit.seconds_left()))
                continue
            self.usage_limit.forget_if_reset()
            remaining = self._start_at - time.monotonic()
            if remaining > 0:
                await asyncio.sleep(min(remaining, POLL_S))
                continue
            return

    def _raise_terminal(self) -> None:
        if self._terminal is not None:
            raise self._terminal

    def _stop_with(self, exc: BaseException) -> None:
        """The pane is done (PaneFinished) or broken: the supervisor raises it at once."""
        if self._terminal is None:
            self._terminal = exc
            self._stop_by = time.monotonic() + (FINISH_GRACE_S if isinstance(exc, PaneFinished) else 0.0)

    def _stop_due(self) -> bool:
        """An error stops the process at once; a finished pane stops it once its turn has ended."""
        return self._turn_end is not None or time.monotonic() >= self._stop_by

    # ------------------------------------------------------------ one process

    async def _run_process(self, prompt: str, resume: str) -> int | None:
        s = self.session
        argv = self.argv(prompt, resume)
        await asyncio.to_thread(self.dir.write_prompt, prompt)
        proc = await AgentProcess.start(
            argv,
            cwd=s.worktree_path,
            env=self.env(),
            stdin_open=self.stdin_open,
            label=self.label,
            transcript=self.transcript,
        )
        self.proc = proc
        self.experiments.new_process()
        self._usd_process = 0.0
        self._spoke = False
        self._resumed = resume
        self._turn_end = None
        await asyncio.to_thread(self.dir.write_pid, proc.pid)
        how = f"resuming session {resume}" if resume else "new session"
        s.activity("info", f"started {self.label} (pid {proc.pid}, {how})")
        s.set_state("thinking", f"{self.label} working")
        proc.read(self.new_parser(), self._handle)
        try:
            await self.begin(prompt)
            while not proc.exited:
                await self._service(proc)
                await proc.wait(POLL_S)
        finally:
            await proc.close()
            self.dir.clear_pid()
            self.proc = None
        code = proc.returncode
        s.activity("info", f"{self.label} exited with status {code}")
        return code

    async def _service(self, proc: AgentProcess) -> None:
        """Every poll while the process runs: stop, pause, messages, the end of a turn."""
        s = self.session
        if self._terminal is not None or self._takeover:
            if self._takeover or self._stop_due():
                await self._terminate()
            return
        paused = s.paused
        if paused != proc.suspended:
            proc.suspend(paused)
            s.activity("info", f"{self.label} {'stopped (SIGSTOP) while paused' if paused else 'continued'}")
        if paused:
            return
        for message in await s.checkpoint():
            await self.deliver(labelled(message))
        if s.take_program_reload():
            await self.deliver(
                f"{NOTE_PREFIX}The researcher edited program.md. Follow the new version from now on:\n\n"
                + s.program_text().strip()
            )
        if self._turn_end is not None:
            turn, self._turn_end = self._turn_end, None
            await self.experiments.poll()  # a row logged at the end of the turn counts for it
            self._after_turn(turn)
        await self.tick()

    def _after_turn(self, turn: TurnEnded) -> None:
        if turn.cost_usd is not None:
            self.session.activity(
                "info",
                f"turn done: the CLI's own estimate ${turn.cost_usd:.4f}; conductor counted "
                f"${self._usd_process:.4f} since this process started",
            )
        if not turn.ok and turn.detail:
            self.transcript.last.append(turn.detail)
        self.on_turn_end(turn)

    async def deliver(self, text: str) -> None:
        line = self.message_line(text) if self.proc is not None and self.proc.running else None
        if line is None:
            self.messages.append(text)
            return
        await self.write_stdin(line)

    async def write_stdin(self, line: bytes) -> bool:
        return self.proc is not None and await self.proc.write(line)

    async def _terminate(self) -> None:
        if self.proc is not None:
            await self.proc.terminate()

    def _handle(self, item: Signal) -> None:
        s = self.session
        if isinstance(item, Usage):
            self._record_usage(item)
        elif isinstance(item, Activity):
            s.activity(item.kind, item.text)
            self.transcript.last.append(item.text)
        elif isinstance(item, SessionStarted):
            self._spoke = True
            if item.session_id and item.session_id != self.state.get("session_id"):
                self.state["session_id"] = item.session_id
                self.save_state()
        elif isinstance(item, RateLimit):
            self.usage_limit.report(item)
            s.quota(self.kind, item.limit_type or "?", item.utilization, item.resets_at, item.status)
        elif isinstance(item, TurnEnded):
            self._turn_end = item

    def _record_usage(self, usage: Usage) -> None:
        usd = self.session.record_usage(
            self.prices.key(usage.model),
            input=usage.input,
            output=usage.output,
            cache_write_5m=usage.cache_write_5m,
            cache_write_1h=usage.cache_write_1h,
            cache_read=usage.cache_read,
            request_id=usage.request_id,
            source=self.kind,
        )
        self._usd_process += float(usd or 0.0)
        self.budget.pause_if_reached(self.session)

    # ------------------------------------------------------------ capabilities

    def takes_experiments(self) -> bool:
        return self._running and self.managed

    async def take_experiment(self, description: str) -> Outcome:
        return await self.experiments.take(description)

    def can_take_over(self) -> bool:
        return self._running

    def interactive_argv(self) -> list[str]:
        return takeover_argv(self.kind, self.config.command, self.resume_id())

    async def begin_takeover(self) -> TakeOver:
        if self._takeover:
            raise ConductorError(f"pane {self.session.name} is already taken over")
        argv = self.interactive_argv()
        self._takeover = True
        self._taken_over = True
        self._takeover_done.clear()
        s = self.session
        s.activity("info", f"the researcher takes over: {' '.join(argv)}")
        await self._terminate()
        s.set_state("paused", "taken over by the researcher")
        return TakeOver(argv=argv, cwd=Path(s.worktree_path), env=self.env())

    def end_takeover(self) -> None:
        if not self._takeover:
            return
        self._takeover = False
        self._takeover_done.set()
        self.session.activity("info", "handed back: the headless agent resumes the session")
        self.session.set_state("thinking", "resuming after take-over")
