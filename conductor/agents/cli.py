"""External agent CLIs as panes: Claude Code, Codex or any command, kept going all night.

The agent runs headless in the pane's worktree as a subprocess (its own process group)
with agents.md + program.md + a preface on how experiments run here. Its JSON stream is
parsed by `streams.py` into tokens (recorded like the built-in agent's), activity lines,
the session id and rate-limit state. Its experiments reach the ledger either through
`conductor exp` (managed: the pane's `exp_handler`, served by core/control.py) or through
the results.tsv rows it writes itself (observed: core/observe.py).

"Never stop" is conductor's job: a Claude turn that ends gets a continue message on stdin;
an agent process that exits is restarted with its session resumed (`--resume SESSION_ID`,
`codex exec resume THREAD_ID`) and a prompt to continue. Exits and empty turns that come
three times within a minute put the pane in an error state with the last output, instead
of a restart storm; a rejected usage limit waits for its reset instead. The researcher's
messages reach the agent at once where the CLI can take them (Claude's stdin, a command's
stdin) and in the next prompt otherwise (Codex). Pausing the pane stops the agent's
process group (SIGSTOP) until it is resumed.

Take-over (for the TUI's `a` key): `take_over(pane)` stops the headless process, hands back
the argv of the interactive CLI on the same session (`claude --resume ID`, `codex resume
ID`) and, when the block exits, restarts the headless loop resumed.

The agent inherits conductor's environment (it needs its own credentials); everything it
prints passes through the redactor before it reaches activity, alerts or the transcript.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shlex
import shutil
import signal
import sys
import time
from collections import deque
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from conductor.agents.base import AgentFatal, PaneSession
from conductor.agents.streams import (
    Activity,
    ClaudeStream,
    CodexStream,
    CodexTotals,
    PlainStream,
    RateLimit,
    SessionStarted,
    TurnEnded,
    Usage,
    clip,
    price_key_candidates,
)
from conductor.config import AgentConfig
from conductor.core.control import TakeOver
from conductor.core.experiment import _die_with_parent, kill_group, reap_pidfile, write_pidfile
from conductor.core.outcome import PaneFinished
from conductor.core.secrets import Redactor
from conductor.errors import ConductorError

STORM_EXITS = 3  # failures (exits, empty or failed turns) within the window -> pane error
STORM_WINDOW_S = 60.0
POLL_S = 0.25
TERM_GRACE_S = 3.0
STREAM_LIMIT = 64 * 1024 * 1024  # one JSON line can carry a large tool result
LAST_LINES = 15
TRANSCRIPT_MAX_BYTES = 50 * 1024 * 1024
RESULTS_SHOWN = 30

STATE_FILE = "cli.json"
PID_FILE = "agent.pid"
PROMPT_FILE = "prompt.md"
TRANSCRIPT_FILE = "transcript.log"

RESEARCHER = "[message from the researcher]\n"


def labelled(message: str) -> str:
    """An inbox message as the agent reads it: conductor's own notes start with [conductor],
    everything else came from the researcher."""
    return message if message.startswith("[conductor]") else RESEARCHER + message


def _continue_text(managed: bool) -> str:
    how = 'run it with `conductor exp -m "..."`' if managed else "run and log it as program.md says"
    return (
        f"[conductor] Keep going: pick your next idea and {how}. This loop never stops on its own; "
        "do not ask whether to continue."
    )


# ---------------------------------------------------------------- take-over (for the TUI)

_LIVE: dict[str, CliAgent] = {}


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


def live_agent(pane: Any) -> CliAgent | None:
    """The external agent running in this pane, if any."""
    return _LIVE.get(str(getattr(pane, "worktree_path", "")))


@contextlib.asynccontextmanager
async def take_over(pane: Any) -> AsyncIterator[TakeOver]:
    """Stop the pane's headless agent, yield the interactive command on its session, and
    restart the headless loop (resumed) when the block exits. Usage in the TUI:

        async with take_over(pane) as t:
            with app.suspend():
                subprocess.run(t.argv, cwd=t.cwd, env=t.env)
    """
    agent = live_agent(pane)
    if agent is None:
        raise ConductorError(f"pane {getattr(pane, 'name', '?')} has no external agent running to take over")
    handover = await agent.begin_takeover()
    try:
        yield handover
    finally:
        agent.end_takeover()


# ---------------------------------------------------------------- the agent


def create_cli_agent(config: AgentConfig) -> CliAgent:
    flavours = {"claude-code": ClaudeCodeAgent, "codex": CodexAgent, "command": CommandAgent}
    return flavours[config.kind](config)


class CliAgent:
    """The supervisor shared by every flavour; subclasses say how to start and talk to one."""

    kind = ""
    label = "agent"
    default_command = ""
    stdin_open = True  # the process reads the researcher's messages on stdin

    def __init__(self, config: AgentConfig):
        self.config = config
        self.session: PaneSession | None = None
        self.managed = True
        self.proc: asyncio.subprocess.Process | None = None
        self.state: dict[str, Any] = {}
        self.messages: list[str] = []  # whole texts for the next prompt (no process takes them now)
        self._terminal: BaseException | None = None
        self._exp_task: asyncio.Task | None = None
        self._observer: asyncio.Task | None = None
        self._watch = None  # core.observe.Observer in observed mode
        self._watch_lock = asyncio.Lock()
        self._takeover = False
        self._taken_over = False  # a take-over ended the current process: not a failure
        self._takeover_done = asyncio.Event()
        self._suspended = False
        self._last: deque[str] = deque(maxlen=LAST_LINES)
        self._failures: deque[float] = deque()
        self._process_experiments = 0
        self._turn_experiments = 0
        self._turn_end: TurnEnded | None = None
        self._rate_limit: RateLimit | None = None
        self._rate_shown: tuple | None = None
        self._start_at = 0.0
        self._usd_process = 0.0
        self._priced: dict[str, str] = {}
        self._spoke = False  # the current process printed a session id
        self._resumed = ""  # the session the current process was asked to resume
        self._usd_limit = config.max_usd
        self._token_limit = config.max_tokens
        self._slot_env: dict[str, str] = {}
        self._redact = Redactor(dict(os.environ))
        self._transcript = None

    # ------------------------------------------------------------ flavour hooks

    def argv(self, prompt: str, resume: str) -> list[str]:
        raise NotImplementedError

    def new_parser(self):
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

    # ------------------------------------------------------------ setup

    @property
    def run_dir(self) -> Path:
        return Path(self.session.worktree_path).parent.parent

    def command_argv(self) -> list[str]:
        words = shlex.split(self.config.command) if self.config.command.strip() else []
        words = words or ([self.default_command] if self.default_command else [])
        if not words:
            raise AgentFatal(f'agent kind "{self.kind}" needs a command: set agent = {{ command = "..." }}')
        exe = words[0]
        if shutil.which(exe) is None and not (os.sep in exe and os.access(exe, os.X_OK)):
            raise AgentFatal(f"{self.label}: '{exe}' was not found on PATH ({self.install_hint()})")
        return words

    def install_hint(self) -> str:
        return 'set agent = { command = "/path/to/it" }'

    def _state_path(self) -> Path:
        return Path(self.session.agent_dir) / STATE_FILE

    def _load_state(self) -> dict:
        try:
            data = json.loads(self._state_path().read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            return {}
        return data if isinstance(data, dict) and data.get("kind") == self.kind else {}

    def save_state(self) -> None:
        path = self._state_path()
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({**self.state, "kind": self.kind}), encoding="utf-8")
        os.replace(tmp, path)

    def _write_shim(self) -> Path:
        """`conductor` on the agent's PATH runs this very installation (for `conductor exp`)."""
        bin_dir = Path(self.session.agent_dir) / "bin"
        bin_dir.mkdir(parents=True, exist_ok=True)
        shim = bin_dir / "conductor"
        shim.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -m conductor "$@"\n', encoding="utf-8")
        shim.chmod(0o755)
        return bin_dir

    def env(self) -> dict[str, str]:
        s = self.session
        ws = s.workspace
        env = {k: v for k, v in os.environ.items() if k != "CONDUCTOR_EXPERIMENT"}
        env.update(self._slot_env)
        if not self.managed:  # the agent runs the experiments itself: give them the run's settings
            env.setdefault("OPENBLAS_NUM_THREADS", "1")
            env["TIME_BUDGET"] = f"{ws.time_budget_s:g}"
        env["PATH"] = f"{Path(s.agent_dir) / 'bin'}{os.pathsep}{env.get('PATH', '')}"
        env["PYTHONUNBUFFERED"] = "1"
        env["CONDUCTOR_PANE"] = s.name
        env["CONDUCTOR_RUN_DIR"] = str(self.run_dir)
        env["CONDUCTOR_WORKTREE"] = str(s.worktree_path)
        env["CONDUCTOR_PROMPT_FILE"] = str(Path(s.agent_dir) / PROMPT_FILE)
        return env

    # ------------------------------------------------------------ prompts

    def preface(self) -> str:
        s = self.session
        ws = s.workspace
        better = "lower" if ws.goal == "min" else "higher"
        branch = getattr(s, "branch", "") or "this pane's branch"
        lines = [
            "# How experiments run here (conductor)",
            f"You work in {s.worktree_path}, on the git branch `{branch}`, one of several research loops "
            "conductor runs at once.",
            f"Editable: {', '.join(ws.editable)}. Protected (must stay byte-identical): "
            f"{', '.join(ws.protected) or 'none'}. The metric is `{ws.metric}` from the run's `---` summary "
            f"block; {better} is better.",
        ]
        if self.managed:
            wait_s = int(ws.timeout_s + 120)
            lines += [
                "Run every experiment through conductor: make one change, then, in the worktree, run",
                '    conductor exp -m "<what you tried, in a few words>"',
                f"It commits your change, waits for a free slot, runs `{ws.run}` under a {ws.time_budget_s:g} s "
                f"budget, reads {ws.metric}, keeps the commit if it beats the best and otherwise reverts the "
                "worktree, then prints the outcome (metric, change against the best, decision, log tail on a crash).",
                f"It can take several minutes: give your shell tool a timeout of at least {wait_s} s "
                f"({wait_s * 1000} ms), and do not edit files while it runs.",
                "Do not run the training command yourself, do not commit, reset or switch branches, and do not edit "
                "results.tsv: conductor records everything.",
            ]
            if not any(r.is_baseline for r in s.history()):
                lines.append("Your first experiment is the unmodified code: `conductor exp -m baseline`.")
        else:
            lines += [
                "In this loop you run experiments yourself (the rules above that leave git and results.tsv to "
                "conductor do not apply here).",
                "Run experiments exactly as program.md says: commit, run, log one row per experiment to "
                "results.tsv, then keep or reset. conductor watches results.tsv and the branch and records every "
                "row you log, with the status you give it.",
                f"Your branch `{branch}` is already created and checked out: skip program.md's steps that create "
                "a branch, and stay on this one. A change to a protected file gets the experiment recorded as "
                "rejected.",
            ]
        lines.append(
            "Never stop to ask whether to continue. The researcher watches every loop and may message you; "
            "their messages start with [message from the researcher] and take priority."
        )
        return "\n".join(lines)

    def results_text(self) -> str:
        rows = self.session.history()
        if not rows:
            return ""
        metric = self.session.workspace.metric
        lines = [f"seq | status | {metric} | description"]
        for r in rows[-RESULTS_SHOWN:]:
            value = f"{r.metric:.6f}" if r.metric is not None else "-"
            lines.append(
                f"{r.seq} | {'baseline' if r.is_baseline else r.status} | {value} | {clip(r.description, 100)}"
            )
        if len(rows) > RESULTS_SHOWN:
            lines.insert(1, f"({len(rows) - RESULTS_SHOWN} earlier experiments not shown)")
        best = self.session.best
        tail = f"\nBest so far: {best:.6f}" if best is not None else ""
        return "Results so far:\n" + "\n".join(lines) + tail

    def opening_prompt(self) -> str:
        s = self.session
        parts = [
            s.agents_text().strip(),
            "# Your research program (program.md)\n\n" + (s.program_text().strip() or "(empty)"),
        ]
        parts.append(self.preface())
        results = self.results_text()
        if results:
            parts.append(results)
        return self._with_messages("\n\n".join(p for p in parts if p))

    def continue_prompt(self, why: str) -> str:
        parts = [f"[conductor] {why}", self.results_text(), _continue_text(self.managed)]
        return self._with_messages("\n\n".join(p for p in parts if p))

    def _with_messages(self, text: str) -> str:
        messages, self.messages = self.messages, []
        return "\n\n".join([text, *messages])

    # ------------------------------------------------------------ run

    async def run(self, session: PaneSession) -> None:
        self.session = session
        self.managed = getattr(session.workspace, "experiments", "managed") != "observed"
        self._takeover_done = asyncio.Event()
        key = str(session.worktree_path)
        self.exe = self.command_argv()
        self.state = await asyncio.to_thread(self._load_state)
        await asyncio.to_thread(self._prepare_dir)
        _LIVE[key] = self
        if self.managed:
            session.exp_handler = self._exp
        try:
            async with self._slot() as slot:
                self._slot_env = dict(getattr(slot, "env", {}) or {})
                if not self.managed:
                    self._observer = asyncio.create_task(self._observe(), name=f"observe:{session.name}")
                await self._supervise()
        finally:
            if getattr(session, "exp_handler", None) == self._exp:
                session.exp_handler = None
            for task in (self._observer, self._exp_task):
                if task is not None and not task.done():
                    task.cancel()
                    with contextlib.suppress(BaseException):
                        await task
            await self._terminate()
            if _LIVE.get(key) is self:
                del _LIVE[key]
            if self._transcript is not None:
                self._transcript.close()

    def _prepare_dir(self) -> None:
        agent_dir = Path(self.session.agent_dir)
        agent_dir.mkdir(parents=True, exist_ok=True)
        if reap_pidfile(agent_dir / PID_FILE):
            self._last.append("killed an agent process left running by a previous conductor")
        self._write_shim()
        self._transcript = open(agent_dir / TRANSCRIPT_FILE, "a", encoding="utf-8")  # noqa: SIM115 - open for the run

    def _slot(self):
        lease = getattr(self.session, "slot_lease", None)
        if self.managed or lease is None:
            return contextlib.nullcontext(None)
        return lease()

    async def _supervise(self) -> None:
        resume = self.resume_id()
        prompt = self.continue_prompt("conductor was restarted; your session is resumed.") if resume else None
        prompt = prompt or self.opening_prompt()
        while True:
            await self._hold()
            code = await self._run_process(prompt, resume)
            self._raise_terminal()
            await self.poll_observed()  # rows logged just before the exit count for it
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
        clean = code == 0 and self._process_experiments > 0
        if clean:
            self._start_at = time.monotonic() + 0.2
            return f"Your process finished (exit {detail}); it was restarted with your session resumed."
        if self._limited():
            return "Your process stopped at a usage limit; the limit has reset."
        what = f"exited with {detail}" + ("" if self._process_experiments else " without running an experiment")
        if self._resumed and not self._spoke and self.state.get("session_id") == self._resumed:
            self.state.pop("session_id", None)  # gone or unreadable: the next start is a new session
            self.save_state()
            what += f" (could not resume session {self._resumed}; the next start is a new session)"
        self._note_failure(what)
        return f"Your process {what} and was restarted with your session resumed."

    def _note_failure(self, what: str) -> None:
        now = time.monotonic()
        self._failures.append(now)
        while self._failures and now - self._failures[0] > STORM_WINDOW_S:
            self._failures.popleft()
        self.session.activity("error", f"{self.label} {what}")
        if len(self._failures) >= STORM_EXITS:
            last = "\n".join(self._redact(line) for line in self._last) or "(no output)"
            raise AgentFatal(
                f"{self.label} {what}: {len(self._failures)} failures within {STORM_WINDOW_S:.0f} s, not restarting "
                f"it. Last output:\n{last}"
            )
        self._start_at = now + 0.5 * 2 ** (len(self._failures) - 1)

    def _limited(self) -> bool:
        limit = self._rate_limit
        return limit is not None and not limit.allowed and (limit.resets_at or 0) > time.time()

    async def _hold(self) -> None:
        """Before a (re)start: wait out take-over, pause, usage limits and the backoff."""
        s = self.session
        while True:
            self._raise_terminal()
            if self._takeover:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._takeover_done.wait(), POLL_S * 4)
                continue
            paused = bool(getattr(s, "paused", False))
            self.messages += [labelled(m) for m in await s.checkpoint()]
            if paused:
                continue
            if self._limited():
                await asyncio.sleep(min(POLL_S * 4, self._rate_limit.resets_at - time.time()))
                continue
            if self._rate_limit is not None and not self._rate_limit.allowed:
                self._rate_limit = None
                s.set_state("thinking", "usage limit reset")
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

    # ------------------------------------------------------------ one process

    async def _run_process(self, prompt: str, resume: str) -> int | None:
        s = self.session
        argv = self.argv(prompt, resume)
        await asyncio.to_thread(self._write_prompt_file, prompt)
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                cwd=str(s.worktree_path),
                env=self.env(),
                stdin=asyncio.subprocess.PIPE if self.stdin_open else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,
                preexec_fn=_die_with_parent,
                limit=STREAM_LIMIT,
            )
        except OSError as exc:
            raise AgentFatal(f"{self.label}: cannot start {argv[0]}: {exc.strerror or exc}") from None
        self.proc = proc
        self._suspended = False
        self._process_experiments = self._turn_experiments = 0
        self._usd_process = 0.0
        self._spoke = False
        self._resumed = resume
        self._turn_end = None
        await asyncio.to_thread(write_pidfile, Path(s.agent_dir) / PID_FILE, proc.pid)
        how = f"resuming session {resume}" if resume else "new session"
        s.activity("info", f"started {self.label} (pid {proc.pid}, {how})")
        s.set_state("thinking", f"{self.label} working")
        parser = self.new_parser()
        readers = [
            asyncio.create_task(self._read_stdout(proc.stdout, parser)),
            asyncio.create_task(self._read_stderr(proc.stderr)),
        ]
        waiter = asyncio.create_task(proc.wait())
        try:
            await self.begin(prompt)
            while not waiter.done():
                await self._service()
                await asyncio.wait({waiter}, timeout=POLL_S)
        finally:
            if not waiter.done():
                await self._terminate()
                with contextlib.suppress(BaseException):
                    await asyncio.shield(waiter)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)  # whatever it left in its group
            done, pending = await asyncio.wait(readers, timeout=2.0)
            for task in pending:
                task.cancel()
            with contextlib.suppress(FileNotFoundError):
                (Path(s.agent_dir) / PID_FILE).unlink()
            self.proc = None
        code = proc.returncode
        s.activity("info", f"{self.label} exited with status {code}")
        return code

    def _write_prompt_file(self, prompt: str) -> None:
        (Path(self.session.agent_dir) / PROMPT_FILE).write_text(prompt, encoding="utf-8")

    async def _service(self) -> None:
        """Every poll while the process runs: stop, pause, messages, the end of a turn."""
        s = self.session
        if self._terminal is not None or self._takeover:
            await self._terminate()
            return
        paused = bool(getattr(s, "paused", False))
        if paused != self._suspended:
            self._signal_group(signal.SIGSTOP if paused else signal.SIGCONT)
            self._suspended = paused
            s.activity("info", f"{self.label} {'stopped (SIGSTOP) while paused' if paused else 'continued'}")
        if paused:
            return
        for message in await s.checkpoint():
            await self.deliver(labelled(message))
        if s.take_program_reload():
            await self.deliver(
                "[conductor] The researcher edited program.md. Follow the new version from now on:\n\n"
                + s.program_text().strip()
            )
        if self._turn_end is not None:
            turn, self._turn_end = self._turn_end, None
            await self.poll_observed()  # a row logged at the end of the turn counts for it
            self._after_turn(turn)
        await self.tick()

    async def tick(self) -> None:
        """Flavour-specific work on every poll (Claude: a due continue message)."""

    def _after_turn(self, turn: TurnEnded) -> None:
        if turn.cost_usd is not None:
            self.session.activity(
                "info",
                f"turn done: the CLI's own estimate ${turn.cost_usd:.4f}; conductor counted "
                f"${self._usd_process:.4f} since this process started",
            )
        if not turn.ok and turn.detail:
            self._last.append(turn.detail)
        self.on_turn_end(turn)

    async def deliver(self, text: str) -> None:
        line = self.message_line(text) if self.proc is not None and self.proc.returncode is None else None
        if line is None:
            self.messages.append(text)
            return
        await self.write_stdin(line)

    async def write_stdin(self, line: bytes) -> bool:
        proc = self.proc
        if proc is None or proc.stdin is None or proc.stdin.is_closing():
            return False
        try:
            proc.stdin.write(line)
            await asyncio.wait_for(proc.stdin.drain(), 10)
            return True
        except (ConnectionError, OSError, TimeoutError):
            return False

    def _signal_group(self, sig: int) -> None:
        if self.proc is not None and self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, sig)

    async def _terminate(self) -> None:
        proc = self.proc
        if proc is None or proc.returncode is not None:
            return
        if self._suspended:
            self._signal_group(signal.SIGCONT)
            self._suspended = False
        if proc.stdin is not None:
            with contextlib.suppress(Exception):
                proc.stdin.close()
        await asyncio.shield(asyncio.to_thread(kill_group, proc.pid, proc.pid, TERM_GRACE_S))

    # ------------------------------------------------------------ output

    async def _read_stdout(self, stream: asyncio.StreamReader, parser) -> None:
        while True:
            try:
                raw = await stream.readline()
            except ValueError:  # a line over STREAM_LIMIT: skipped
                continue
            if not raw:
                break
            text = raw.decode("utf-8", errors="replace")
            self._log(text)
            for signal_ in parser.feed(text):
                self._handle(signal_)
        for signal_ in parser.close():
            self._handle(signal_)

    async def _read_stderr(self, stream: asyncio.StreamReader) -> None:
        while True:
            try:
                raw = await stream.readline()
            except ValueError:
                continue
            if not raw:
                break
            text = raw.decode("utf-8", errors="replace").rstrip()
            self._log("[stderr] " + text + "\n")
            if text.strip():
                self._last.append(clip(text))

    def _log(self, text: str) -> None:
        fh = self._transcript
        if fh is None:
            return
        with contextlib.suppress(OSError, ValueError):
            if fh.tell() > TRANSCRIPT_MAX_BYTES:
                fh.close()
                path = Path(self.session.agent_dir) / TRANSCRIPT_FILE
                os.replace(path, path.with_suffix(".log.1"))
                self._transcript = fh = open(path, "a", encoding="utf-8")  # noqa: SIM115
            fh.write(self._redact(text if len(text) < 16384 else text[:16384] + "…\n"))
            fh.flush()

    def _handle(self, item) -> None:
        s = self.session
        if isinstance(item, Usage):
            self._record_usage(item)
        elif isinstance(item, Activity):
            s.activity(item.kind, item.text)
            self._last.append(item.text)
        elif isinstance(item, SessionStarted):
            self._spoke = True
            if item.session_id and item.session_id != self.state.get("session_id"):
                self.state["session_id"] = item.session_id
                self.save_state()
        elif isinstance(item, RateLimit):
            self._on_rate_limit(item)
        elif isinstance(item, TurnEnded):
            self._turn_end = item

    def _record_usage(self, usage: Usage) -> None:
        model = self._price_model(usage.model)
        usd = self.session.record_usage(
            model,
            input=usage.input,
            output=usage.output,
            cache_write_5m=usage.cache_write_5m,
            cache_write_1h=usage.cache_write_1h,
            cache_read=usage.cache_read,
            request_id=usage.request_id,
            source=self.kind,
        )
        self._usd_process += float(usd or 0.0)
        self._check_budget()

    def _check_budget(self) -> None:
        """max_usd / max_tokens: pause the pane (its process group stops); resuming allows as
        much again, as for the built-in agent."""
        if self._usd_limit is None and self._token_limit is None:
            return
        s = self.session
        spent = s.usage_totals()
        tokens = spent.input + spent.output + spent.cache_write + spent.cache_read
        if self._usd_limit is not None and spent.usd >= self._usd_limit:
            message = f"budget reached: ${spent.usd:.2f} spent, max_usd is ${self._usd_limit:.2f}"
            self._usd_limit = spent.usd + self.config.max_usd
        elif self._token_limit is not None and tokens >= self._token_limit:
            message = f"budget reached: {tokens} tokens used, max_tokens is {self._token_limit}"
            self._token_limit = tokens + self.config.max_tokens
        else:
            return
        s.alert("warning", f"{message}. The pane is paused; resuming allows as much again.")
        s.pause(message)

    def _price_model(self, model: str) -> str:
        model = model or self.config.model
        if model not in self._priced:
            for candidate in price_key_candidates(model):
                if self.session.price(candidate) is not None:
                    self._priced[model] = candidate
                    break
            else:
                self._priced[model] = model
                self.session.alert(
                    "warning",
                    f'no [prices."{model}"] in the config: {self.label} tokens are counted, their cost shows $0',
                )
        return self._priced[model]

    def _on_rate_limit(self, limit: RateLimit) -> None:
        s = self.session
        was_limited = self._rate_limit is not None and not self._rate_limit.allowed
        self._rate_limit = limit
        resets = time.strftime("%H:%M", time.localtime(limit.resets_at)) if limit.resets_at else "?"
        used = f"{limit.utilization:.0%} used, " if limit.utilization is not None else ""
        shown = (limit.status, limit.limit_type, round((limit.utilization or 0) * 20))
        if shown != self._rate_shown:
            self._rate_shown = shown
            s.activity("info", f"usage limit {limit.limit_type or '?'}: {used}resets at {resets} ({limit.status})")
        if not limit.allowed:
            s.set_state(
                "waiting", f"usage limit ({limit.limit_type or 'rate'}) until {resets}", deadline=limit.resets_at
            )
        elif was_limited:
            s.set_state("thinking", "usage limit cleared")

    # ------------------------------------------------------------ experiments

    async def _exp(self, description: str):
        """`conductor exp` for this pane (called by the control server's task)."""
        if self._exp_task is not None and not self._exp_task.done():
            raise ConductorError("an experiment of this pane is already running: wait for its outcome")
        self._exp_task = asyncio.create_task(self._run_exp(description))
        return await asyncio.shield(self._exp_task)

    async def _run_exp(self, description: str):
        try:
            outcome = await self.session.run_experiment(description, agent_ref=self.resume_id())
        except PaneFinished as done:
            self._counted()
            self._stop_with(done)
            raise
        except ConductorError as exc:
            self._stop_with(exc)
            raise
        except Exception as exc:  # the pane fails with it; the agent gets one line
            self._stop_with(exc)
            raise ConductorError(f"conductor could not run the experiment: {exc.__class__.__name__}: {exc}") from None
        self._counted()
        return outcome

    def _counted(self) -> None:
        self._process_experiments += 1
        self._turn_experiments += 1

    async def _observe(self) -> None:
        from conductor.core.observe import Observer

        self._watch = Observer(self.session)
        try:
            while True:
                await self.poll_observed()
                await asyncio.sleep(POLL_S * 2)
        except PaneFinished as done:
            self._stop_with(done)
        except Exception as exc:
            self._stop_with(exc)

    async def poll_observed(self) -> None:
        """Record the rows the agent logged since the last look (observed mode)."""
        if self._watch is None:
            return
        async with self._watch_lock:
            try:
                outcomes = await asyncio.to_thread(self._watch.poll)
            except PaneFinished:
                self._counted()
                raise
        for outcome in outcomes:
            self._observed(outcome)

    def _observed(self, outcome) -> None:
        self._counted()
        if outcome.status == "rejected":
            base = getattr(self.session, "base_commit", "") or "the starting commit"
            self.messages.append(
                f"[conductor] Experiment #{outcome.seq} ('{outcome.description}') was recorded as REJECTED: "
                f"{outcome.reason}. Restore the protected files (git checkout {base} -- <file>) and do not edit them."
            )
            self.session.alert("warning", f"told {self.label} that experiment #{outcome.seq} was rejected")

    # ------------------------------------------------------------ take-over

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


