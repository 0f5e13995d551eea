"""One run of an external agent CLI as a process: its group, stdin, output and transcript.

The process gets its own process group (so pausing can stop it with everything it
started, and stopping it leaves nothing behind) and dies with conductor. Every line it
prints goes through the redactor into the pane's transcript before anything else sees it;
the last lines are kept for the error a restart storm ends with.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from conductor.agents.streams import Signal, clip
from conductor.core.experiment import _die_with_parent, kill_group
from conductor.core.secrets import Redactor
from conductor.errors import AgentFatal

TERM_GRACE_S = 3.0
STREAM_LIMIT = 64 * 1024 * 1024  # one JSON line can carry a large tool result
LAST_LINES = 15
TRANSCRIPT_MAX_BYTES = 50 * 1024 * 1024
TRANSCRIPT_LINE_MAX = 16384
READERS_GRACE_S = 2.0


class Parser(Protocol):
    def feed(self, line: str) -> list[Signal]: ...
    def close(self) -> list[Signal]: ...


class Transcript:
    """Everything the agent printed, redacted, in `transcript.log` (rotated once it is large)."""

    def __init__(self, path: Path, redact: Redactor):
        self.path = path
        self.redact = redact
        self.last: deque[str] = deque(maxlen=LAST_LINES)
        self._file = open(path, "a", encoding="utf-8")  # noqa: SIM115 - open for the agent's run

    def write(self, text: str) -> None:
        fh = self._file
        with contextlib.suppress(OSError, ValueError):
            if fh.tell() > TRANSCRIPT_MAX_BYTES:
                fh.close()
                os.replace(self.path, self.path.with_suffix(".log.1"))
                self._file = fh = open(self.path, "a", encoding="utf-8")  # noqa: SIM115
            fh.write(self.redact(text if len(text) < TRANSCRIPT_LINE_MAX else text[:TRANSCRIPT_LINE_MAX] + "…\n"))
            fh.flush()

    def last_output(self) -> str:
        return "\n".join(self.redact(line) for line in self.last) or "(no output)"

    def close(self) -> None:
        self._file.close()


class AgentProcess:
    """A started agent CLI. `read` feeds its stdout to a parser and the parser's signals to
    `handle`; `close` ends it and waits for its output to drain."""

    def __init__(self, proc: asyncio.subprocess.Process, transcript: Transcript):
        self.proc = proc
        self.pid = proc.pid
        self.transcript = transcript
        self.suspended = False
        self._readers: list[asyncio.Task] = []
        self._waiter = asyncio.create_task(proc.wait())

    @classmethod
    async def start(
        cls, argv: list[str], *, cwd: Path, env: dict[str, str], stdin_open: bool, label: str, transcript: Transcript
    ) -> AgentProcess:
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                cwd=str(cwd),
                env=env,
                stdin=asyncio.subprocess.PIPE if stdin_open else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,
                preexec_fn=_die_with_parent,
                limit=STREAM_LIMIT,
            )
        except OSError as exc:
            raise AgentFatal(f"{label}: cannot start {argv[0]}: {exc.strerror or exc}") from None
        return cls(proc, transcript)

    @property
    def running(self) -> bool:
        return self.proc.returncode is None

    @property
    def exited(self) -> bool:
        """The process was waited for (its status is known)."""
        return self._waiter.done()

    @property
    def returncode(self) -> int | None:
        return self.proc.returncode

    def read(self, parser: Parser, handle: Callable[[Signal], None]) -> None:
        self._readers = [
            asyncio.create_task(self._read_stdout(parser, handle)),
            asyncio.create_task(self._read_stderr()),
        ]

    async def wait(self, timeout: float) -> None:
        await asyncio.wait({self._waiter}, timeout=timeout)

    async def write(self, line: bytes) -> bool:
        stdin = self.proc.stdin
        if stdin is None or stdin.is_closing():
            return False
        try:
            stdin.write(line)
            async with asyncio.timeout(10):
                await stdin.drain()
            return True
        except (ConnectionError, OSError, TimeoutError):
            return False

    def suspend(self, paused: bool) -> None:
        """SIGSTOP the whole group while paused, SIGCONT it after."""
        self.signal(signal.SIGSTOP if paused else signal.SIGCONT)
        self.suspended = paused

    def signal(self, sig: int) -> None:
        if self.running:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pid, sig)

    async def terminate(self) -> None:
        if not self.running:
            return
        if self.suspended:
            self.suspend(False)
        if self.proc.stdin is not None:
            with contextlib.suppress(Exception):
                self.proc.stdin.close()
        await asyncio.shield(asyncio.to_thread(kill_group, self.pid, self.pid, TERM_GRACE_S))

    async def close(self) -> None:
        """End the process (if it still runs) and whatever it left in its group; drain its output."""
        if not self._waiter.done():
            await self.terminate()
            with contextlib.suppress(BaseException):
                await asyncio.shield(self._waiter)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)
        if self._readers:
            _, pending = await asyncio.wait(self._readers, timeout=READERS_GRACE_S)
            for task in pending:
                task.cancel()

    async def _lines(self, stream: asyncio.StreamReader):
        while True:
            try:
                raw = await stream.readline()
            except ValueError:  # a line over STREAM_LIMIT: skipped
                continue
            if not raw:
                return
            yield raw.decode("utf-8", errors="replace")

    async def _read_stdout(self, parser: Parser, handle: Callable[[Signal], None]) -> None:
        async for text in self._lines(self.proc.stdout):
            self.transcript.write(text)
            for item in parser.feed(text):
                handle(item)
        for item in parser.close():
            handle(item)

    async def _read_stderr(self) -> None:
        async for line in self._lines(self.proc.stderr):
            text = line.rstrip()
            self.transcript.write("[stderr] " + text + "\n")
            if text.strip():
                self.transcript.last.append(clip(text))
