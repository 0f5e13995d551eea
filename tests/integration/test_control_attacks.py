"""A hostile client on the control socket (anything running as the researcher's user can
reach it, an experiment included), against a real orchestra in-process: every attack gets
an error reply or a closed connection, and the panes and the orchestra go on working."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from conftest import write_config

from conductor.agents.base import create_agent
from conductor.config import load_config
from conductor.core import control
from conductor.core.events import AgentActivity, ExperimentFinished, RunFinished
from conductor.core.orchestra import Orchestra

FLOOD = 19_000  # connections held at once by the attacker (its descriptor limit is 20,000 here)
FLOODER = """
import socket, sys
path, n = sys.argv[1], int(sys.argv[2])
held = []
for _ in range(n):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    held.append(s)
print("held", len(held), flush=True)
sys.stdin.read()
"""


def one_shot(path: Path, data: bytes, timeout: float = 10.0) -> list[dict]:
    """Send raw bytes, then read reply lines until the server closes the connection."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(str(path))
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        with sock.makefile("rb") as stream:
            return [json.loads(line) for line in stream]


def ask(path: Path, **request) -> dict:
    [reply] = one_shot(path, json.dumps(request).encode() + b"\n")
    return reply


def fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_hostile_requests_get_error_replies_and_the_orchestra_goes_on(tmp_path, fastws, monkeypatch, caplog, capfd):
    monkeypatch.setattr(control, "IDLE_S", 1.0)
    monkeypatch.setattr(control, "MAX_SESSIONS", 3)
    cfg = load_config(write_config(tmp_path, fastws, panes=2))
    orch = Orchestra(cfg, agent_factory=create_agent, max_experiments=10_000, telemetry=False)
    events: list = []
    orch.bus.subscribe(events.append)
    seen: dict = {}
    caplog.set_level(logging.WARNING)

    async def attack() -> None:
        while orch.control is None or not control.socket_path(orch.run_dir).exists():
            await asyncio.sleep(0.05)
        path = control.socket_path(orch.run_dir)

        async def call(data: bytes) -> list[dict]:
            return await asyncio.to_thread(one_shot, path, data)

        def line(**request) -> bytes:
            return json.dumps(request).encode() + b"\n"

        # fields of the wrong type or out of range: an error reply, nothing reaches a pane
        bad = [
            line(type="say", pane="fast-1", text=12345),
            line(type="say", pane="fast-1", text={"a": 1}),
            line(type="say", pane="fast-1", text=["a"]),
            b'{"type": "verify", "pane": "fast-1", "commit": "abcd", "worktree": "/w", "runs": 1e999}\n',
            line(type="pause", pane=["fast-1"]),
            line(type="stop", pane={"x": 1}),
            line(type="exp", pane="fast-1", message=None),
            b"[" * 200_000 + b"]" * 200_000 + b"\n",
            b"{" * 200_000 + b"\n",
        ]
        seen["bad"] = [await call(data) for data in bad]
        # one connection: a refused request leaves it open for the next one
        seen["after_bad"] = await call(b"[" * 200_000 + b"\n" + line(type="hello"))
        seen["too_long"] = await call(b"a" * (control.LINE_LIMIT + 10) + b"\n")
        # a handler that fails (a bug of ours) is an error reply, not a dead connection loop
        handlers = orch.control.handlers
        real = handlers["pause"]

        async def boom(request):
            raise RuntimeError("boom")

        handlers["pause"] = boom
        seen["boom"] = await call(line(type="pause", pane="fast-1", id="b") + line(type="hello"))
        handlers["pause"] = real
        # idle and slow clients are closed after IDLE_S
        seen["idle"] = await asyncio.to_thread(idle_client, path, b"")
        seen["slow"] = await asyncio.to_thread(idle_client, path, b'{"type": "hel')
        # streams are bounded by count
        seen["sessions"] = await asyncio.to_thread(too_many_streams, path, control.MAX_SESSIONS)
        # a flood of idle connections held by another process
        base = fds()
        flooder = subprocess.Popen(
            [sys.executable, "-c", FLOODER, str(path), str(FLOOD)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            seen["flood"] = await asyncio.to_thread(flooder.stdout.readline)
            seen["fds_during"] = fds() - base
            seen["refused"] = orch.control.refused
            await asyncio.sleep(control.IDLE_S + 0.5)  # the accepted ones idle out
            seen["hello_during"] = await call(line(type="hello"))
        finally:
            flooder.stdin.close()
            flooder.wait(30)
        # the panes still work: a good `say` reaches the pane, experiments go on
        before = sum(isinstance(e, ExperimentFinished) for e in events)
        seen["say"] = await call(line(type="say", pane="fast-1", text="a real message"))
        deadline = time.monotonic() + 30
        while sum(isinstance(e, ExperimentFinished) for e in events) < before + 4 and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        seen["alive"] = {name: not task.done() for name, task in orch._tasks.items()}
        seen["stop"] = await call(line(type="stop"))

    def idle_client(path: Path, data: bytes) -> tuple[float, list[dict]]:
        start = time.monotonic()
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(10)
            sock.connect(str(path))
            sock.sendall(data)
            with sock.makefile("rb") as stream:
                replies = [json.loads(line) for line in stream]
        return time.monotonic() - start, replies

    def too_many_streams(path: Path, cap: int) -> tuple[list[bool], dict]:
        streams = []
        try:
            for _ in range(cap):
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                sock.settimeout(10)
                sock.connect(str(path))
                sock.sendall(b'{"type": "subscribe"}\n')
                streams.append((sock, sock.makefile("rb")))
            oks = [json.loads(stream.readline())["ok"] for _, stream in streams]
            time.sleep(1.5)  # sessions are not subject to the idle timeout
            extra = one_shot(path, b'{"type": "subscribe"}\n')
            oks += [bool(stream.readline()) for _, stream in streams]  # still streaming
            return oks, extra[0]
        finally:
            for sock, stream in streams:
                stream.close()
                sock.close()

    async def main() -> None:
        run = asyncio.create_task(orch.run())
        try:
            await asyncio.wait_for(attack(), 120)
            await asyncio.wait_for(run, 30)
        finally:
            if not run.done():
                orch.stop()
                await run

    orch.open()
    try:
        asyncio.run(main())
    finally:
        orch.close()

    for reply in seen["bad"]:
        assert len(reply) == 1 and reply[0]["ok"] is False, reply
    errors = [reply[0]["error"] for reply in seen["bad"]]
    assert errors[0] == """bad 'say' request: "text" must be a string, not a number"""
    assert "integer" in errors[3] and "nests at most" in errors[7] and "nests at most" in errors[8]
    assert [r["ok"] for r in seen["after_bad"]] == [False, True]
    assert seen["too_long"] == [
        {"v": 1, "ok": False, "error": f"request too long (at most {control.LINE_LIMIT} bytes)"}
    ]
    assert seen["boom"][0] == {
        "v": 1,
        "ok": False,
        "error": "the 'pause' request failed: RuntimeError: boom",
        "id": "b",
    }
    assert seen["boom"][1]["ok"] is True
    for what in ("idle", "slow"):
        took, replies = seen[what]
        assert took < 5 and replies == [{"v": 1, "ok": False, "error": "no request within 1 s: closing"}]
    oks, extra = seen["sessions"]
    assert oks == [True] * 6 and extra["ok"] is False and "too many event streams" in extra["error"]
    assert seen["flood"].strip() == f"held {FLOOD}"
    assert seen["fds_during"] < control.MAX_CLIENTS + control.MAX_SESSIONS + 32
    assert seen["refused"] > FLOOD * 0.9  # answered and closed at once (some got a slot an idle one left)
    assert seen["hello_during"][0]["ok"] is True
    assert seen["say"] == [{"v": 1, "ok": True}]
    said = [e for e in events if isinstance(e, AgentActivity) and e.kind == "researcher"]
    assert [(e.pane, e.text) for e in said] == [("fast-1", "a real message")]  # no bad `say` got through
    assert seen["alive"] == {"fast-1": True, "fast-2": True}
    assert seen["stop"] == [{"v": 1, "ok": True}]
    finished = [e for e in events if isinstance(e, ExperimentFinished)]
    assert {e.pane for e in finished[-4:]} == {"fast-1", "fast-2"}
    assert isinstance(events[-1], RunFinished) and events[-1].reason == "stopped"
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]  # no traceback in the log
    assert "Traceback" not in capfd.readouterr().err  # what a detached orchestra's conductor.log would get
