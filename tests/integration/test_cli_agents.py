"""External agent CLIs as panes, end to end: real subprocesses (tests/fixtures/fake_claude and
fake_codex speak the recorded stream shapes), real git, the real control socket and ledger."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from engine_helpers import check_invariants

from conductor.agents.base import create_agent
from conductor.agents.launch import takeover_argv
from conductor.config import load_config
from conductor.core import control, control_client
from conductor.core.agent import take_over
from conductor.core.commands import ReloadProgram, Say
from conductor.core.events import AgentActivity, Alert, ExperimentFinished, PaneState, QuotaSample, TokenUsage
from conductor.core.ledger import Ledger
from conductor.core.observe import read_rows
from conductor.core.orchestra import Orchestra
from conductor.errors import ConductorError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
FAKE_CLAUDE = FIXTURES / "fake_claude"
FAKE_CODEX = FIXTURES / "fake_codex"
# one Claude turn of the fake: message A (repeated on 2 blocks + partials) and message B
TURN = {"input": 12 + 5, "output": 345 + 20, "cache_write": 1024, "cache_read": 20480 + 21000}
CODEX_TURN = {"input": 24763 - 24448, "output": 122, "cache_write": 0, "cache_read": 24448}


def write_cli_config(tmp_path: Path, ws: Path, kind: str, args: list[str], *, observed=False, extra="") -> Path:
    fake = FAKE_CLAUDE if kind == "claude-code" else FAKE_CODEX
    command = f"{sys.executable} {fake}" if kind != "command" else args.pop(0)
    model = 'model = "gpt-5-codex", ' if kind == "codex" else ""
    cfg = tmp_path / "conductor.toml"
    cfg.write_text(
        "[conductor]\ncpu_slots = 1\n\n"
        '[prices."claude-sonnet-4-5"]\ninput = 3.0\noutput = 15.0\ncache_write = 3.75\ncache_read = 0.30\n\n'
        '[prices."gpt-5-codex"]\ninput = 1.25\noutput = 10.0\ncache_read = 0.125\n\n'
        f'[[workspace]]\nname = "fast"\npath = "{ws}"\n'
        + ('experiments = "observed"\n' if observed else "")
        + f'agent = {{ kind = "{kind}", {model}command = {json.dumps(command)}, args = {json.dumps(args)} }}\n{extra}'
    )
    return cfg


def run(cfg: Path, max_experiments: int | None, driver=None, timeout: float = 60.0):
    """Run in-process to completion; `driver(orch, events)` runs alongside."""
    orch = Orchestra(load_config(cfg), agent_factory=create_agent, max_experiments=max_experiments, telemetry=False)
    events: list = []
    orch.bus.subscribe(events.append)
    orch.open()

    async def main():
        task = asyncio.create_task(orch.run())
        helper = asyncio.create_task(driver(orch, events)) if driver else None
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout)
        finally:
            if not task.done():
                orch.stop()
                await task
            if helper is not None:
                helper.cancel()
                with __import__("contextlib").suppress(BaseException):
                    await helper

    try:
        asyncio.run(main())
    finally:
        orch.close()
    return orch, events


async def wait_for_event(events, predicate, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for e in list(events):
            if predicate(e):
                return e
        await asyncio.sleep(0.05)
    raise AssertionError("event never came")


def fake_log(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def ledger_of(tmp_path: Path):
    ledger = Ledger(tmp_path / ".conductor" / "ledger.db")
    try:
        return ledger.experiments("fast"), ledger.usage_totals("fast"), ledger.usage_rows()
    finally:
        ledger.close()


def test_claude_managed_exact_tokens_and_experiments(tmp_path, fastws):
    log = tmp_path / "fake.log"
    cfg = write_cli_config(
        tmp_path, fastws, "claude-code", ["--permission-mode", "acceptEdits", "--fake-log", str(log)]
    )
    orch, events = run(cfg, max_experiments=3)
    rows, totals, request_ids = ledger_of(tmp_path)
    assert [(r.description, r.status, r.is_baseline) for r in rows] == [
        ("baseline", "keep", True),
        ("move X to 1", "keep", False),
        ("move X to 1.5", "keep", False),
    ]
    assert [r.metric for r in rows] == [16.25, 14.0, 12.25]
    # three turns of two messages each: counted once per message, never the result's aggregate
    assert (totals.input, totals.output, totals.cache_write, totals.cache_read) == tuple(3 * v for v in TURN.values())
    assert len(request_ids) == 6 and len({r.request_id for r in request_ids}) == 6
    token_events = [e for e in events if isinstance(e, TokenUsage)]
    assert sum(e.output for e in token_events) == 3 * TURN["output"]
    assert {e.model for e in token_events} == {"claude-sonnet-4-5"}  # the dated snapshot priced by its family
    assert totals.usd == pytest.approx(3 * (17 * 3.0 + 365 * 15.0 + 1024 * 3.75 + 41480 * 0.30) / 1e6)
    texts = [e.text for e in events if isinstance(e, AgentActivity)]
    assert any("the CLI's own estimate $0.0123" in t and "conductor counted" in t for t in texts)
    assert any("usage limit five_hour: 42% used" in t for t in texts)
    quota = [e for e in events if isinstance(e, QuotaSample)]
    assert quota and {(q.account, q.window, q.utilization) for q in quota} == {("claude-code", "five_hour", 0.42)}
    assert "Idea: baseline" in texts and 'Bash: conductor exp -m "baseline"' in texts
    argv = fake_log(log)[0]["argv"]
    assert argv[:8] == [
        "-p",
        "--output-format",
        "stream-json",
        "--verbose",
        "--include-partial-messages",
        "--input-format",
        "stream-json",
        "--model",
    ]
    assert "--permission-mode" in argv and "Bash(conductor exp:*)" in argv
    assert orch.panes["fast"].state == "done"
    check_invariants(tmp_path / ".conductor")


def test_claude_observed_rows_become_experiments_and_catch_up_after_restart(tmp_path, fastws):
    cfg = write_cli_config(tmp_path, fastws, "claude-code", ["--fake-mode", "observed"], observed=True)
    _, events = run(cfg, max_experiments=3)
    rows, totals, _ = ledger_of(tmp_path)
    assert [(r.description, r.status, r.metric, r.is_baseline) for r in rows] == [
        ("baseline", "keep", 16.25, True),
        ("move X to 1", "keep", 14.0, False),
        ("move X to 1.5", "keep", 12.25, False),
    ]
    assert all(r.summary["tsv_row"].endswith(r.description) for r in rows)
    finished = [e for e in events if isinstance(e, ExperimentFinished)]
    assert [e.seq for e in finished] == [1, 2, 3] and finished[0].is_baseline
    worktree = tmp_path / ".conductor" / "worktrees" / "fast"
    logged = read_rows(worktree / "results.tsv")
    assert len(logged) == len({r.raw for r in logged})  # conductor wrote no row of its own
    assert totals.output > 0
    # a row logged while conductor was stopped is recorded at the next start; none twice
    with open(worktree / "results.tsv", "a") as fh:
        fh.write("abcdef0\t13.000000\t0.0\tdiscard\ttried by hand\n")
    _, events = run(cfg, max_experiments=4)
    rows, _, _ = ledger_of(tmp_path)
    descriptions = [r.description for r in rows]
    assert descriptions[:3] == ["baseline", "move X to 1", "move X to 1.5"]
    # the agent may itself have logged a row between conductor's stop and its own (a loaded machine)
    assert descriptions[3:5].count("tried by hand") == 1 and descriptions.count("tried by hand") == 1
    by_hand = rows[descriptions.index("tried by hand")]
    assert by_hand.status == "discard" and by_hand.metric == 13.0
    assert any(isinstance(e, AgentActivity) and "recorded 1 results.tsv row" in e.text for e in events)


def test_observed_protected_file_change_is_rejected_with_an_alert(tmp_path, fastws):
    log = tmp_path / "fake.log"
    args = ["--fake-mode", "protected", "--fake-log", str(log)]
    cfg = write_cli_config(tmp_path, fastws, "claude-code", args, observed=True)
    orch, events = run(cfg, max_experiments=3)
    rows, _, _ = ledger_of(tmp_path)
    assert [r.status for r in rows] == ["keep", "rejected", "rejected"]
    assert rows[1].reason == "protected file changed: prepare.py" and rows[1].metric is None
    assert orch.panes["fast"].best == 16.25  # a rejected row never becomes the best
    alerts = [e.message for e in events if isinstance(e, Alert) and e.pane == "fast"]
    assert any("rejected: protected file changed: prepare.py" in m for m in alerts)
    told = [e["stdin"] for e in fake_log(log) if "stdin" in e]
    assert any("REJECTED" in t and "prepare.py" in t for t in told)
    # the pane ends at its best commit: the agent's edit of the harness is gone
    worktree = tmp_path / ".conductor" / "worktrees" / "fast"
    assert (worktree / "prepare.py").read_text() == (fastws / "prepare.py").read_text()


def test_claude_restarts_with_its_session_resumed_after_an_exit(tmp_path, fastws):
    log = tmp_path / "fake.log"
    cfg = write_cli_config(tmp_path, fastws, "claude-code", ["--fake-mode", "exit-after-turn", "--fake-log", str(log)])
    orch, events = run(cfg, max_experiments=3)
    entries = fake_log(log)
    argvs = [e["argv"] for e in entries if "argv" in e]
    prompts = [e["stdin"] for e in entries if "stdin" in e]
    assert len(argvs) == 3
    state = json.loads((tmp_path / ".conductor" / "agents" / "fast" / "cli.json").read_text())
    session = state["session_id"]
    assert "--resume" not in argvs[0]
    for argv in argvs[1:]:
        assert argv[argv.index("--resume") + 1] == session
    assert prompts[1].startswith("[conductor] Your process finished")
    assert "Results so far:" in prompts[1]
    assert orch.panes["fast"].state == "done"  # clean exits after real work are not failures
    assert len(ledger_of(tmp_path)[0]) == 3


def test_a_finished_pane_counts_the_tokens_of_the_turn_that_finished_it(tmp_path, fastws):
    args = ["--fake-mode", "slow-finish", "--fake-log", str(tmp_path / "fake.log")]
    cfg = write_cli_config(tmp_path, fastws, "codex", args)
    orch, _ = run(cfg, max_experiments=2)
    rows, totals, _ = ledger_of(tmp_path)
    assert len(rows) == 2 and orch.panes["fast"].state == "done"
    assert (totals.input, totals.output, totals.cache_write, totals.cache_read) == tuple(
        2 * v for v in CODEX_TURN.values()
    )


def test_three_quick_exits_put_the_pane_in_error_with_the_last_output(tmp_path, fastws):
    log = tmp_path / "fake.log"
    cfg = write_cli_config(tmp_path, fastws, "claude-code", ["--fake-mode", "die", "--fake-log", str(log)])
    started = time.monotonic()
    orch, events = run(cfg, max_experiments=None, timeout=30)
    assert time.monotonic() - started < 20
    assert orch.panes["fast"].state == "error"
    assert len([e for e in fake_log(log) if "argv" in e]) == 3
    errors = [e.message for e in events if isinstance(e, Alert) and e.level == "error"]
    assert len(errors) == 1
    assert "3 failures within 60 s" in errors[0]
    assert "fatal: the fake agent broke (mode die)" in errors[0]


def test_a_researcher_message_reaches_claude_on_stdin(tmp_path, fastws):
    log = tmp_path / "fake.log"
    cfg = write_cli_config(tmp_path, fastws, "claude-code", ["--fake-log", str(log)])

    async def redirect(orch, events):
        await wait_for_event(events, lambda e: isinstance(e, ExperimentFinished))
        orch.command(Say(pane="fast", text="try X=3"))
        orch.panes["fast"].program_path.write_text("# new program\nOnly ever change X.\n")
        orch.command(ReloadProgram(pane="fast"))

    run(cfg, max_experiments=4, driver=redirect)
    prompts = [e["stdin"] for e in fake_log(log) if "stdin" in e]
    assert "[message from the researcher]\ntry X=3" in prompts
    assert any(
        p.startswith("[conductor] The researcher edited program.md") and "Only ever change X." in p for p in prompts
    )
    rows = ledger_of(tmp_path)[0]
    asked = [r for r in rows if r.description == "as the researcher asked: try X=3"]
    assert len(asked) == 1 and asked[0].metric == 10.0  # X=3 is what the researcher asked for


def test_codex_tokens_resume_and_message_in_the_next_prompt(tmp_path, fastws):
    log = tmp_path / "fake.log"
    cfg = write_cli_config(tmp_path, fastws, "codex", ["--full-auto", "--fake-log", str(log)])

    async def redirect(orch, events):
        await wait_for_event(events, lambda e: isinstance(e, ExperimentFinished))
        orch.command(Say(pane="fast", text="try a bigger step"))

    orch, events = run(cfg, max_experiments=3, driver=redirect)
    rows, totals, _ = ledger_of(tmp_path)
    assert rows[0].is_baseline and rows[0].description == "baseline"
    assert [r.status for r in rows] == ["keep", "keep", "keep"]
    # thread-cumulative reports, differenced: each turn counted once
    assert (totals.input, totals.output, totals.cache_write, totals.cache_read) == tuple(
        3 * v for v in CODEX_TURN.values()
    )
    entries = fake_log(log)
    argvs = [e["argv"] for e in entries if "argv" in e]
    thread = [e["thread"] for e in entries if "thread" in e][0]
    assert argvs[0][:4] == ["exec", "--json", "-m", "gpt-5-codex"] and "resume" not in argvs[0]
    for argv in argvs[1:]:
        assert argv[argv.index("resume") + 1] == thread
    prompts = [e["prompt"] for e in entries if "prompt" in e]
    assert any("[message from the researcher]\ntry a bigger step" in p for p in prompts[1:])
    assert any(r.description == "as the researcher asked: try a bigger step" for r in rows)
    texts = [e.text for e in events if isinstance(e, AgentActivity)]
    assert "Done." in texts and "(thinking) **Planning** the next idea" in texts


def test_command_agent_lines_and_messages_on_stdin(tmp_path, fastws):
    script = tmp_path / "agent.py"
    script.write_text(
        "import os, subprocess, sys\n"
        "print('hello from the command agent', flush=True)\n"
        "prompt = open(os.environ['CONDUCTOR_PROMPT_FILE']).read()\n"
        "print('prompt mentions conductor exp:', 'conductor exp' in prompt, flush=True)\n"
        "subprocess.run(['conductor', 'exp', '-m', 'baseline'], check=True)\n"
        "for line in sys.stdin:\n"
        "    subprocess.run(['conductor', 'exp', '-m', line.strip()], check=True)\n"
    )
    cfg = write_cli_config(tmp_path, fastws, "command", [f"{sys.executable} {script}"])

    async def redirect(orch, events):
        await wait_for_event(events, lambda e: isinstance(e, ExperimentFinished))
        orch.command(Say(pane="fast", text="try\nsomething else"))

    _, events = run(cfg, max_experiments=2, driver=redirect)
    texts = [e.text for e in events if isinstance(e, AgentActivity)]
    assert "hello from the command agent" in texts and "prompt mentions conductor exp: True" in texts
    rows, totals, _ = ledger_of(tmp_path)
    assert [r.description for r in rows] == ["baseline", "[message from the researcher] try something else"]
    assert totals.input == totals.output == 0


def test_conductor_exp_outside_a_pane_fails_clearly(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    out = subprocess.run(
        [sys.executable, "-m", "conductor", "exp", "-m", "x"], cwd=tmp_path, capture_output=True, text=True, env=env
    )
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.count("\n") == 1
    assert "runs inside a pane's worktree" in out.stderr and str(tmp_path) in out.stderr
    # a pane's worktree, but no conductor running
    worktree = tmp_path / "run" / "worktrees" / "p1"
    worktree.mkdir(parents=True)
    (tmp_path / "run" / "ledger.db").write_bytes(b"")
    out = subprocess.run(
        [sys.executable, "-m", "conductor", "exp", "-m", "x"], cwd=worktree, capture_output=True, text=True, env=env
    )
    assert out.returncode == 2
    assert out.stderr.strip() == f"conductor: no conductor is running for {tmp_path / 'run'} (no control socket)"


def test_control_socket_owner_only_commands_pause_and_take_over(tmp_path, fastws, monkeypatch):
    log = tmp_path / "fake.log"
    monkeypatch.setenv("FAKE_CLAUDE_LOG", str(log))
    cfg = write_cli_config(tmp_path, fastws, "claude-code", [])
    seen: dict = {}

    async def drive(orch, events):
        await wait_for_event(events, lambda e: isinstance(e, ExperimentFinished))
        run_dir = orch.run_dir
        sock = control.socket_path(run_dir)
        seen["mode"] = stat.S_IMODE(sock.stat().st_mode)
        hello = await asyncio.to_thread(control_client.request, run_dir, {"type": "hello"})
        seen["panes"] = hello["panes"]
        with pytest.raises(ConductorError, match="protocol version 99"):
            await asyncio.to_thread(control_client.request, run_dir, {"type": "hello", "v": 99})
        with pytest.raises(ConductorError, match="no pane named 'nope'"):
            await asyncio.to_thread(control_client.request, run_dir, {"type": "pause", "pane": "nope"})
        # pause through the socket: the agent's process group is stopped, then continued
        await asyncio.to_thread(control_client.request, run_dir, {"type": "pause", "pane": "fast"})
        agent_pid = json.loads((run_dir / "agents" / "fast" / "agent.pid").read_text())["pid"]
        deadline = time.monotonic() + 10
        while psutil.Process(agent_pid).status() != psutil.STATUS_STOPPED and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        seen["stopped"] = psutil.Process(agent_pid).status()
        await asyncio.to_thread(control_client.request, run_dir, {"type": "resume", "pane": "fast"})
        # take over: the headless process goes, the interactive CLI resumes the same session
        pane = orch.panes["fast"]
        async with take_over(pane) as handover:
            seen["argv"] = handover.argv
            seen["headless_gone"] = not psutil.pid_exists(agent_pid) or psutil.Process(agent_pid).status() == "zombie"
            done = await asyncio.create_subprocess_exec(*handover.argv, cwd=handover.cwd, env=handover.env)
            await done.wait()

    orch, events = run(cfg, max_experiments=4, driver=drive)
    session = json.loads((tmp_path / ".conductor" / "agents" / "fast" / "cli.json").read_text())["session_id"]
    assert seen["mode"] == 0o600
    assert seen["panes"] == ["fast"]
    assert seen["stopped"] == psutil.STATUS_STOPPED
    assert seen["argv"] == [sys.executable, str(FAKE_CLAUDE), "--resume", session]
    assert seen["headless_gone"]
    entries = fake_log(log)
    assert {"interactive": True, "resume": session} in entries
    after = entries[[i for i, e in enumerate(entries) if e.get("interactive")][0] + 1 :]
    resumed = [e["argv"] for e in after if "argv" in e]
    assert resumed and resumed[0][resumed[0].index("--resume") + 1] == session
    assert any("took over this session interactively" in e["stdin"] for e in after if "stdin" in e)
    assert orch.panes["fast"].state == "done"
    assert not control.socket_path(tmp_path / ".conductor").exists()  # removed with the run
    states = [e.state for e in events if isinstance(e, PaneState)]
    assert "paused" in states


def test_take_over_argv():
    assert takeover_argv("claude-code", "", "s-1") == ["claude", "--resume", "s-1"]
    assert takeover_argv("claude-code", "/opt/claude --debug", "") == ["/opt/claude", "--debug"]
    assert takeover_argv("codex", "", "t-9") == ["codex", "resume", "t-9"]
    with pytest.raises(ConductorError):
        takeover_argv("command", "my-agent", "")


def test_a_rejected_usage_limit_makes_the_pane_wait_then_go_on(tmp_path, fastws):
    cfg = write_cli_config(tmp_path, fastws, "claude-code", ["--fake-mode", "limited"])
    orch, events = run(cfg, max_experiments=2)
    waiting = [e for e in events if isinstance(e, PaneState) and e.state == "waiting"]
    assert waiting and "usage limit (five_hour)" in waiting[0].detail and waiting[0].deadline
    assert orch.panes["fast"].state == "done"
    assert len(ledger_of(tmp_path)[0]) == 2


def test_the_agents_secrets_never_reach_a_file_of_the_run(tmp_path, fastws, monkeypatch):
    secret = "sk-test-verysecret-0123456789"
    monkeypatch.setenv("MY_SERVICE_TOKEN", secret)
    monkeypatch.setenv("FAKE_LEAK_VAR", "MY_SERVICE_TOKEN")
    cfg = write_cli_config(tmp_path, fastws, "claude-code", [])
    _, events = run(cfg, max_experiments=2)
    hits = [str(p) for p in (tmp_path / ".conductor").rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]
    assert hits == []
    assert not any(secret in json.dumps(e.to_dict()) for e in events)
    transcript = (tmp_path / ".conductor" / "agents" / "fast" / "transcript.log").read_text()
    assert "[redacted]" in transcript


def test_control_socket_in_a_run_dir_too_deep_for_sockaddr_un(tmp_path):
    run_dir = tmp_path / ("d" * 60) / ("e" * 60) / ".conductor"
    run_dir.mkdir(parents=True)
    assert len(str(control.socket_path(run_dir))) > 108

    class Stub:
        panes: dict = {"p": None}  # a request names a pane of the run (the schema checks it)
        run_name = "r1"

        def __init__(self):
            self.run_dir = run_dir
            self.commands = []

        def command(self, cmd):
            self.commands.append(cmd)

    async def main():
        stub = Stub()
        server = control.ControlServer(stub)
        await server.start()
        try:
            hello = await asyncio.to_thread(control_client.request, run_dir, {"type": "hello", "id": 7})
            said = await asyncio.to_thread(control_client.request, run_dir, {"type": "say", "pane": "p", "text": "hi"})
            with pytest.raises(ConductorError, match="unknown request type 'dance'"):
                await asyncio.to_thread(control_client.request, run_dir, {"type": "dance"})
        finally:
            await server.close()
        return stub, hello, said

    stub, hello, said = asyncio.run(main())
    assert hello == {
        "v": 1,
        "ok": True,
        "run": "r1",
        "run_dir": str(run_dir),
        "pid": os.getpid(),
        "panes": ["p"],
        "id": 7,
    }
    assert said == {"v": 1, "ok": True}
    assert stub.commands == [Say(pane="p", text="hi")]
    assert not control.socket_path(run_dir).exists()


def test_a_session_that_cannot_be_resumed_is_dropped_for_a_new_one(tmp_path, fastws):
    log = tmp_path / "fake.log"
    agent_dir = tmp_path / ".conductor" / "agents" / "fast"
    agent_dir.mkdir(parents=True)
    (agent_dir / "cli.json").write_text(json.dumps({"kind": "claude-code", "session_id": "gone-123"}))
    cfg = write_cli_config(tmp_path, fastws, "claude-code", ["--fake-log", str(log)])
    orch, events = run(cfg, max_experiments=2)
    argvs = [e["argv"] for e in fake_log(log) if "argv" in e]
    assert argvs[0][argvs[0].index("--resume") + 1] == "gone-123"
    assert "--resume" not in argvs[1]
    texts = [e.text for e in events if isinstance(e, AgentActivity)]
    assert any("could not resume session gone-123" in t for t in texts)
    assert orch.panes["fast"].state == "done"
    assert json.loads((agent_dir / "cli.json").read_text())["session_id"] != "gone-123"


def test_max_usd_pauses_the_pane_and_resuming_goes_on(tmp_path, fastws):
    cfg = write_cli_config(tmp_path, fastws, "claude-code", [])
    cfg.write_text(cfg.read_text().replace('kind = "claude-code", ', 'kind = "claude-code", max_usd = 0.01, '))
    seen = {}

    async def resume_later(orch, events):
        await wait_for_event(events, lambda e: isinstance(e, Alert) and "budget reached" in e.message)
        pane = orch.panes["fast"]
        seen["paused"] = pane.paused
        await asyncio.sleep(0.5)
        seen["count_while_paused"] = len([e for e in events if isinstance(e, ExperimentFinished)])
        pane.resume()

    orch, events = run(cfg, max_experiments=2, driver=resume_later)
    assert seen["paused"] and seen["count_while_paused"] == 1
    assert orch.panes["fast"].state == "done"
