"""Runs that outlive the terminal: a detached orchestra, attached and detached clients,
a client killed with SIGKILL, a frozen client, a refused second conductor, a clean stop."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import write_config
from engine_helpers import check_invariants

from conductor.core.commands import Pause, Resume, Say
from conductor.core.control_client import request
from conductor.core.ledger import Ledger
from conductor.core.remote import RemoteOrchestra


def conductor(*args: str, cwd: Path, timeout: float = 90) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "conductor", *args], cwd=cwd, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture
def detached(tmp_path, fastws):
    train = fastws / "train.py"
    train.write_text(train.read_text().replace("SLEEP = 0.05", "SLEEP = 0.3"))
    cfg = write_config(tmp_path, fastws, panes=2)
    out = conductor("run", "-c", str(cfg), "--detach", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "orchestra running in the background" in out.stdout
    run_dir = tmp_path / ".conductor"
    yield cfg, run_dir
    if (run_dir / "control.sock").exists():
        conductor("stop", "--runs-dir", str(run_dir), cwd=tmp_path)


def watch(run_dir: Path, seconds: float, before_detach=None) -> list:
    remote = RemoteOrchestra(run_dir)
    remote.open()
    seen = []
    remote.bus.subscribe(seen.append)

    async def main():
        task = asyncio.create_task(remote.run())
        await asyncio.sleep(seconds)
        if before_detach:
            await asyncio.to_thread(before_detach, remote)
            await asyncio.sleep(0.8)
        remote.stop()
        await asyncio.wait_for(task, 5)

    asyncio.run(main())
    remote.close()
    return seen


def test_attach_detach_reattach_kill_client_stop(tmp_path, detached):
    cfg, run_dir = detached

    # first client: snapshot then live events; it sends a message and a pause, then detaches
    def steer(remote):
        remote.command(Say(pane="fast-1", text="try larger X"))
        remote.command(Pause(pane="fast-2"))

    first = watch(run_dir, 2.5, before_detach=steer)
    types = [e.type for e in first]
    assert types[0] == "run_started" and {p["name"] for p in first[0].panes} == {"fast-1", "fast-2"}
    assert "experiment_finished" in types
    assert any(e.type == "agent_activity" and e.kind == "researcher" and e.text == "try larger X" for e in first)
    assert any(e.type == "pane_state" and e.pane == "fast-2" and e.state == "paused" for e in first)
    # the orchestra is still running after the client detached, and a new client sees it all
    hello = request(run_dir, {"type": "hello"})
    second = watch(run_dir, 1.0)
    assert second[0].type == "run_started"
    assert any(e.type == "agent_activity" and e.text == "try larger X" for e in second)  # from the snapshot
    request(run_dir, Resume(pane="fast-2").to_dict())
    # a client killed with SIGKILL mid-stream leaves the orchestra unaffected
    client = subprocess.Popen(
        [
            sys.executable,
            "-c",
            (
                "import sys, time; from conductor.core.remote import RemoteOrchestra; import asyncio\n"
                f"r = RemoteOrchestra({str(run_dir)!r}); r.open(); asyncio.run(r.run())\n"
            ),
        ]
    )
    time.sleep(1.5)
    client.send_signal(signal.SIGKILL)
    client.wait()
    ledger = Ledger(run_dir / "ledger.db")
    count = len(ledger.experiments())
    time.sleep(1.5)
    assert len(ledger.experiments()) > count, "experiments go on after a client was killed"
    ledger.close()
    later = request(run_dir, {"type": "hello"})
    assert later["pid"] == hello["pid"]
    # the orchestra times its own event loop: the ticks go on, the worst lag is a real figure
    lag = later["loop_lag"]
    assert lag["ticks"] > hello["loop_lag"]["ticks"] > 0
    assert 0 <= lag["last_minute_ms"] <= lag["worst_ms"] < 60_000
    # a second conductor on the same run dir is refused
    second_run = conductor("run", "-c", str(cfg), cwd=tmp_path)
    assert second_run.returncode == 2 and "is in use by a running conductor" in second_run.stderr
    # stop: graceful, recorded, invariants hold
    out = conductor("stop", "--runs-dir", str(run_dir), cwd=tmp_path)
    assert out.returncode == 0 and "stopped" in out.stdout, out.stderr
    assert not (run_dir / "control.sock").exists()
    check_invariants(run_dir)
    log = (run_dir / "conductor.log").read_text()
    assert "run finished: stopped" in log


def test_a_frozen_client_never_slows_the_orchestra(tmp_path, detached, monkeypatch):
    cfg, run_dir = detached
    # a raw client that subscribes and then never reads
    frozen = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    frozen.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    frozen.connect(str(run_dir / "control.sock"))
    frozen.sendall(json.dumps({"v": 1, "type": "subscribe"}).encode() + b"\n")
    ledger = Ledger(run_dir / "ledger.db")
    start = len(ledger.experiments())
    t0 = time.time()
    # commands keep being answered at once while the frozen client is connected
    for _ in range(20):
        request(run_dir, {"type": "hello"}, timeout=2)
    assert time.time() - t0 < 5
    time.sleep(2.0)
    assert len(ledger.experiments()) > start
    ledger.close()
    frozen.close()
    assert os.path.exists(run_dir / "control.sock")


def test_a_client_that_falls_behind_is_dropped(tmp_path, fastws, monkeypatch):
    """In-process, with a tiny buffer: the frozen subscriber is cut off, the run goes on."""
    from conductor.agents.base import create_agent
    from conductor.config import load_config
    from conductor.core import control
    from conductor.core.orchestra import Orchestra

    monkeypatch.setattr(control, "SUBSCRIBER_BUFFER", 5)
    monkeypatch.setattr(control, "SLOW_CLIENT_S", 0.5)
    plain = control._event_line
    monkeypatch.setattr(control, "_event_line", lambda e: plain(e) + b" " * 20000 + b"\n")  # fill buffers fast
    cfg = load_config(write_config(tmp_path, fastws, panes=2))
    orch = Orchestra(cfg, agent_factory=create_agent, max_experiments=25)
    seen = {}

    async def main():
        task = asyncio.create_task(orch.run())
        while orch.control is None or not (orch.run_dir / "control.sock").exists():
            await asyncio.sleep(0.05)
        reader, writer = await asyncio.open_unix_connection(str(orch.run_dir / "control.sock"))
        writer.transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
        writer.write(b'{"v": 1, "type": "subscribe"}\n')
        await writer.drain()
        await asyncio.sleep(0.5)
        seen["during"] = orch.control.subscribers
        await task  # never reads: the server must drop it and the run must finish
        writer.close()

    orch.open()
    try:
        asyncio.run(asyncio.wait_for(main(), 60))
    finally:
        orch.close()
    assert seen["during"] == 1
    assert orch.control.dropped == 1 and orch.control.subscribers == 0
    ledger = Ledger(tmp_path / ".conductor" / "ledger.db")
    assert len(ledger.experiments()) == 50
    ledger.close()


def test_verify_beside_a_live_orchestra_queues_for_its_slots(tmp_path, detached):
    """`conductor verify` while the orchestra runs: the re-runs go through the socket and take
    the orchestra's one slot in turn, never a second process on it; the pane says so."""
    cfg, run_dir = detached
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ledger = Ledger(run_dir / "ledger.db")
        rows = [r for r in ledger.experiments("fast-1") if r.status == "keep"]
        ledger.close()
        if rows:
            break
        time.sleep(0.3)
    commit = rows[0].commit
    seen: list = []

    def during(remote):
        out = conductor("verify", "fast-1", commit[:8], "--runs", "2", "-c", str(cfg), cwd=tmp_path)
        seen.append(out)

    events = watch(run_dir, 0.5, before_detach=during)
    out = seen[0]
    assert out.returncode == 0, out.stderr
    assert "the runs queue for its slots" in out.stdout and "run 2/2 seed 2" in out.stdout
    assert "on cpu0" in out.stdout
    texts = [e.text for e in events if e.type == "agent_activity" and e.pane == "fast-1"]
    assert any(t.startswith(f"verify: re-running {commit[:7]} 2 time(s)") for t in texts), texts
    assert any(t.startswith(f"verify {commit[:7]}: ") for t in texts), texts
    ledger = Ledger(run_dir / "ledger.db")
    reruns = ledger.reruns()
    ledger.close()
    assert [(r.commit, r.seed) for r in reruns] == [(commit, 1), (commit, 2)]
    assert request(run_dir, {"type": "hello"})["panes"] == ["fast-1", "fast-2"]  # still running