# ---------------------------------------------------------------- flavours


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
        productive, self._turn_experiments = self._turn_experiments > 0, 0
        if self._outstanding > 0:
            return  # the next queued message starts the next turn
        if not (turn.ok and productive) and not self._limited():
            self._note_failure(
                f"turn ended {('with an error: ' + turn.detail) if not turn.ok else 'without an experiment'}"
            )
        self._nudge_at = max(time.monotonic(), self._start_at)

    async def tick(self) -> None:
        if self._nudge_at is None or time.monotonic() < self._nudge_at or self._limited():
            return
        self._nudge_at = None
        text = self._with_messages(_continue_text(self.managed))
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
        self._turn_experiments = 0
        if not turn.ok and _looks_rate_limited(turn.detail):
            backoff = min(1800.0, 60.0 * 2 ** int(self.state.get("limit_hits", 0)))
            self.state["limit_hits"] = int(self.state.get("limit_hits", 0)) + 1
            self._rate_limit = RateLimit("rejected", time.time() + backoff, "codex", None)
            self.session.set_state(
                "waiting", f"codex usage limit: retry in {backoff:.0f} s", deadline=time.time() + backoff
            )
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

    def interactive_argv(self) -> list[str]:
        return takeover_argv(self.kind)


def _has_flag(args: list[str], *flags: str) -> bool:
    return any(a == f or a.startswith(f + "=") for a in args for f in flags)


def _looks_rate_limited(text: str) -> bool:
    lowered = text.lower()
    return "usage limit" in lowered or "rate limit" in lowered or "429" in lowered
