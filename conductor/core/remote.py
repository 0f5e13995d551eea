"""An orchestra in another process, seen through its control socket.

`RemoteOrchestra` has the face the TUI expects of an engine (`bus`, `run()`, `command()`,
`stop()`, `ledger`), so `conductor attach` is the same app as `conductor up`: `run()`
subscribes (snapshot first, then live events) and publishes what arrives on a local bus
until the stream ends; `stop()` detaches and leaves the orchestra running (the `Stop()`
command stops it). Commands are one short request each; `take_over()` holds its connection
while the researcher has the pane's agent.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path

from conductor.core.agent import TakeOver
from conductor.core.bus import EventBus
from conductor.core.commands import Command, Stop
from conductor.core.control_client import LINE_LIMIT, request, short_address, socket_path
from conductor.core.control_schema import PROTOCOL_VERSION
from conductor.core.events import event_from_dict
from conductor.core.ledger import Ledger
from conductor.errors import ConductorError

REPLAY_PIECE = 100  # snapshot events published between two turns of the loop


class RemoteOrchestra:
    remote = True

    def __init__(self, run_dir: Path, read_only: bool = False):
        self.run_dir = Path(run_dir)
        self.read_only = read_only  # a view only (`conductor serve` without --allow-commands)
        self.bus = EventBus()
        self.ledger: Ledger | None = None
        self.info: dict = {}
        self.panes: dict = {}
        self.run_name = ""
        self.caught_up = False  # the orchestra's snapshot has all been published
        self._writer = None

    def open(self) -> None:
        """Check that an orchestra answers (blocking); open the ledger for reading."""
        self.info = request(self.run_dir, {"type": "hello"}, timeout=10)
        self.run_name = self.info.get("run", "")
        self.ledger = Ledger.reader(self.run_dir)

    def close(self) -> None:
        if self.ledger is not None:
            self.ledger.close()

    async def _connect(self):
        with short_address(socket_path(self.run_dir)) as address:
            return await asyncio.open_unix_connection(address, limit=LINE_LIMIT)

    async def run(self) -> None:
        """Pump the orchestra's events into the local bus until it stops or we detach."""
        reader, writer = await self._connect()
        self._writer = writer
        try:
            writer.write(json.dumps({"v": PROTOCOL_VERSION, "type": "subscribe"}).encode() + b"\n")
            await writer.drain()
            hello = json.loads(await reader.readline() or b"{}")
            if not hello.get("ok"):
                raise ConductorError(str(hello.get("error") or "the orchestra refused to stream events"))
            replay = int(hello.get("snapshot") or 0)
            self.caught_up = replay == 0
            while True:
                line = await reader.readline()
                if not line:
                    return
                data = json.loads(line)
                if "event" in data:
                    with contextlib.suppress(KeyError, TypeError):
                        self.bus.publish(event_from_dict(data["event"]))
                    replay -= 1
                    self.caught_up = self.caught_up or replay <= 0
                    if replay > 0 and replay % REPLAY_PIECE == 0:
                        await asyncio.sleep(0)  # buffered lines never suspend readline: let the app draw
        except (ConnectionError, OSError):
            pass  # the orchestra went away: the stream has ended
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    @contextlib.asynccontextmanager
    async def take_over(self, pane: str) -> AsyncIterator[TakeOver]:
        """The orchestra stops the pane's headless agent and answers with the interactive
        command and the variables conductor sets for it; the command runs in this process's
        environment plus those (no secret crosses the socket). Leaving the block hangs up,
        and the headless loop resumes."""
        self._refuse_if_read_only()
        reader, writer = await self._connect()
        try:
            request = {"v": PROTOCOL_VERSION, "type": "takeover", "pane": pane}
            writer.write(json.dumps(request).encode() + b"\n")
            await writer.drain()
            answer = json.loads(await reader.readline() or b"{}")
            if not answer.get("ok"):
                raise ConductorError(str(answer.get("error") or "the orchestra refused the take-over"))
            yield _handover(answer)
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    def command(self, cmd: Command) -> str | None:
        self._refuse_if_read_only()
        return request(self.run_dir, cmd.to_dict(), timeout=10).get("text")

    def _refuse_if_read_only(self) -> None:
        if self.read_only:
            raise ConductorError("this view is read-only (`conductor serve --allow-commands` allows commands)")

    def stop(self, pane: str | None = None) -> None:
        """Detach: the orchestra goes on (a pane name stops that pane remotely)."""
        if pane is not None:
            self.command(Stop(pane=pane))
            return
        if self._writer is not None:
            self._writer.close()


def _handover(answer: dict) -> TakeOver:
    """The take-over answer, checked: argv words, a folder, and string variables merged into
    this process's own environment."""
    argv, cwd, env = answer.get("argv"), answer.get("cwd"), answer.get("env")
    if not (isinstance(argv, list) and argv and all(isinstance(word, str) for word in argv)):
        raise ConductorError("the orchestra's take-over answer has no command")
    if not isinstance(cwd, str) or not isinstance(env, dict):
        raise ConductorError("the orchestra's take-over answer is malformed")
    added = {str(name): str(value) for name, value in env.items()}
    return TakeOver(argv=argv, cwd=Path(cwd), env={**os.environ, **added})
