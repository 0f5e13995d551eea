"""No control-socket reply carries a secret: the take-over answer holds only the variables
conductor sets for the CLI (the attached client runs it in its own environment), and hello,
`exp` outcomes and the event stream are scanned for the secret values too."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys

from test_cli_agents import FAKE_CLAUDE, fake_log, run, wait_for_event, write_cli_config

from conductor.core import control
from conductor.core.events import AgentActivity, ExperimentFinished
from conductor.core.remote import RemoteOrchestra
from conductor.core.secrets import is_secret_name

SECRETS = {"ANTHROPIC_API_KEY": "sk-ant-test-0123456789abcdef", "MY_SERVICE_TOKEN": 'tok"en\\with-quotes-42'}


def raw_exchange(path, request: dict, stream_lines: int = 0) -> bytes:
    """The raw bytes of the reply (and of `stream_lines` more lines), as a client sees them."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(60)
        sock.connect(str(path))
        sock.sendall(json.dumps(request).encode() + b"\n")
        with sock.makefile("rb") as stream:
            return b"".join(stream.readline() for _ in range(1 + stream_lines))


def test_no_reply_of_the_control_socket_carries_a_secret(tmp_path, fastws, monkeypatch):
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("FAKE_LEAK_VAR", "MY_SERVICE_TOKEN")  # the fake CLI prints that secret
    monkeypatch.setenv("FAKE_CLAUDE_LOG", str(tmp_path / "fake.log"))
    cfg = write_cli_config(tmp_path, fastws, "claude-code", [])
    seen: dict = {}

    async def drive(orch, events):
        await wait_for_event(events, lambda e: isinstance(e, ExperimentFinished))
        path = control.socket_path(orch.run_dir)
        replies = [await asyncio.to_thread(raw_exchange, path, {"type": "hello"})]
        leak = AgentActivity(pane="fast", kind="info", text=f"key={SECRETS['ANTHROPIC_API_KEY']}")
        stream = asyncio.create_task(asyncio.to_thread(raw_exchange, path, {"type": "subscribe"}, 400))
        await asyncio.sleep(0.5)
        orch.bus.publish(leak)  # an event that slipped past every other redaction
        replies.append(await stream)
        message = f"try {SECRETS['MY_SERVICE_TOKEN']}"
        replies.append(await asyncio.to_thread(raw_exchange, path, {"type": "exp", "pane": "fast", "message": message}))
        takeover = await asyncio.to_thread(raw_exchange, path, {"type": "takeover", "pane": "fast"})
        replies.append(takeover)
        seen["takeover"] = json.loads(takeover)
        await asyncio.sleep(0.5)  # the hang-up hands the pane back
        remote = RemoteOrchestra(orch.run_dir)
        async with remote.take_over("fast") as handover:
            seen["merged"] = handover.env
            done = await asyncio.create_subprocess_exec(*handover.argv, cwd=handover.cwd, env=handover.env)
            await done.wait()
        seen["replies"] = replies
        orch.stop()

    run(cfg, max_experiments=None, driver=drive, timeout=90)
    everything = b"".join(seen["replies"])
    for value in SECRETS.values():
        assert value.encode() not in everything
        assert json.dumps(value)[1:-1].encode() not in everything  # nor its JSON-escaped form
    assert b"[redacted]" in everything  # the published leak and the exp message were masked
    answer = seen["takeover"]
    assert answer["ok"] and answer["argv"][:2] == [sys.executable, str(FAKE_CLAUDE)]
    env = answer["env"]
    assert not [name for name in env if is_secret_name(name)]
    assert env["CONDUCTOR_PANE"] == "fast" and env["CONDUCTOR_RUN_DIR"] == str(tmp_path / ".conductor")
    assert env["PATH"].startswith(str(tmp_path / ".conductor" / "agents" / "fast"))  # the `conductor` shim first
    assert "HOME" not in env  # inherited variables stay with the client
    merged = seen["merged"]  # the client's own environment, plus conductor's variables
    assert merged["ANTHROPIC_API_KEY"] == os.environ["ANTHROPIC_API_KEY"] and merged["CONDUCTOR_PANE"] == "fast"
    assert any(entry.get("interactive") for entry in fake_log(tmp_path / "fake.log"))
