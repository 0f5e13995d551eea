"""The run's control socket: a Unix socket in the run dir that speaks versioned JSON lines.

External agents reach the orchestra through it (`conductor exp -m MSG` from inside a pane's
worktree runs the guard, commit, run, judge and record steps for that pane and prints the outcome), and so can any
other local client: every engine command (`commands.py`: pause, resume, say, ...) is a
request of the same name. One request per line, one response line per request, in order:

    -> {"v": 1, "type": "exp", "pane": "tinygpt-1", "message": "halve the lr"}
    <- {"v": 1, "ok": true, "text": "experiment #4 ...", "outcome": {...}, "done": null}
    -> {"v": 1, "type": "pause", "pane": "tinygpt-1"}
    <- {"v": 1, "ok": true}
    <- {"v": 1, "ok": false, "error": "no pane named 'x'"}     (any failure)

A `subscribe` request turns its connection into an event stream: one response line, then the
orchestra's snapshot and every live event as `{"v": 1, "event": {...}}` lines, until the
client closes it (detach) or falls too far behind (it is dropped; the orchestra never
waits for a client). `conductor attach` is such a client.

The socket is owner-only (mode 0600, and each peer's uid is checked), but an experiment
runs as the same user, so every client is untrusted: each request type has a declared
schema (`control_schema.py`) checked before its handler runs, connections are capped and
idle ones closed, and replies never carry a secret. A new request type is a schema in
`control_schema.SCHEMAS` plus `ControlServer.handlers[type] = async fn(request) -> dict`.

The client half (`request`, `cmd_exp`) lives in control_client.py and imports nothing but
the standard library, so an agent's `conductor exp` starts fast.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import socket
import struct
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from conductor.core.agent import TakesExperiments, handover_env, take_over
from conductor.core.control_client import LINE_LIMIT, short_address, socket_path
from conductor.core.control_schema import PROTOCOL_VERSION, BadRequest, parse_request
from conductor.core.secrets import Redactor
from conductor.errors import ConductorError

if TYPE_CHECKING:
    import asyncio

    from conductor.core.orchestra import Orchestra

SUBSCRIBER_BUFFER = 5000  # events a subscriber may fall behind before it is dropped
SLOW_CLIENT_S = 10.0  # a client that takes longer than this to accept a batch is dropped
CLOSE_FLUSH_S = 2.0  # at the end of a run, how long streams get to deliver RunFinished
MAX_CLIENTS = 64  # one-shot connections at once, plus 2 per pane (a `conductor exp` holds one for its run)
MAX_SESSIONS = 16  # event streams (attached TUIs) and take-overs at once
IDLE_S = 30.0  # a one-shot connection must send a whole request line within this
ACCEPT_RETRY_S = 0.1  # out of descriptors: how long accepting pauses
SNAPSHOT_PIECE = 100  # snapshot events serialized between two turns of the loop (each is ~25 us)
SESSION_TYPES = ("subscribe", "takeover")  # requests that hold their connection

Handler = Callable[[dict], Awaitable[dict]]


# ---------------------------------------------------------------- server


class ControlServer:
    """Serves the socket for one orchestra while it runs.

    Every client is untrusted (an experiment can reach the socket too): a request is checked
    against its schema before a handler sees it (`control_schema.py`), a handler's failure is
    an error reply, at most MAX_CLIENTS one-shot connections and MAX_SESSIONS streams are
    served at once (more are answered with an error line and closed), and a one-shot
    connection that sends no whole request within IDLE_S is closed. Replies and events pass
    through a redactor of the orchestra's secret environment values.
    """

    def __init__(self, orchestra: Orchestra):
        self.orchestra = orchestra
        self.path = socket_path(orchestra.run_dir)
        self._listener: socket.socket | None = None
        self._accepting: asyncio.Task | None = None
        self._connections: set[asyncio.Task] = set()
        self.handlers: dict[str, Handler] = {"hello": self._hello, "exp": self._exp}
        self.subscribers = 0
        self.dropped = 0  # subscribers cut off for falling behind
        self.clients = 0  # one-shot connections now open
        self.sessions = 0  # subscribe and takeover connections now open
        self.refused = 0  # connections turned away by the caps
        self.max_clients = MAX_CLIENTS + 2 * len(orchestra.panes)
        self._redact = Redactor({name: json.dumps(value)[1:-1] for name, value in os.environ.items()})
        from conductor.core.commands import COMMAND_TYPES

        for name in COMMAND_TYPES:
            self.handlers.setdefault(name, self._command)
        self.handlers["verify"] = self._verify

    async def start(self) -> None:
        import asyncio

        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()  # the run dir lock is ours: any socket here is stale
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            with short_address(self.path) as address:
                sock.bind(address)
            os.chmod(self.path, 0o600)
            sock.listen(16)
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        self._listener = sock
        self._accepting = asyncio.create_task(self._accept(sock), name="control-accept")

    async def close(self) -> None:
        import asyncio

        if self._accepting is not None:
            self._accepting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._accepting
            self._accepting = None
            if self._listener is not None:
                self._listener.close()
            deadline = asyncio.get_running_loop().time() + CLOSE_FLUSH_S
            while self.subscribers and asyncio.get_running_loop().time() < deadline:
                await asyncio.sleep(0.02)  # streams end once they have sent RunFinished
            for task in list(self._connections):  # idle clients, take-overs: the run is over
                task.cancel()
            if self._connections:
                await asyncio.wait(list(self._connections), timeout=1.0)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    async def _accept(self, sock: socket.socket) -> None:
        """Accept one connection at a time. One over the caps is answered and closed right
        here, so a flood holds no descriptor of this process; running out of descriptors
        (from anywhere) pauses accepting instead of ending anything."""
        import asyncio

        loop = asyncio.get_running_loop()
        while True:
            try:
                conn, _ = await loop.sock_accept(sock)
            except OSError:  # EMFILE, ENFILE, ENOBUFS: try again shortly
                await asyncio.sleep(ACCEPT_RETRY_S)
                continue
            if not _same_user(conn):
                conn.close()
            elif self.clients >= self.max_clients:
                self.refused += 1
                _refuse(conn, self._line(_error(f"too many connections (at most {self.max_clients}): try again later")))
            else:
                self.clients += 1
                task = asyncio.create_task(self._client(conn))
                self._connections.add(task)
                task.add_done_callback(self._connections.discard)

    async def _client(self, conn: socket.socket) -> None:
        """One connection, from accept to close. Nothing a client does escapes from here: an
        exception would reach asyncio's log as a traceback (and leak the descriptor)."""
        import asyncio

        writer = None
        try:
            reader, writer = await asyncio.open_unix_connection(sock=conn, limit=LINE_LIMIT)
            await self._serve(reader, writer)
        except Exception as exc:  # a bug of ours: the client gets the reason, the orchestra goes on
            if writer is not None:
                await self._send(writer, _error(f"internal error: {type(exc).__name__}: {exc}"))
        finally:
            self.clients -= 1
            if writer is None:
                conn.close()
            else:
                writer.close()
                with contextlib.suppress(Exception):
                    await writer.wait_closed()

    async def _serve(self, reader, writer) -> None:
        """One-shot requests in order, until the client hangs up, idles or opens a session."""
        import asyncio

        while True:
            try:
                async with asyncio.timeout(IDLE_S):
                    line = await reader.readline()
            except ValueError:  # a line over the limit
                await self._send(writer, _error(f"request too long (at most {LINE_LIMIT} bytes)"))
                return
            except TimeoutError:
                await self._send(writer, _error(f"no request within {IDLE_S:g} s: closing"))
                return
            if not line:
                return
            try:
                request = parse_request(line, self.orchestra.panes)
            except BadRequest as exc:
                if not await self._send(writer, _error(str(exc))):
                    return
                continue
            if request["type"] in SESSION_TYPES:
                await self._session(request, reader, writer)
                return
            if not await self._send(writer, await self.handle(request)):
                return

    async def _session(self, request: dict, reader, writer) -> None:
        """A connection that lives as long as its client wants: bounded by count."""
        if self.sessions >= MAX_SESSIONS:
            self.refused += 1
            await self._send(writer, _error(f"too many event streams and take-overs (at most {MAX_SESSIONS})"))
            return
        self.sessions += 1
        self.clients -= 1  # counted as a session from now on
        try:
            if request["type"] == "subscribe":
                await self._stream_events(reader, writer)
            else:
                await self._take_over(request, reader, writer)
        finally:
            self.clients += 1
            self.sessions -= 1

    async def handle(self, request: dict) -> dict:
        """The response to a request that passed its schema; a handler's failure is an error."""
        kind = request["type"]
        try:
            response = await self.handlers[kind](request)
        except ConductorError as exc:
            response = _error(str(exc))
        except Exception as exc:
            response = _error(f"the '{kind}' request failed: {type(exc).__name__}: {exc}")
        if "id" in request:
            response["id"] = request["id"]
        return response

    async def _send(self, writer, response: dict) -> bool:
        return await _send_line(writer, self._line(response))

    def _line(self, message: dict) -> bytes:
        return self._redact(json.dumps(message, default=str)).encode() + b"\n"

    def _event_line(self, event) -> bytes:
        return self._redact(_event_line(event).decode()).encode()

    async def _stream_events(self, reader, writer) -> None:
        """`subscribe`: the snapshot, then every live event, one JSON line each. A client that
        falls SUBSCRIBER_BUFFER events behind is dropped; the orchestra never waits for it."""
        import asyncio
        import threading

        loop = asyncio.get_running_loop()
        loop_thread = threading.get_ident()
        queue: asyncio.Queue = asyncio.Queue(maxsize=SUBSCRIBER_BUFFER)
        dropped = asyncio.Event()

        def offer(event) -> None:
            if dropped.is_set():
                return
            try:
                queue.put_nowait(event)
            except asyncio.QueueFull:
                dropped.set()

        def on_event(event) -> None:  # may be called from worker threads
            if threading.get_ident() == loop_thread:
                offer(event)
            else:
                loop.call_soon_threadsafe(offer, event)

        orch = self.orchestra
        snapshot = orch.snapshot.events()
        unsubscribe = orch.bus.subscribe(on_event)
        self.subscribers += 1
        closed: asyncio.Future | None = None
        try:
            hello = _ok(run=orch.run_name, run_dir=str(orch.run_dir), pid=os.getpid(), snapshot=len(snapshot))
            if not await self._send(writer, hello):
                return
            for start in range(0, len(snapshot), SNAPSHOT_PIECE):  # thousands of lines: the loop runs between pieces
                for event in snapshot[start : start + SNAPSHOT_PIECE]:
                    writer.write(self._event_line(event))
                async with asyncio.timeout(SLOW_CLIENT_S):
                    await writer.drain()
            closed = asyncio.ensure_future(reader.read())  # EOF: the client detached
            while not dropped.is_set():
                getter = asyncio.ensure_future(queue.get())
                done, _ = await asyncio.wait({getter, closed}, return_when=asyncio.FIRST_COMPLETED)
                if getter not in done:
                    getter.cancel()
                    return
                batch = [getter.result()]
                while not queue.empty():
                    batch.append(queue.get_nowait())
                for event in batch:
                    writer.write(self._event_line(event))
                async with asyncio.timeout(SLOW_CLIENT_S):
                    await writer.drain()
                if any(event.type == "run_finished" for event in batch):
                    return  # the run is over: the stream ends here
            self.dropped += 1  # fell SUBSCRIBER_BUFFER events behind
        except TimeoutError:
            self.dropped += 1  # did not take a batch within SLOW_CLIENT_S
        except (ConnectionError, OSError):
            return
        finally:
            unsubscribe()
            self.subscribers -= 1
            if closed is not None:  # a reset connection: the watcher's error is expected, not news
                closed.cancel()
                closed.add_done_callback(lambda f: f.cancelled() or f.exception())

    async def _take_over(self, request: dict, reader, writer) -> None:
        """`a` in an attached TUI: stop the pane's headless CLI agent, answer with the
        interactive command on its session, and resume the headless loop when the client
        closes the connection (done, or gone: a crashed client never leaves a pane stopped).
        The answer's env holds only what conductor sets for the CLI, nothing named like a
        secret: the client runs it in its own environment, with its own credentials."""
        pane = self.orchestra.panes[request["pane"]]
        try:
            async with take_over(pane) as handover:
                env = handover_env(handover.env, os.environ)
                answer = _ok(argv=handover.argv, cwd=str(handover.cwd), env=env)
                if await self._send(writer, answer):
                    await reader.read()  # until the client hangs up
        except ConductorError as exc:
            await self._send(writer, _error(str(exc)))
        except (ConnectionError, OSError):
            return

    # ------------------------------------------------------------ handlers
    # Each gets a request that passed its schema (control_schema.SCHEMAS): the fields are
    # there, of their declared types, and a pane name is one of this run's.

    async def _hello(self, request: dict) -> dict:
        orch = self.orchestra
        lag = getattr(orch, "loop_lag", None)  # the orchestra's own loop (core/loop_lag.py)
        timed = {"loop_lag": lag.report()} if lag is not None else {}
        return _ok(run=orch.run_name, run_dir=str(orch.run_dir), pid=os.getpid(), panes=list(orch.panes), **timed)

    async def _command(self, request: dict) -> dict:
        from conductor.core.commands import command_from_dict

        body = {k: v for k, v in request.items() if k not in ("v", "id")}
        done = self.orchestra.command(command_from_dict(body))
        return _ok(text=done) if done else _ok()

    async def _verify(self, request: dict) -> dict:
        """`conductor verify` beside a live orchestra: re-run a commit (checked out by the
        client in a throwaway worktree under the run dir) on the orchestra's slots, queued
        like any experiment; answers when every run is done."""
        from conductor.core.rerun import rerun

        orch = self.orchestra
        pane = orch.panes[request["pane"]]
        worktree = Path(request["worktree"]).resolve()
        verify_dir = orch.layout.verify_dir
        if not worktree.is_dir() or not worktree.is_relative_to(verify_dir.resolve()):
            raise ConductorError(f"a verify worktree must be a folder under {verify_dir}")
        runs, commit = request.get("runs", 3), request["commit"]
        pane.activity("info", f"verify: re-running {commit[:7]} {runs} time(s) on the orchestra's slots")
        results = await rerun(orch.trials, pane.name, pane.workspace, commit, worktree, pane.log_dir, runs)
        pane.activity("info", f"verify {commit[:7]}: {', '.join(r.shown() for r in results)}")
        return _ok(results=[r.to_dict() for r in results])

    async def _exp(self, request: dict) -> dict:
        from conductor.core.outcome import PaneFinished

        name, message = request["pane"], request["message"]
        pane = self.orchestra.panes[name]
        agent = pane.agent
        if not (isinstance(agent, TakesExperiments) and agent.takes_experiments()):
            kind = pane.agent_config.kind
            if pane.workspace.experiments == "observed":
                raise ConductorError(
                    f"pane {name} is in observed mode: run and log experiments as program.md says; "
                    "conductor records each results.tsv row"
                )
            if kind in ("claude-code", "codex", "command"):
                raise ConductorError(f"pane {name} is not running (state: {pane.state})")
            raise ConductorError(f"pane {name} is driven by the {kind} agent; `conductor exp` is for external agents")
        done = None
        try:
            outcome = await agent.take_experiment(message)
        except PaneFinished as finished:
            if finished.outcome is None:
                raise ConductorError(f"pane {name} is done ({finished.reason}): no more experiments") from None
            outcome, done = finished.outcome, finished.reason
        text = outcome.text()
        if done:
            text += f"\n[conductor] This pane is done ({done}): stop here."
        return _ok(text=text, outcome=dataclasses.asdict(outcome), done=done)


def _event_line(event) -> bytes:
    return json.dumps({"v": PROTOCOL_VERSION, "event": event.to_dict()}, default=str).encode() + b"\n"


def _same_user(sock: socket.socket | None) -> bool:
    if sock is None or not hasattr(socket, "SO_PEERCRED"):
        return True
    try:
        creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    except OSError:
        return False
    _pid, uid, _gid = struct.unpack("3i", creds)
    return uid == os.getuid()


def _ok(**fields: Any) -> dict:
    return {"v": PROTOCOL_VERSION, "ok": True, **fields}


def _error(message: str) -> dict:
    return {"v": PROTOCOL_VERSION, "ok": False, "error": message}


def _refuse(conn: socket.socket, line: bytes) -> None:
    """Answer a connection that is over the caps with one line (it fits any socket buffer) and close it."""
    with contextlib.suppress(OSError):
        conn.send(line)
    conn.close()


async def _send_line(writer, line: bytes) -> bool:
    import asyncio

    try:
        writer.write(line)
        async with asyncio.timeout(SLOW_CLIENT_S):
            await writer.drain()
        return True
    except (ConnectionError, OSError, TimeoutError):
        return False  # the client went away (an agent's tool timeout) or reads nothing: the result is recorded anyway