def test_two_clients_at_once_see_the_same_state(tmp_path, detached):
    """Two attached clients at the same time: the same panes, the same experiments, the same
    message, whichever of them sent it."""
    cfg, run_dir = detached
    a, b = RemoteOrchestra(run_dir), RemoteOrchestra(run_dir)
    seen: dict[str, list] = {"a": [], "b": []}
    for name, remote in (("a", a), ("b", b)):
        remote.open()
        remote.bus.subscribe(seen[name].append)

    async def main():
        tasks = [asyncio.create_task(a.run()), asyncio.create_task(b.run())]
        await asyncio.sleep(1.0)
        await asyncio.to_thread(a.command, Say(pane="fast-1", text="from client a"))
        await asyncio.sleep(2.0)
        cutoff = time.time() - 0.5
        a.stop()
        b.stop()
        await asyncio.wait_for(asyncio.gather(*tasks), 5)
        return cutoff

    cutoff = asyncio.run(main())
    a.close()
    b.close()

    def finished(events):
        return {(e.pane, e.seq, e.status) for e in events if e.type == "experiment_finished" and e.ts < cutoff}

    assert finished(seen["a"]) == finished(seen["b"]) and finished(seen["a"])
    for events in seen.values():
        assert {p["name"] for p in events[0].panes} == {"fast-1", "fast-2"}
        assert any(e.type == "agent_activity" and e.text == "from client a" for e in events)
